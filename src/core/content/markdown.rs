//! A safe Markdown subset and `{{attribute | default}}` interpolation.
//!
//! [`render`] turns step text into a small tree ([`Node`], [`Inline`]) that the
//! shell builds with text nodes and element properties only, never HTML: raw HTML
//! in the input stays literal text. Supported: paragraphs (blank-line separated;
//! lines within a paragraph are joined with a space), `**bold**` (also `__bold__`),
//! `*italic*` / `_italic_` (`_` not inside words), `[links](url)`, bullet lists
//! (`- ` or `* `) and numbered lists (`1. `), backslash escapes of ASCII
//! punctuation. A link whose URL [`safe_url`] rejects keeps its text and loses
//! its URL.
//!
//! Interpolation happens while parsing, so an attribute's value is always plain
//! text: a user named `**[x](https://evil)**` cannot inject markup or links.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::json::Json;

/// A block of rendered text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A paragraph.
    Paragraph(Vec<Inline>),
    /// A bullet (`ordered == false`) or numbered list; each item is a line of inlines.
    List {
        /// Numbered (`<ol>`) rather than bulleted (`<ul>`).
        ordered: bool,
        /// The items, in order.
        items: Vec<Vec<Inline>>,
    },
}

/// A run of text inside a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    /// Plain text; render it as a text node, never as HTML.
    Text(String),
    /// Strong emphasis.
    Bold(Vec<Inline>),
    /// Emphasis.
    Italic(Vec<Inline>),
    /// A link; `href` has passed [`safe_url`].
    Link {
        /// The vetted URL (http, https or relative).
        href: String,
        /// The link text.
        children: Vec<Inline>,
    },
}

/// Deepest nesting of emphasis and links; deeper delimiters stay literal text.
pub const MAX_DEPTH: usize = 8;

/// Most bytes that `{{…}}` placeholders put into one string (a title, a label,
/// an alt text or a whole text block); past it, a placeholder whose value does not
/// fit gives nothing. Parsing is linear in the content, but without this the output
/// would grow as placeholders times trait length.
pub const MAX_INTERPOLATED_BYTES: usize = 64 << 10;

/// Most emphasis and link elements one text block makes; later delimiters stay
/// literal text. Parsing is linear anyway; this bounds the page's work to build
/// them (64 KB of `*_*_` would otherwise be 32,768 `<em>` elements).
pub const MAX_MARKUP: usize = 1000;

/// `url` if it is safe to use as a link, image source or navigation target:
/// `http:`/`https:` URLs (any case) and relative URLs (`/x`, `x`, `#x`, `?x`).
/// A URL that starts with two slashes or backslashes in any mix (`//host`,
/// `\\host`, `/\host`) is not relative: browsers read it as another host, so it
/// is rejected (write `https://host/...`). Leading and trailing spaces and control characters are trimmed and
/// tabs and newlines removed (as browsers do) before checking, so `java\tscript:`
/// is caught. Rejected: any other scheme (`javascript:`, `data:`, `vbscript:`,
/// `mailto:` ...), any relative URL containing `:` (which a browser might read
/// as a scheme), anything that looks like an HTML character reference (`&#58;`,
/// `&colon;`), remaining control characters, and the empty string. Returns the
/// cleaned URL.
pub fn safe_url(url: &str) -> Option<String> {
    let trimmed = url.trim_matches(|c: char| c <= ' ' || c == '\u{7f}');
    let clean: String = trimmed
        .chars()
        .filter(|&c| c != '\t' && c != '\n' && c != '\r')
        .collect();
    if clean.is_empty() || clean.chars().any(|c| c < ' ' || c == '\u{7f}') {
        return None;
    }
    if looks_like_entity(&clean) {
        return None;
    }
    let lower_starts = |prefix: &str| {
        clean.len() >= prefix.len()
            && clean.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    if lower_starts("http://") || lower_starts("https://") {
        return Some(clean);
    }
    if clean.contains(':') {
        return None;
    }
    let b = clean.as_bytes();
    if b.len() >= 2 && matches!(b[0], b'/' | b'\\') && matches!(b[1], b'/' | b'\\') {
        return None;
    }
    Some(clean)
}

/// Where a vetted URL leads once the browser resolved it against the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// This site (the page's origin).
    SameSite,
    /// Another site, written as an absolute `http(s)` URL: links open it in a new
    /// tab with `rel="noopener noreferrer"`.
    External,
}

/// Decides on a URL from content ([`safe_url`] let it through as `written`)
/// after the browser's URL parser resolved it against the page: its `protocol`
/// (`https:`) and `origin`, and the page's origin. `None`: refuse it (not
/// http(s) once resolved, or written relative but resolving to another origin, as a
/// page's `<base href>` can make it).
pub fn resolved_target(
    written: &str,
    protocol: &str,
    origin: &str,
    page_origin: &str,
) -> Option<Target> {
    if protocol != "http:" && protocol != "https:" {
        return None;
    }
    if origin == page_origin {
        return Some(Target::SameSite);
    }
    let w = written.as_bytes();
    let absolute = [&b"http://"[..], &b"https://"[..]]
        .iter()
        .any(|p| w.len() >= p.len() && w[..p.len()].eq_ignore_ascii_case(p));
    absolute.then_some(Target::External)
}

/// Whether `s` contains `&name;` or `&#digits;` (an HTML character reference).
fn looks_like_entity(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'&' {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'#') {
                j += 1;
            }
            if j > i + 1 && b.get(j) == Some(&b';') {
                return true;
            }
            // `&#106` without `;` is still decoded by HTML parsers.
            if b.get(i + 1) == Some(&b'#') {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// Replaces every `{{attribute | default}}` in `text` with the user's attribute
/// from `traits` (a JSON object): strings as they are, numbers as their JSON text,
/// booleans as `true`/`false`; missing, `null`, lists and objects give the default
/// (empty when there is no `|`). Spaces around the name and the default are
/// ignored. An unclosed `{{` stays literal.
pub fn interpolate(text: &str, traits: &Json) -> String {
    let mut out = String::with_capacity(text.len());
    let mut room = MAX_INTERPOLATED_BYTES;
    let mut rest = text;
    while let Some(start) = super::find_str(rest, "{{") {
        let after = super::from(rest, start + 2);
        match super::find_str(after, "}}") {
            Some(end) => {
                out.push_str(super::sub(rest, 0, start));
                push_placeholder(super::sub(after, 0, end), traits, &mut out, &mut room);
                rest = super::from(after, end + 2);
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Appends the value of the placeholder `inner` (the text between `{{` and `}}`)
/// if it fits in `room` (see [`MAX_INTERPOLATED_BYTES`]), which it then uses up.
fn push_placeholder(inner: &str, traits: &Json, out: &mut String, room: &mut usize) {
    let (name, default) = match inner.find('|') {
        Some(i) => (
            super::sub(inner, 0, i).trim(),
            super::from(inner, i + 1).trim(),
        ),
        None => (inner.trim(), ""),
    };
    let value = match traits.get(name) {
        Some(Json::String(s)) => s.as_str(),
        Some(Json::Number(n)) => n.text(),
        Some(Json::Bool(true)) => "true",
        Some(Json::Bool(false)) => "false",
        _ => default,
    };
    if value.len() <= *room {
        *room -= value.len();
        out.push_str(value);
    } else {
        *room = 0;
    }
}

/// What one text block may still make: emphasis and link elements, and bytes of
/// placeholder values.
struct Budget {
    markup: usize,
    room: usize,
}

/// Renders `markdown` (with `{{…}}` interpolated from `traits`) to blocks.
pub fn render(markdown: &str, traits: &Json) -> Vec<Node> {
    let budget = &mut Budget {
        markup: MAX_MARKUP,
        room: MAX_INTERPOLATED_BYTES,
    };
    let mut nodes = Vec::new();
    let mut para = String::new();
    let mut list: Option<(bool, Vec<String>)> = None;
    for line in markdown.lines() {
        let t = line.trim();
        if t.is_empty() {
            flush_para(&mut para, traits, &mut nodes, budget);
            flush_list(&mut list, traits, &mut nodes, budget);
            continue;
        }
        if let Some((ordered, item)) = list_item(t) {
            flush_para(&mut para, traits, &mut nodes, budget);
            if matches!(&list, Some((o, _)) if *o != ordered) {
                flush_list(&mut list, traits, &mut nodes, budget);
            }
            list.get_or_insert_with(|| (ordered, Vec::new()))
                .1
                .push(item.to_string());
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if let (true, Some((_, items))) = (indented, list.as_mut()) {
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(t);
                continue;
            }
        }
        flush_list(&mut list, traits, &mut nodes, budget);
        if !para.is_empty() {
            para.push(' ');
        }
        para.push_str(t);
    }
    flush_para(&mut para, traits, &mut nodes, budget);
    flush_list(&mut list, traits, &mut nodes, budget);
    nodes
}

fn flush_para(para: &mut String, traits: &Json, nodes: &mut Vec<Node>, budget: &mut Budget) {
    if !para.is_empty() {
        nodes.push(Node::Paragraph(inlines(para, traits, 0, false, budget)));
        para.clear();
    }
}

fn flush_list(
    list: &mut Option<(bool, Vec<String>)>,
    traits: &Json,
    nodes: &mut Vec<Node>,
    budget: &mut Budget,
) {
    if let Some((ordered, items)) = list.take() {
        let items = items
            .iter()
            .map(|i| inlines(i, traits, 0, false, budget))
            .collect();
        nodes.push(Node::List { ordered, items });
    }
}

/// `- x` / `* x` → `(false, "x")`; `12. x` → `(true, "x")`; `t` is trimmed.
fn list_item(t: &str) -> Option<(bool, &str)> {
    if let Some(rest) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
        return Some((false, rest.trim_start()));
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        if let Some(rest) = super::from(t, digits).strip_prefix(". ") {
            return Some((true, rest.trim_start()));
        }
    }
    None
}

/// Collects literal text and flushes it into `out` as one [`Inline::Text`].
struct Acc {
    out: Vec<Inline>,
    text: String,
}

impl Acc {
    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.out.push(Inline::Text(core::mem::take(&mut self.text)));
        }
    }

    fn push(&mut self, node: Inline) {
        self.flush();
        self.out.push(node);
    }

    /// Appends nodes, merging a leading text node into pending text.
    fn extend(&mut self, nodes: Vec<Inline>) {
        for n in nodes {
            match n {
                Inline::Text(t) => self.text.push_str(&t),
                other => self.push(other),
            }
        }
    }

    fn finish(mut self) -> Vec<Inline> {
        self.flush();
        self.out
    }
}

fn is_ws(b: Option<&u8>) -> bool {
    b.is_none_or(|c| c.is_ascii_whitespace())
}

fn is_alnum(b: Option<&u8>) -> bool {
    b.is_some_and(|c| c.is_ascii_alphanumeric() || *c >= 0x80)
}

/// No matching bracket or parenthesis (see [`Marks::pairs`]).
const NONE: u32 = u32::MAX;

/// What [`inlines`] looks ahead for, found in one pass over its text, so that no
/// delimiter ever rescans the rest of it: inline parsing is linear in the length
/// of the text (times the nesting depth, at most [`MAX_DEPTH`]) whatever the
/// input, e.g. a megabyte of `[` or `**a `.
struct Marks {
    /// Positions of every `}}` (overlapping ones too), ascending.
    closes: Vec<usize>,
    /// For each `[` at `i`, the `]` that closes it (`NONE` when none does),
    /// skipping backslash escapes and `{{…}}` placeholders as a link's text does;
    /// for each `(`, likewise its `)`, skipping backslash escapes as a URL does.
    /// Other positions hold `NONE`.
    pairs: Vec<u32>,
    /// Per emphasis kind (`*`, `**`, `_`, `__`), the earliest start from which a
    /// closer was searched in vain: a search from there or later fails at once.
    failed: [usize; 4],
}

impl Marks {
    fn new(b: &[u8]) -> Marks {
        // `windows`, not `b[i + 1]`: no bounds check, whose panic message kept
        // core's integer formatting in the module (0.8 KB).
        let closes = b
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w == b"}}")
            .map(|(i, _)| i)
            .collect::<Vec<_>>();
        let mut marks = Marks {
            closes,
            pairs: vec![NONE; b.len()],
            failed: [usize::MAX; 4],
        };
        let mut open = Vec::new();
        let mut j = 0;
        while j < b.len() {
            if let Some(next) = marks.skip_atom(b, j) {
                j = next;
                continue;
            }
            match b[j] {
                b'[' => open.push(j),
                b']' => {
                    if let Some(p) = open.pop().and_then(|o| marks.pairs.get_mut(o)) {
                        *p = j as u32;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        open.clear();
        let mut j = 0;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 1,
                b'(' => open.push(j),
                b')' => {
                    if let Some(p) = open.pop().and_then(|o| marks.pairs.get_mut(o)) {
                        *p = j as u32;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        marks
    }

    /// The first `}}` at or after `from`.
    fn close_from(&self, from: usize) -> Option<usize> {
        let k = self.closes.partition_point(|&p| p < from);
        self.closes.get(k).copied()
    }

    /// Where the `[` or `(` at `open` closes.
    fn matched(&self, open: usize) -> Option<usize> {
        match self.pairs.get(open) {
            Some(&close) if close != NONE => Some(close as usize),
            _ => None,
        }
    }

    /// Skips a `{{…}}` placeholder or a backslash escape at `j`; the new position.
    fn skip_atom(&self, b: &[u8], j: usize) -> Option<usize> {
        match b.get(j)? {
            b'\\' if j + 1 < b.len() => Some(j + 2),
            b'{' if b.get(j + 1) == Some(&b'{') => self.close_from(j + 2).map(|p| p + 2),
            _ => None,
        }
    }

    /// The position of the delimiter closing an emphasis opened just before `from`.
    fn closer(&mut self, b: &[u8], from: usize, d: u8, double: bool) -> Option<usize> {
        let kind = usize::from(d == b'_') * 2 + usize::from(double);
        if from >= self.failed[kind] {
            return None;
        }
        let found = self.scan_closer(b, from, d, double);
        if found.is_none() {
            self.failed[kind] = from;
        }
        found
    }

    fn scan_closer(&self, b: &[u8], from: usize, d: u8, double: bool) -> Option<usize> {
        let mut j = from;
        while j < b.len() {
            if let Some(next) = self.skip_atom(b, j) {
                j = next;
                continue;
            }
            if b[j] == d {
                let is_double = b.get(j + 1) == Some(&d);
                if double != is_double {
                    // A nested emphasis of the other width: step over its delimiter.
                    j += if is_double { 2 } else { 1 };
                    continue;
                }
                let width = if double { 2 } else { 1 };
                let closes =
                    j > from && !is_ws(b.get(j - 1)) && (d == b'*' || !is_alnum(b.get(j + width)));
                if closes {
                    return Some(j);
                }
                j += width;
                continue;
            }
            j += 1;
        }
        None
    }

    /// For `[text](url)` at `i`: the end of the text (`]`) and the URL's bounds.
    fn link_at(&self, b: &[u8], i: usize) -> Option<(usize, usize, usize)> {
        let text_end = self.matched(i)?;
        if b.get(text_end + 1) != Some(&b'(') {
            return None;
        }
        let url_end = self.matched(text_end + 1)?;
        Some((text_end, text_end + 2, url_end))
    }
}

/// Parses inline markup in `s`. Every special character is ASCII, so the byte
/// offsets this slices at are always character boundaries.
fn inlines(
    s: &str,
    traits: &Json,
    depth: usize,
    in_link: bool,
    budget: &mut Budget,
) -> Vec<Inline> {
    let b = s.as_bytes();
    let mut marks = Marks::new(b);
    let mut acc = Acc {
        out: Vec::new(),
        text: String::new(),
    };
    let mut i = 0;
    let mut lit = 0; // start of pending literal text
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1).is_some_and(u8::is_ascii_punctuation) => {
                acc.text.push_str(super::sub(s, lit, i));
                acc.text.push(b[i + 1] as char);
                i += 2;
                lit = i;
            }
            b'{' if b.get(i + 1) == Some(&b'{') => match marks.close_from(i + 2) {
                Some(end) => {
                    acc.text.push_str(super::sub(s, lit, i));
                    push_placeholder(
                        super::sub(s, i + 2, end),
                        traits,
                        &mut acc.text,
                        &mut budget.room,
                    );
                    i = end + 2;
                    lit = i;
                }
                None => i += 2,
            },
            d @ (b'*' | b'_') if depth < MAX_DEPTH && budget.markup > 0 => {
                let double = b.get(i + 1) == Some(&d);
                let width = if double { 2 } else { 1 };
                let opens =
                    !is_ws(b.get(i + width)) && (d == b'*' || i == 0 || !is_alnum(b.get(i - 1)));
                match opens
                    .then(|| marks.closer(b, i + width, d, double))
                    .flatten()
                {
                    Some(end) => {
                        acc.text.push_str(super::sub(s, lit, i));
                        budget.markup -= 1;
                        let inner = inlines(
                            super::sub(s, i + width, end),
                            traits,
                            depth + 1,
                            in_link,
                            budget,
                        );
                        acc.push(if double {
                            Inline::Bold(inner)
                        } else {
                            Inline::Italic(inner)
                        });
                        i = end + width;
                        lit = i;
                    }
                    None => i += width,
                }
            }
            b'[' if !in_link && depth < MAX_DEPTH && budget.markup > 0 => match marks.link_at(b, i)
            {
                Some((text_end, url_start, url_end)) => {
                    acc.text.push_str(super::sub(s, lit, i));
                    budget.markup -= 1;
                    let children = inlines(
                        super::sub(s, i + 1, text_end),
                        traits,
                        depth + 1,
                        true,
                        budget,
                    );
                    match safe_url(super::sub(s, url_start, url_end)) {
                        Some(href) => acc.push(Inline::Link { href, children }),
                        None => acc.extend(children),
                    }
                    i = url_end + 1;
                    lit = i;
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    acc.text.push_str(super::from(s, lit));
    acc.finish()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::json::parse;

    fn t(s: &str) -> Inline {
        Inline::Text(s.into())
    }

    fn md(s: &str) -> Vec<Node> {
        render(s, &Json::Null)
    }

    fn para(s: &str) -> Vec<Inline> {
        match md(s).as_slice() {
            [Node::Paragraph(p)] => p.clone(),
            other => panic!("not one paragraph: {other:?}"),
        }
    }

    /// All text of the tree, concatenated.
    fn text(nodes: &[Node]) -> String {
        fn walk(i: &[Inline], out: &mut String) {
            for n in i {
                match n {
                    Inline::Text(t) => out.push_str(t),
                    Inline::Bold(c) | Inline::Italic(c) => walk(c, out),
                    Inline::Link { children, .. } => walk(children, out),
                }
            }
        }
        let mut out = String::new();
        for n in nodes {
            match n {
                Node::Paragraph(p) => walk(p, &mut out),
                Node::List { items, .. } => items.iter().for_each(|i| walk(i, &mut out)),
            }
        }
        out
    }

    #[test]
    fn emphasis_and_links() {
        assert_eq!(
            para("**Bold**, _italic_, [link](https://x.y)"),
            vec![
                Inline::Bold(vec![t("Bold")]),
                t(", "),
                Inline::Italic(vec![t("italic")]),
                t(", "),
                Inline::Link {
                    href: "https://x.y".into(),
                    children: vec![t("link")]
                }
            ]
        );
        assert_eq!(para("*a*"), vec![Inline::Italic(vec![t("a")])]);
        assert_eq!(para("__a__"), vec![Inline::Bold(vec![t("a")])]);
        assert_eq!(
            para("**bold *and italic* here**"),
            vec![Inline::Bold(vec![
                t("bold "),
                Inline::Italic(vec![t("and italic")]),
                t(" here")
            ])]
        );
        assert_eq!(
            para("*it **bold** it*"),
            vec![Inline::Italic(vec![
                t("it "),
                Inline::Bold(vec![t("bold")]),
                t(" it")
            ])]
        );
        assert_eq!(
            para("[**b** _i_](/x)"),
            vec![Inline::Link {
                href: "/x".into(),
                children: vec![
                    Inline::Bold(vec![t("b")]),
                    t(" "),
                    Inline::Italic(vec![t("i")])
                ]
            }]
        );
        assert_eq!(para("snake_case_name"), vec![t("snake_case_name")]);
        assert_eq!(para("2 * 3 * 4"), vec![t("2 * 3 * 4")]);
        assert_eq!(para("**unclosed"), vec![t("**unclosed")]);
        assert_eq!(para("\\*not\\* \\[x\\](/y)"), vec![t("*not* [x](/y)")]);
        assert_eq!(para("[a](b c"), vec![t("[a](b c")]);
        assert_eq!(para("[a] (b)"), vec![t("[a] (b)")]);
        assert_eq!(
            para("[wiki](https://e.org/A_(b))."),
            vec![
                Inline::Link {
                    href: "https://e.org/A_(b)".into(),
                    children: vec![t("wiki")]
                },
                t(".")
            ]
        );
        assert_eq!(
            para("[[x]](#y)"),
            vec![Inline::Link {
                href: "#y".into(),
                children: vec![t("[x]")]
            }]
        );
        assert_eq!(
            para("[a [b](/c)](/d)")[0],
            Inline::Link {
                href: "/d".into(),
                children: vec![t("a [b](/c)")]
            }
        );
        assert_eq!(
            para("ünï*cödé*"),
            vec![t("ünï"), Inline::Italic(vec![t("cödé")])]
        );
    }

    #[test]
    fn blocks() {
        let nodes =
            md("Intro line\ncontinues.\n\n- one\n* two\n  wrapped\n1. first\n2. second\n\nEnd");
        assert_eq!(
            nodes,
            vec![
                Node::Paragraph(vec![t("Intro line continues.")]),
                Node::List {
                    ordered: false,
                    items: vec![vec![t("one")], vec![t("two wrapped")]]
                },
                Node::List {
                    ordered: true,
                    items: vec![vec![t("first")], vec![t("second")]]
                },
                Node::Paragraph(vec![t("End")]),
            ]
        );
        assert_eq!(md(""), vec![]);
        assert_eq!(md("\n \n\t\n"), vec![]);
        assert_eq!(
            md("- a\nb"),
            vec![
                Node::List {
                    ordered: false,
                    items: vec![vec![t("a")]]
                },
                Node::Paragraph(vec![t("b")])
            ]
        );
        assert_eq!(
            md("-not a list\n1.nor this"),
            vec![Node::Paragraph(vec![t("-not a list 1.nor this")])]
        );
        assert_eq!(
            md("- **bold** item"),
            vec![Node::List {
                ordered: false,
                items: vec![vec![Inline::Bold(vec![t("bold")]), t(" item")]]
            }]
        );
    }

    #[test]
    fn interpolation() {
        let traits = parse(r#"{"name":"Ada","n":42,"vip":true,"no":false,"nil":null,"list":[1],"md":"**[x](https://evil.example)**"}"#).unwrap();
        assert_eq!(interpolate("Hi {{name | there}}", &traits), "Hi Ada");
        assert_eq!(
            interpolate("Hi {{ missing | there }}!", &traits),
            "Hi there!"
        );
        assert_eq!(interpolate("Hi {{missing}}!", &traits), "Hi !");
        assert_eq!(
            interpolate("{{nil|x}} {{list|y}} {{n}} {{vip}} {{no}}", &traits),
            "x y 42 true false"
        );
        assert_eq!(interpolate("{{name", &traits), "{{name");
        assert_eq!(interpolate("{{a|b}}{{name}}}}", &traits), "bAda}}");
        assert_eq!(interpolate("{{name}}", &Json::Null), "");
        assert_eq!(interpolate("{{ | d }}", &traits), "d");
        // Values never become markup.
        assert_eq!(
            para_with("Hi {{md}}", &traits),
            vec![t("Hi **[x](https://evil.example)**")]
        );
        assert_eq!(
            para_with("**{{name|you}}**", &traits),
            vec![Inline::Bold(vec![t("Ada")])]
        );
        // A placeholder hides delimiters inside it from the emphasis scanner.
        assert_eq!(
            para_with("*a {{x|*}} b*", &traits),
            vec![Inline::Italic(vec![t("a * b")])]
        );
    }

    fn para_with(s: &str, traits: &Json) -> Vec<Inline> {
        match render(s, traits).as_slice() {
            [Node::Paragraph(p)] => p.clone(),
            other => panic!("not one paragraph: {other:?}"),
        }
    }

    #[test]
    fn safe_urls() {
        for ok in [
            "https://x.y",
            "HTTP://X.Y/a?b=1&c=2",
            "/x",
            "x",
            "#x",
            "?a=b",
            "  /padded  ",
            "/a\\b",
            "https://x.y/a:b",
        ] {
            assert!(safe_url(ok).is_some(), "{ok}");
        }
        assert_eq!(safe_url(" /a\tb\n ").as_deref(), Some("/ab"));
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "java\rscript:alert(1)",
            "\u{1}javascript:alert(1)",
            "jav&#x09;ascript:alert(1)",
            "&#106;avascript:alert(1)",
            "&#106avascript:alert(1)",
            "javascript&colon;alert(1)",
            "javascript&#58;alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "DATA:image/png;base64,AAAA",
            "vbscript:msgbox(1)",
            "mailto:a@b.c",
            "file:///etc/passwd",
            "/x:y",
            "",
            "   ",
            "/a\u{0}b",
            "/a\u{7f}b",
            "javas\u{0}cript:alert(1)",
            // Relative in form only: browsers resolve these to another host.
            "//evil.example/p",
            "\\\\evil.example/q",
            "/\\evil.example/r",
            "\\/evil.example/s",
            " //evil.example",
            "/\t/evil.example",
        ] {
            assert_eq!(safe_url(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolved_urls_stay_on_the_site_unless_written_absolute() {
        let page = "https://app.example";
        let at = |written, protocol, origin| resolved_target(written, protocol, origin, page);
        assert_eq!(
            at("/docs", "https:", "https://app.example"),
            Some(Target::SameSite)
        );
        assert_eq!(
            at("https://app.example/x", "https:", "https://app.example"),
            Some(Target::SameSite)
        );
        assert_eq!(
            at("https://docs.example/x", "https:", "https://docs.example"),
            Some(Target::External)
        );
        assert_eq!(
            at("HTTP://docs.example", "http:", "http://docs.example"),
            Some(Target::External)
        );
        // A relative URL that resolves elsewhere (a page's <base href>, parser tricks).
        assert_eq!(at("/docs", "https:", "https://evil.example"), None);
        assert_eq!(at("docs", "https:", "https://evil.example"), None);
        // Nothing but http(s), whatever was written.
        assert_eq!(at("/x", "javascript:", "null"), None);
        assert_eq!(at("https://x", "data:", "null"), None);
        assert_eq!(at("x", "blob:", "https://app.example"), None);
    }

    #[test]
    fn hostile_markdown_stays_text() {
        let hostile = [
            "[x](javascript:alert(1))",
            "[x](JAVASCRIPT:alert(1))",
            "[x]( javascript:alert(1) )",
            "[x](java\tscript:alert(1))",
            "[x](&#106;avascript:alert(1))",
            "[x](javascript&#58;alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](vbscript:msgbox)",
            "[x](\\javascript:alert(1))",
            "[x](<javascript:alert(1)>)",
            "[x](javascript:alert(1) \"title\")",
            "[**x**](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "&lt;script&gt; &#60;img src=x onerror=alert(1)&#62;",
            "[x](https://ok.example) [y](javascript:void(0))",
        ];
        for h in hostile {
            let nodes = md(h);
            for href in hrefs(&nodes) {
                assert!(
                    href == "https://ok.example",
                    "unsafe href {href:?} survived from {h:?}"
                );
            }
        }
        // HTML stays literal text, character for character.
        assert_eq!(
            para("<script>alert(1)</script>"),
            vec![t("<script>alert(1)</script>")]
        );
        assert_eq!(
            para("<img src=x onerror=alert(1)>"),
            vec![t("<img src=x onerror=alert(1)>")]
        );
        assert_eq!(para("&lt;b&gt; &#60;"), vec![t("&lt;b&gt; &#60;")]);
        // An unsafe link keeps its text, not its URL.
        assert_eq!(
            para("[click](javascript:alert(1)) now"),
            vec![t("click now")]
        );
        assert_eq!(text(&md("[**x**](javascript:alert(1))")), "x");
    }

    /// Inputs that make a naive inline parser rescan the rest of the text at every
    /// character (each `[`, `*`, `_` or `{{` without its closer).
    pub(crate) fn adversarial(size: usize) -> Vec<(&'static str, String)> {
        let units: &[&'static str] = &[
            "[", "**a ", "{{", "[a](", "*_", "_a ", "[\\](", "a*", "__", "[[", "(", "[a]", "{{a",
            "*a", "**", "[a](b", "*{{", "_{{", "[{{", "\\", "*[", "_[a](", "**_*",
        ];
        units
            .iter()
            .map(|u| (*u, u.repeat(size / u.len() + 1)))
            .collect()
    }

    #[test]
    fn adversarial_input_renders_in_linear_time() {
        // 1 MB of each pattern. Linear parsing takes a few ms per MB in a release
        // build; a rescan per character would take minutes. Debug builds (plain
        // `cargo test`) are about 20x slower, hence their looser bound.
        let limit_ms = if cfg!(debug_assertions) { 2_000 } else { 100 };
        for (unit, text) in adversarial(1 << 20) {
            let t0 = std::time::Instant::now();
            let nodes = render(&text, &Json::Null);
            let ms = t0.elapsed().as_millis();
            assert!(
                ms < limit_ms,
                "{unit:?} x 1 MB took {ms} ms (limit {limit_ms} ms)"
            );
            assert!(!nodes.is_empty(), "{unit:?}");
        }
        for (unit, text) in adversarial(1 << 20) {
            let t0 = std::time::Instant::now();
            let _ = interpolate(&text, &Json::Null);
            let ms = t0.elapsed().as_millis();
            assert!(ms < limit_ms, "interpolate {unit:?} x 1 MB took {ms} ms");
        }
    }

    #[test]
    fn text_substituted_by_placeholders_is_bounded_per_string() {
        let long = "x".repeat(20_000);
        let traits = parse(&format!(r#"{{"n":"{long}","s":"ok"}}"#)).unwrap();
        // 13,000 placeholders of a 20 KB trait would be 260 MB of text.
        let text = "{{n}}".repeat(13_000);
        let out = interpolate(&text, &traits);
        assert!(out.len() <= MAX_INTERPOLATED_BYTES, "{} bytes", out.len());
        assert_eq!(out.len(), 3 * 20_000, "whole values while they fit");
        let nodes = render(&text, &traits);
        assert!(text_of(&nodes).len() <= MAX_INTERPOLATED_BYTES);
        // Below the budget nothing changes.
        assert_eq!(
            interpolate("Hi {{s}}, {{missing | you}}", &traits),
            "Hi ok, you"
        );
        // The budget counts substitutions, not the text around them.
        let plain = "a".repeat(60_000) + "{{s}}";
        assert_eq!(interpolate(&plain, &traits).len(), 60_002);
    }

    fn text_of(nodes: &[Node]) -> String {
        text(nodes)
    }

    #[test]
    fn markup_per_text_block_is_bounded() {
        fn count(i: &[Inline]) -> usize {
            i.iter()
                .map(|n| match n {
                    Inline::Text(_) => 0,
                    Inline::Bold(c) | Inline::Italic(c) => 1 + count(c),
                    Inline::Link { children, .. } => 1 + count(children),
                })
                .sum()
        }
        let nodes = md(&"*a* [b](/c) ".repeat(MAX_MARKUP));
        let Node::Paragraph(p) = &nodes[0] else {
            panic!()
        };
        assert_eq!(count(p), MAX_MARKUP);
        // What is over the budget stays as text, nothing lost.
        assert_eq!(text(&nodes).matches("*a*").count(), MAX_MARKUP / 2);
        // The budget spans the block's paragraphs and list items.
        let nodes = md(&"*a*\n\n- *b*\n".repeat(MAX_MARKUP));
        let total: usize = nodes
            .iter()
            .map(|n| match n {
                Node::Paragraph(p) => count(p),
                Node::List { items, .. } => items.iter().map(|i| count(i)).sum(),
            })
            .sum();
        assert_eq!(total, MAX_MARKUP);
    }

    #[test]
    fn deep_nesting_and_junk_do_not_panic() {
        let deep = "**_".repeat(2000) + "x" + &"_**".repeat(2000);
        let _ = md(&deep);
        let brackets = "[".repeat(3000) + &"](/a)".repeat(3000);
        let _ = md(&brackets);
        for s in [
            "*",
            "**",
            "_",
            "[",
            "[]",
            "[](",
            "[]()",
            "{{",
            "{{}}",
            "\\",
            "- ",
            "1. ",
            "* *",
            "\u{feff}*é*",
        ] {
            let _ = md(s);
        }
        assert_eq!(
            para("[](/x)"),
            vec![Inline::Link {
                href: "/x".into(),
                children: vec![]
            }]
        );
    }
}

/// Every href in a rendered tree (for tests).
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) fn hrefs(nodes: &[Node]) -> Vec<String> {
    fn walk(i: &[Inline], out: &mut Vec<String>) {
        for n in i {
            match n {
                Inline::Text(_) => {}
                Inline::Bold(c) | Inline::Italic(c) => walk(c, out),
                Inline::Link { href, children } => {
                    out.push(href.clone());
                    walk(children, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for n in nodes {
        match n {
            Node::Paragraph(p) => walk(p, &mut out),
            Node::List { items, .. } => items.iter().for_each(|i| walk(i, &mut out)),
        }
    }
    out
}

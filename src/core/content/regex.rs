//! A small regular expression engine for the `matches` operator of conditions:
//! a parser to a Thompson NFA and a Pike VM that simulates it on every thread
//! at once, in O(pattern × text) time and O(pattern) memory, without
//! backtracking: no pattern, however hostile (`(a*)*b`, `(a|aa)+$`), can stall
//! the page (no ReDoS). A walk that costs more than [`MEMO_WORK`] steps is
//! remembered for the last text, as conditions are evaluated again on every
//! refresh, mostly on the same trait.
//!
//! # Why our own
//! The `regex` crate would add hundreds of KB of wasm (code plus Unicode
//! tables) to a module whose whole budget is about 45 KB gzipped. Measured with
//! a minimal cdylib for `wasm32-unknown-unknown` (`opt-level = "z"`, LTO,
//! stripped) whose one export compiles a pattern and tests a text, over the
//! same cdylib without it: `regex` 1.13 adds 837 KB (278 KB gzipped) with its
//! default features, and still 267 KB (97 KB gzipped) with
//! `default-features = false, features = ["std"]` (which also drops Unicode
//! classes); this module adds 15 KB (6 KB gzipped). The page's own `RegExp` is
//! no alternative: it backtracks, so a pattern in content could freeze the tab.
//!
//! # The supported subset
//! JavaScript `RegExp.prototype.test` semantics, without flags: an unanchored
//! search (the pattern may match anywhere) unless `^`/`$` say otherwise,
//! case-sensitive, on characters (Unicode scalar values) of UTF-8 text, so a
//! character outside the Basic Multilingual Plane (an emoji) is one character,
//! as with JavaScript's `u` flag, not two UTF-16 units.
//!
//! | Syntax | Meaning |
//! |---|---|
//! | `a`, `é`, … | the character itself (anything not listed below) |
//! | `.` | any character except the line terminators `\n`, `\r`, U+2028, U+2029 |
//! | `[abc]`, `[a-z]`, `[^...]` | a class, a range, a negated class; `[]` matches nothing and `[^]` any character; `-` first or last is literal |
//! | `\d` `\w` `\s` | ASCII digit `[0-9]`; ASCII word character `[0-9A-Za-z_]`; JavaScript white space and line terminators |
//! | `\D` `\W` `\S` | their complements (also inside `[...]`) |
//! | `\n` `\r` `\t` `\f` `\v` `\0` | line feed, carriage return, tab, form feed, vertical tab, NUL (`[\b]`: backspace) |
//! | `\` + punctuation | that character (`\.`, `\\`, `\/`, `\*`, `\(`, `\[`, `\{`, `\-`, …) |
//! | `^`, `$` | start, end of the text (not of lines) |
//! | `(...)`, `(?:...)` | a group (nothing is captured) |
//! | <code>a&#124;b</code> | either |
//! | `*`, `+`, `?` | 0 or more, 1 or more, 0 or 1 (greedy; greediness cannot change whether the text matches) |
//! | `{n}`, `{n,}`, `{n,m}` | exactly n, at least n, n to m; bounds at most [`MAX_REPEAT`]; a `{` that does not start one of these is literal, as in JavaScript |
//!
//! Anything else is an error with a message saying what is not supported and
//! where (`(character 4)`, counted from 1): backreferences (`\1`, `\k<n>`),
//! lookahead and lookbehind (`(?=`, `(?!`, `(?<=`, `(?<!`), named groups,
//! lazy quantifiers (`*?`, `+?`, `??`, `{n,m}?`), word boundaries (`\b`, `\B`),
//! `\x`, `\u`, `\c`, `\p` escapes, other letter escapes, a quantifier with
//! nothing to repeat (`*a`, `a**`, `^*`), unbalanced `(`, `)` or `[`, ranges out
//! of order. Limits: patterns of at most [`MAX_PATTERN`] bytes, groups nested at
//! most [`MAX_GROUP_DEPTH`] deep, and at most [`MAX_PROGRAM`] NFA steps once
//! repetitions are expanded (`(a{100}){100}` is too large).

#[allow(unused_imports)]
use crate::prelude::*;

use super::push_usize;

/// Longest pattern, in bytes of UTF-8.
pub const MAX_PATTERN: usize = 1000;
/// Largest bound of `{n}`, `{n,}` and `{n,m}`.
pub const MAX_REPEAT: u32 = 100;
/// Deepest nesting of groups.
pub const MAX_GROUP_DEPTH: u32 = 50;
/// Most NFA steps a pattern may expand to (repetitions copy what they repeat).
pub const MAX_PROGRAM: usize = 5000;

/// Above this many steps (text bytes × NFA steps, well under 1 ms), the last
/// answer is remembered ([`Regex::is_match`]).
const MEMO_WORK: usize = 1 << 16;

/// `\d`.
const DIGIT: &[(char, char)] = &[('0', '9')];
/// `\w`.
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
/// `\s`: JavaScript's WhiteSpace and LineTerminator.
const SPACE: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
    ('\u{feff}', '\u{feff}'),
];
/// What `.` does not match.
const LINE_TERMINATORS: &[(char, char)] = &[('\n', '\n'), ('\r', '\r'), ('\u{2028}', '\u{2029}')];

/// A set of characters: inclusive ranges, or their complement.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl Class {
    fn of(ranges: &[(char, char)], negated: bool) -> Class {
        Class {
            ranges: ranges.to_vec(),
            negated,
        }
    }

    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= c && c <= b) != self.negated
    }
}

/// The character after `c`, skipping the surrogate gap.
fn next_char(c: char) -> Option<char> {
    match c as u32 {
        0xd7ff => Some('\u{e000}'),
        n => char::from_u32(n + 1),
    }
}

/// The character before `c` (`c` > NUL), skipping the surrogate gap.
fn prev_char(c: char) -> char {
    match c as u32 {
        0xe000 => '\u{d7ff}',
        0 => '\0',
        n => char::from_u32(n - 1).unwrap_or('\0'),
    }
}

/// The characters not in `ranges`, as ranges; `ranges` sorted by start (the
/// constants above are).
fn complement(ranges: &[(char, char)]) -> Vec<(char, char)> {
    let mut out = Vec::new();
    let mut from = Some('\0');
    for &(a, b) in ranges {
        let Some(f) = from else { break };
        if a > f {
            out.push((f, prev_char(a)));
        }
        if b >= f {
            from = next_char(b);
        }
    }
    if let Some(f) = from {
        out.push((f, char::MAX));
    }
    out
}

/// The syntax tree.
#[derive(Debug)]
enum Node {
    Empty,
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
}

/// NFA instructions.
#[derive(Clone, Debug)]
enum Inst {
    /// Read one character in the class.
    Class(Class),
    /// Continue at both.
    Split(usize, usize),
    /// Continue there.
    Jmp(usize),
    /// Only at the start of the text.
    Start,
    /// Only at the end of the text.
    End,
    /// The pattern matched.
    Match,
}

/// A compiled pattern: [`Regex::new`], then [`Regex::is_match`].
#[derive(Debug)]
pub struct Regex {
    source: String,
    prog: Vec<Inst>,
    /// The last text whose walk cost more than [`MEMO_WORK`] steps, and the
    /// answer: conditions are evaluated again on every refresh (each `track`,
    /// each `identify`), mostly on the same trait, and a pattern near
    /// [`MAX_PROGRAM`] on a 30 KB text takes a few hundred ms in the page.
    memo: core::cell::RefCell<(String, bool)>,
    /// How many times the VM ran (what the tests count).
    #[cfg(test)]
    runs: core::cell::Cell<u32>,
}

impl Clone for Regex {
    /// The same pattern, with an empty memo (a derived `Clone` would borrow the
    /// memo, and bring a panic path).
    fn clone(&self) -> Regex {
        Regex {
            source: self.source.clone(),
            prog: self.prog.clone(),
            memo: Default::default(),
            #[cfg(test)]
            runs: Default::default(),
        }
    }
}

impl PartialEq for Regex {
    /// Same pattern text.
    fn eq(&self, other: &Regex) -> bool {
        self.source == other.source
    }
}

/// `message (character n)`, `at` counted from 0.
fn fail(message: &str, at: usize) -> String {
    let mut m = String::from(message);
    m.push_str(" (character ");
    push_usize(at + 1, &mut m);
    m.push(')');
    m
}

/// An item of a `[...]` class.
enum ClassItem {
    Char(char),
    Set(Vec<(char, char)>),
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alt(&mut self, depth: u32) -> Result<Node, String> {
        let mut branches = vec![self.concat(depth)?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.concat(depth)?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }

    fn concat(&mut self, depth: u32) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            // A bare `^` or `$` cannot be repeated; a group holding one can.
            let assertion = c == '^' || c == '$';
            let atom = self.atom(depth)?;
            items.push(self.quantifier(atom, assertion)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    fn atom(&mut self, depth: u32) -> Result<Node, String> {
        let at = self.pos;
        let Some(c) = self.peek() else {
            return Err(fail("unexpected end of pattern", at));
        };
        self.pos += 1;
        Ok(match c {
            '.' => Node::Class(Class::of(LINE_TERMINATORS, true)),
            '^' => Node::Start,
            '$' => Node::End,
            '(' => self.group(at, depth)?,
            '[' => self.class(at)?,
            '\\' => match self.escape(at, false)? {
                ClassItem::Char(c) => Node::Class(Class::of(&[(c, c)], false)),
                ClassItem::Set(ranges) => Node::Class(Class {
                    ranges,
                    negated: false,
                }),
            },
            '*' | '+' | '?' => return Err(fail("nothing to repeat before this quantifier", at)),
            '{' if self.bounds(at).is_some() => {
                return Err(fail("nothing to repeat before this quantifier", at))
            }
            c => Node::Class(Class::of(&[(c, c)], false)),
        })
    }

    /// After `(` at `at`.
    fn group(&mut self, at: usize, depth: u32) -> Result<Node, String> {
        if depth >= MAX_GROUP_DEPTH {
            return Err(fail("groups nested more than 50 deep", at));
        }
        if self.peek() == Some('?') {
            let next = self.chars.get(self.pos + 1).copied();
            let after = self.chars.get(self.pos + 2).copied();
            match (next, after) {
                (Some(':'), _) => self.pos += 2,
                (Some('=' | '!'), _) => return Err(fail("lookahead is not supported", at)),
                (Some('<'), Some('=' | '!')) => {
                    return Err(fail("lookbehind is not supported", at))
                }
                (Some('<'), _) => {
                    return Err(fail("named groups are not supported (use (?:...))", at))
                }
                _ => return Err(fail("unsupported group: only (...) and (?:...)", at)),
            }
        }
        let inner = self.alt(depth + 1)?;
        if self.peek() != Some(')') {
            return Err(fail("missing ) for this (", at));
        }
        self.pos += 1;
        Ok(inner)
    }

    /// After `\` at `at` (inside `[...]` when `in_class`).
    fn escape(&mut self, at: usize, in_class: bool) -> Result<ClassItem, String> {
        let Some(c) = self.peek() else {
            return Err(fail("\\ at the end of the pattern", at));
        };
        self.pos += 1;
        let set = |r: &[(char, char)], negated: bool| {
            ClassItem::Set(if negated { complement(r) } else { r.to_vec() })
        };
        Ok(match c {
            'd' => set(DIGIT, false),
            'D' => set(DIGIT, true),
            'w' => set(WORD, false),
            'W' => set(WORD, true),
            's' => set(SPACE, false),
            'S' => set(SPACE, true),
            'n' => ClassItem::Char('\n'),
            'r' => ClassItem::Char('\r'),
            't' => ClassItem::Char('\t'),
            'f' => ClassItem::Char('\u{c}'),
            'v' => ClassItem::Char('\u{b}'),
            'b' if in_class => ClassItem::Char('\u{8}'),
            '0' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => ClassItem::Char('\0'),
            // `\0` before a digit, and `\1`..`\9` in a class, are legacy octal.
            '0' => return Err(fail("octal escapes are not supported", at)),
            '1'..='9' if in_class => return Err(fail("octal escapes are not supported", at)),
            '1'..='9' | 'k' => return Err(fail("backreferences are not supported", at)),
            'b' | 'B' => return Err(fail("word boundaries (\\b, \\B) are not supported", at)),
            'p' | 'P' => {
                return Err(fail("Unicode property escapes are not supported", at));
            }
            'x' | 'u' => {
                return Err(fail(
                    "\\x and \\u escapes are not supported (write the character itself)",
                    at,
                ));
            }
            c if c.is_ascii_alphanumeric() => {
                let mut m = String::from("unsupported escape \\");
                m.push(c);
                return Err(fail(&m, at));
            }
            c => ClassItem::Char(c),
        })
    }

    /// One item of a class at the current position (not `]`).
    fn class_item(&mut self, open: usize) -> Result<ClassItem, String> {
        let at = self.pos;
        match self.peek() {
            None => Err(fail("missing ] for this [", open)),
            Some('\\') => {
                self.pos += 1;
                self.escape(at, true)
            }
            Some(c) => {
                self.pos += 1;
                Ok(ClassItem::Char(c))
            }
        }
    }

    /// After `[` at `open`.
    fn class(&mut self, open: usize) -> Result<Node, String> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        loop {
            match self.peek() {
                None => return Err(fail("missing ] for this [", open)),
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => {}
            }
            let lo = match self.class_item(open)? {
                ClassItem::Set(r) => {
                    ranges.extend(r);
                    continue;
                }
                ClassItem::Char(c) => c,
            };
            let is_range =
                self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']');
            if !is_range {
                ranges.push((lo, lo));
                continue;
            }
            let dash = self.pos;
            self.pos += 1;
            match self.class_item(open)? {
                // `[a-\d]`: as in JavaScript, `a`, `-` and the digits.
                ClassItem::Set(r) => {
                    ranges.push((lo, lo));
                    ranges.push(('-', '-'));
                    ranges.extend(r);
                }
                ClassItem::Char(hi) if hi < lo => {
                    return Err(fail("range out of order in [...]", dash));
                }
                ClassItem::Char(hi) => ranges.push((lo, hi)),
            }
        }
        Ok(Node::Class(Class { ranges, negated }))
    }

    /// A whole number at `i`: its value (saturating) and the position after it.
    fn number_at(&self, mut i: usize) -> Option<(u32, usize)> {
        let start = i;
        let mut n: u32 = 0;
        while let Some(d) = self.chars.get(i).and_then(|c| c.to_digit(10)) {
            n = n.saturating_mul(10).saturating_add(d);
            i += 1;
        }
        (i > start).then_some((n, i))
    }

    /// `{n}`, `{n,}` or `{n,m}` starting with the `{` at `at`: the bounds and the
    /// position after the `}`.
    fn bounds(&self, at: usize) -> Option<(u32, Option<u32>, usize)> {
        let (min, i) = self.number_at(at + 1)?;
        match self.chars.get(i) {
            Some('}') => Some((min, Some(min), i + 1)),
            Some(',') if self.chars.get(i + 1) == Some(&'}') => Some((min, None, i + 2)),
            Some(',') => {
                let (max, j) = self.number_at(i + 1)?;
                (self.chars.get(j) == Some(&'}')).then_some((min, Some(max), j + 1))
            }
            _ => None,
        }
    }

    fn quantifier(&mut self, atom: Node, assertion: bool) -> Result<Node, String> {
        let at = self.pos;
        let (min, max) = match self.peek() {
            Some('*') => {
                self.pos += 1;
                (0, None)
            }
            Some('+') => {
                self.pos += 1;
                (1, None)
            }
            Some('?') => {
                self.pos += 1;
                (0, Some(1))
            }
            Some('{') => match self.bounds(at) {
                Some((min, max, end)) => {
                    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                        return Err(fail("repetition bounds above 100 are not supported", at));
                    }
                    if max.is_some_and(|m| m < min) {
                        return Err(fail("numbers out of order in {n,m}", at));
                    }
                    self.pos = end;
                    (min, max)
                }
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        if assertion {
            return Err(fail("nothing to repeat before this quantifier", at));
        }
        if self.peek() == Some('?') {
            return Err(fail("lazy quantifiers are not supported", self.pos));
        }
        Ok(Node::Repeat(Box::new(atom), min, max))
    }
}

/// An upper bound of the steps [`emit`] takes for `node` (and of the
/// instructions it writes); every node counts, so repeating nothing is not free.
fn cost(node: &Node) -> usize {
    match node {
        Node::Empty | Node::Class(_) | Node::Start | Node::End => 1,
        Node::Concat(items) => items.iter().fold(1, |s, n| s.saturating_add(cost(n))),
        Node::Alt(items) => items
            .iter()
            .fold(1, |s, n| s.saturating_add(cost(n)).saturating_add(2)),
        Node::Repeat(inner, min, max) => {
            let c = cost(inner);
            let optional = match max {
                None => c.saturating_add(2),
                Some(max) => ((max - min) as usize).saturating_mul(c.saturating_add(1)),
            };
            c.saturating_mul(*min as usize)
                .saturating_add(optional)
                .saturating_add(1)
        }
    }
}

/// Puts `inst` at `at` (a place `emit` reserved): written with `get_mut`, as
/// indexing kept a bounds-check panic path in the wasm.
fn patch(prog: &mut [Inst], at: usize, inst: Inst) {
    if let Some(slot) = prog.get_mut(at) {
        *slot = inst;
    }
}

fn emit(node: &Node, prog: &mut Vec<Inst>) {
    match node {
        Node::Empty => {}
        Node::Class(c) => prog.push(Inst::Class(c.clone())),
        Node::Start => prog.push(Inst::Start),
        Node::End => prog.push(Inst::End),
        Node::Concat(items) => items.iter().for_each(|n| emit(n, prog)),
        Node::Alt(branches) => {
            let mut jumps = Vec::new();
            for (i, b) in branches.iter().enumerate() {
                if i + 1 == branches.len() {
                    emit(b, prog);
                } else {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(b, prog);
                    jumps.push(prog.len());
                    prog.push(Inst::Jmp(0));
                    let next = prog.len();
                    patch(prog, split, Inst::Split(split + 1, next));
                }
            }
            let end = prog.len();
            for j in jumps {
                patch(prog, j, Inst::Jmp(end));
            }
        }
        Node::Repeat(inner, min, max) => {
            for _ in 0..*min {
                emit(inner, prog);
            }
            match max {
                None => {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(inner, prog);
                    prog.push(Inst::Jmp(split));
                    let end = prog.len();
                    patch(prog, split, Inst::Split(split + 1, end));
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(prog.len());
                        prog.push(Inst::Split(0, 0));
                        emit(inner, prog);
                    }
                    let end = prog.len();
                    for s in splits {
                        patch(prog, s, Inst::Split(s + 1, end));
                    }
                }
            }
        }
    }
}

impl Regex {
    /// Compiles `pattern` (the subset in the module docs); the error is a
    /// sentence saying what is not supported and at which character.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        if pattern.len() > MAX_PATTERN {
            return Err(String::from("pattern longer than 1000 bytes"));
        }
        let mut p = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let tree = p.alt(0)?;
        if p.pos < p.chars.len() {
            // `alt` stops only at the end or at a `)` no group opened.
            return Err(fail("unmatched )", p.pos));
        }
        if cost(&tree) > MAX_PROGRAM {
            return Err(String::from(
                "pattern too large once its repetitions are expanded (at most 5000 steps)",
            ));
        }
        let mut prog = Vec::new();
        emit(&tree, &mut prog);
        prog.push(Inst::Match);
        Ok(Regex {
            source: pattern.to_string(),
            prog,
            memo: Default::default(),
            #[cfg(test)]
            runs: Default::default(),
        })
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches somewhere in `text` (JavaScript's
    /// `new RegExp(pattern).test(text)`), in O(pattern × text) time.
    pub fn is_match(&self, text: &str) -> bool {
        if text.len().saturating_mul(self.prog.len()) <= MEMO_WORK {
            return self.run(text);
        }
        // Never borrowed twice (the VM does not come back here); if it were, it
        // would only run the VM, without a panic path.
        let Ok(mut memo) = self.memo.try_borrow_mut() else {
            return self.run(text);
        };
        // The memo starts empty, and an empty text is never remembered (it
        // costs no work).
        if memo.0 == text {
            return memo.1;
        }
        let answer = self.run(text);
        memo.0.clear();
        memo.0.push_str(text);
        memo.1 = answer;
        answer
    }

    /// [`Regex::is_match`] without the memo: the Pike VM.
    fn run(&self, text: &str) -> bool {
        #[cfg(test)]
        self.runs.set(self.runs.get() + 1);
        // Characters, counted as the UTF-8 bytes that start one: `chars().count()`
        // brings in core's unrolled counter, 0.8 KB of wasm.
        let len = text.bytes().filter(|b| b & 0xC0 != 0x80).count();
        // Every path from the start reads `^` first: only position 0 can match.
        let anchored = matches!(self.prog.first(), Some(Inst::Start));
        let mut current: Vec<usize> = Vec::new();
        let mut next: Vec<usize> = Vec::new();
        // `mark[pc] == i`: `pc` is already in the list for position `i`.
        let mut mark = vec![usize::MAX; self.prog.len()];
        let mut stack = Vec::new();
        let mut chars = text.chars();
        for i in 0..=len {
            // A new thread starts at every position (unanchored search).
            if (i == 0 || !anchored) && self.add(0, i, len, &mut current, &mut mark, &mut stack) {
                return true;
            }
            if current.is_empty() && anchored {
                return false;
            }
            let Some(c) = chars.next() else { break };
            next.clear();
            for &pc in &current {
                if let Some(Inst::Class(class)) = self.prog.get(pc) {
                    if class.matches(c)
                        && self.add(pc + 1, i + 1, len, &mut next, &mut mark, &mut stack)
                    {
                        return true;
                    }
                }
            }
            core::mem::swap(&mut current, &mut next);
        }
        false
    }

    /// Adds the thread at `pc` and every thread it reaches without reading to
    /// `list`, the threads for position `at` of a text of `len` characters.
    /// True when one of them is the match.
    fn add(
        &self,
        pc: usize,
        at: usize,
        len: usize,
        list: &mut Vec<usize>,
        mark: &mut [usize],
        stack: &mut Vec<usize>,
    ) -> bool {
        stack.clear();
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            let Some(seen) = mark.get_mut(pc) else {
                continue;
            };
            if *seen == at {
                continue;
            }
            *seen = at;
            let Some(inst) = self.prog.get(pc) else {
                continue;
            };
            match inst {
                Inst::Jmp(t) => stack.push(*t),
                Inst::Split(a, b) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Inst::Start if at == 0 => stack.push(pc + 1),
                Inst::End if at == len => stack.push(pc + 1),
                Inst::Start | Inst::End => {}
                Inst::Class(_) => list.push(pc),
                Inst::Match => return true,
            }
        }
        false
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, t: &str) -> bool {
        Regex::new(p)
            .unwrap_or_else(|e| panic!("/{p}/: {e}"))
            .is_match(t)
    }

    fn error(p: &str) -> String {
        Regex::new(p).expect_err(p)
    }

    #[test]
    fn a_costly_pattern_is_not_run_again_on_the_same_text() {
        // Near MAX_PROGRAM steps, most of them alive on every character of a
        // long text it does not match: the whole O(pattern × text) walk.
        let re = Regex::new(&(String::from("(?:") + &"[a-z]?".repeat(15) + "){1,100}!")).unwrap();
        assert!(re.prog.len() > 3000, "{}", re.prog.len());
        let text = "a".repeat(5_000);
        let other = "b".repeat(5_000) + "!";
        assert!(!re.is_match(&text));
        assert_eq!(re.runs.get(), 1);
        // Conditions are evaluated again on every refresh (each track, each
        // identify), mostly on the same trait: the answer is remembered.
        for _ in 0..5 {
            assert!(!re.is_match(&text));
        }
        assert_eq!(re.runs.get(), 1, "the same text is answered from memory");
        assert!(re.is_match(&other));
        assert_eq!(re.runs.get(), 2, "a new text is run");
        assert!(!re.is_match(&text));
        assert_eq!(re.runs.get(), 3, "only the last text is remembered");
        // Cheap evaluations are not worth a copy of the text.
        let small = Regex::new("^pro").unwrap();
        assert!(small.is_match("professional") && small.is_match("professional"));
        assert_eq!(small.runs.get(), 2);
        // A copy answers the same.
        assert!(!re.clone().is_match(&text));
    }

    /// Checked against Node 20's `new RegExp(p).test(t)`.
    const JS_CASES: &[(&str, &str, bool)] = &[
        ("abc", "xxabcxx", true),
        ("abc", "ab", false),
        ("^abc", "xabc", false),
        ("^abc", "abcx", true),
        ("abc$", "abcx", false),
        ("^abc$", "abc", true),
        ("^$", "", true),
        ("^$", "\n", false),
        ("$", "anything", true),
        ("a$", "a\n", false),
        ("^b", "a\nb", false),
        ("", "", true),
        ("", "anything", true),
        ("a.c", "abc", true),
        ("a.c", "a\nc", false),
        ("a.c", "a\rc", false),
        ("a.c", "a\u{2028}c", false),
        ("a.c", "a\u{2029}c", false),
        ("a.c", "a\u{85}c", true),
        ("a.c", "a\tc", true),
        ("^.$", "é", true),
        ("[a-c]+x", "zzbcax", true),
        ("[a-c]+x", "zzdx", false),
        ("[^0-9]", "123", false),
        ("[^0-9]", "12a", true),
        ("[^0-9]", "\n", true),
        ("[]", "anything", false),
        ("[]a", "a", false),
        ("[^]", "\n", true),
        ("[^]", "", false),
        ("[-a]", "-", true),
        ("[a-]", "-", true),
        ("[a\\-z]", "-", true),
        ("[a\\-z]", "b", false),
        ("[\\d.]+", "v1.2", true),
        ("[\\d-z]", "-", true),
        ("[\\d-z]", "y", false),
        ("[a-\\d]", "-", true),
        ("[a-\\d]", "5", true),
        ("[a-\\d]", "b", false),
        ("[\\D]", "a", true),
        ("[\\D]", "1", false),
        ("[^\\D]", "1", true),
        ("[\\W\\d]", "5", true),
        ("[\\W\\d]", "a", false),
        ("[\\S]", " ", false),
        ("[\\b]", "\u{8}", true),
        ("[.]", "a", false),
        ("[.]", ".", true),
        ("[*+?{}()|^$]", "|", true),
        ("[\\]]", "]", true),
        ("[\\\\]", "\\", true),
        ("[é-ü]", "ñ", true),
        ("\\d{3}-\\d{4}", "call 555-1234", true),
        ("\\d{3}-\\d{4}", "call 55-1234", false),
        ("\\d", "٣", false),
        ("\\w", "é", false),
        ("\\w+@\\w+\\.com$", "ada@example.com", true),
        ("\\s", "nospace", false),
        ("\\s", "a\u{a0}b", true),
        ("\\s", "\u{3000}", true),
        ("\\s", "\u{feff}", true),
        ("\\s", "\u{85}", false),
        ("\\s", "\u{200b}", false),
        ("\\S", " \t\n", false),
        ("\\D", "123", false),
        ("\\W", "abc_1", false),
        ("\\W", "a-b", true),
        ("\\.", "a.b", true),
        ("\\.", "ab", false),
        ("\\/", "a/b", true),
        ("\\n", "a\nb", true),
        ("\\t", "a\tb", true),
        ("\\r\\n", "\r\n", true),
        ("\\f\\v", "\u{c}\u{b}", true),
        ("\\0", "\0", true),
        ("\\é", "é", true),
        ("\\-", "-", true),
        ("^(?:foo|bar)+$", "foobarfoo", true),
        ("^(foo|bar)+$", "foobaz", false),
        ("^(?:)$", "", true),
        ("()", "x", true),
        ("a|", "zzz", true),
        ("|", "", true),
        ("^(a|b|c)$", "c", true),
        ("^(a|b|c)$", "d", false),
        ("^pro$|^enterprise$", "enterprise", true),
        ("^pro$|^enterprise$", "professional", false),
        ("colou?r", "color", true),
        ("colou?r", "colour", true),
        ("colou?r", "colouur", false),
        ("^a*$", "", true),
        ("^a+$", "", false),
        ("^a{2,3}$", "a", false),
        ("^a{2,3}$", "aaa", true),
        ("^a{2,3}$", "aaaa", false),
        ("^a{2,}$", "aaaa", true),
        ("^a{2,}$", "a", false),
        ("^a{2}$", "aa", true),
        ("^a{0}$", "", true),
        ("^a{0}$", "a", false),
        ("^a{0,0}b$", "b", true),
        ("^(?:ab){2}$", "abab", true),
        ("^(?:ab){2}$", "aba", false),
        ("^(a?){3}a{3}$", "aaa", true),
        ("^(a*)*$", "aaaa", true),
        ("^(a*)+b$", "aaab", true),
        ("^(?:a|ab)(?:c|bcd)(?:d*)$", "abcd", true),
        ("(^a|b)", "ba", true),
        ("(^a|b)", "ca", false),
        ("x(^a)", "xa", false),
        ("(a$)|b", "ab", true),
        ("^(?:^a)$", "a", true),
        ("{", "a{b", true),
        ("a{", "a{", true),
        ("a{x}", "a{x}", true),
        ("a{1", "a{1", true),
        ("a{1,x}", "a{1,x}", true),
        ("a{,2}", "a{,2}", true),
        ("x{1}{", "x{", true),
        ("}", "}", true),
        ("]", "]", true),
        ("é+", "café", true),
        ("^(^)*a$", "a", true),
        ("^a($)+", "a", true),
        ("^a($)+", "ab", false),
    ];

    /// Characters outside the Basic Multilingual Plane are one character, as
    /// with JavaScript's `u` flag (checked against Node 20's
    /// `new RegExp(p, "u").test(t)`), not two UTF-16 units as without it.
    const ASTRAL_CASES: &[(&str, &str, bool)] = &[
        ("a.c", "a😀c", true),
        ("^.$", "😀", true),
        ("😀{2}", "😀😀", true),
        ("😀{2}", "😀", false),
        ("^[😀-😂]$", "😁", true),
        ("^[^😀]$", "😁", true),
    ];

    #[test]
    fn matches_like_javascript_regexp_test() {
        for &(p, t, want) in JS_CASES.iter().chain(ASTRAL_CASES) {
            assert_eq!(m(p, t), want, "/{p}/.test({t:?})");
        }
    }

    #[test]
    fn unsupported_syntax_is_an_error_with_its_position() {
        for (p, want) in [
            ("(a", "missing ) for this ( (character 1)"),
            ("a(b(c)", "missing ) for this ( (character 2)"),
            ("a)", "unmatched ) (character 2)"),
            ("(a))", "unmatched ) (character 4)"),
            ("[abc", "missing ] for this [ (character 1)"),
            ("x[a\\", "\\ at the end of the pattern (character 4)"),
            ("[a-", "missing ] for this [ (character 1)"),
            (
                "*a",
                "nothing to repeat before this quantifier (character 1)",
            ),
            (
                "+",
                "nothing to repeat before this quantifier (character 1)",
            ),
            (
                "?",
                "nothing to repeat before this quantifier (character 1)",
            ),
            (
                "{2}",
                "nothing to repeat before this quantifier (character 1)",
            ),
            (
                "a**",
                "nothing to repeat before this quantifier (character 3)",
            ),
            (
                "a{2}{3}",
                "nothing to repeat before this quantifier (character 5)",
            ),
            (
                "(*)",
                "nothing to repeat before this quantifier (character 2)",
            ),
            (
                "a|*",
                "nothing to repeat before this quantifier (character 3)",
            ),
            (
                "^*",
                "nothing to repeat before this quantifier (character 2)",
            ),
            (
                "$+",
                "nothing to repeat before this quantifier (character 2)",
            ),
            (
                "^{2}",
                "nothing to repeat before this quantifier (character 2)",
            ),
            ("a+?", "lazy quantifiers are not supported (character 3)"),
            ("a*?", "lazy quantifiers are not supported (character 3)"),
            ("a??", "lazy quantifiers are not supported (character 3)"),
            (
                "a{1,2}?",
                "lazy quantifiers are not supported (character 7)",
            ),
            ("(?=a)", "lookahead is not supported (character 1)"),
            ("(?!a)", "lookahead is not supported (character 1)"),
            ("b(?<=a)", "lookbehind is not supported (character 2)"),
            ("(?<!a)", "lookbehind is not supported (character 1)"),
            (
                "(?<n>a)",
                "named groups are not supported (use (?:...)) (character 1)",
            ),
            (
                "(?i)a",
                "unsupported group: only (...) and (?:...) (character 1)",
            ),
            (
                "(?",
                "unsupported group: only (...) and (?:...) (character 1)",
            ),
            ("(a)\\1", "backreferences are not supported (character 4)"),
            ("\\k<n>", "backreferences are not supported (character 1)"),
            ("\\01", "octal escapes are not supported (character 1)"),
            ("[\\1]", "octal escapes are not supported (character 2)"),
            (
                "\\b",
                "word boundaries (\\b, \\B) are not supported (character 1)",
            ),
            (
                "a\\B",
                "word boundaries (\\b, \\B) are not supported (character 2)",
            ),
            (
                "\\p{L}",
                "Unicode property escapes are not supported (character 1)",
            ),
            (
                "\\x41",
                "\\x and \\u escapes are not supported (write the character itself) (character 1)",
            ),
            (
                "[\\u0041]",
                "\\x and \\u escapes are not supported (write the character itself) (character 2)",
            ),
            ("\\q", "unsupported escape \\q (character 1)"),
            ("\\c", "unsupported escape \\c (character 1)"),
            ("\\", "\\ at the end of the pattern (character 1)"),
            ("[z-a]", "range out of order in [...] (character 3)"),
            (
                "a{101}",
                "repetition bounds above 100 are not supported (character 2)",
            ),
            (
                "a{1,101}",
                "repetition bounds above 100 are not supported (character 2)",
            ),
            (
                "a{99999999999}",
                "repetition bounds above 100 are not supported (character 2)",
            ),
            ("a{3,2}", "numbers out of order in {n,m} (character 2)"),
        ] {
            assert_eq!(error(p), want, "/{p}/");
        }
        assert_eq!(error(&"a".repeat(1001)), "pattern longer than 1000 bytes");
        assert!(Regex::new(&"a".repeat(1000)).is_ok());
        assert!(
            Regex::new(&"é".repeat(501)).is_err(),
            "bytes, not characters"
        );
        let too_large = "pattern too large once its repetitions are expanded (at most 5000 steps)";
        assert_eq!(error("(a{100}){100}"), too_large);
        assert_eq!(error("((((?:){100}){100}){100}){100}"), too_large);
        assert_eq!(error("(?:(?:a{100}){100}){100}"), too_large);
        assert!(Regex::new("(?:a{10}){10}").is_ok());
        assert!(Regex::new(
            &"(".repeat(50)
                .chars()
                .chain(")".repeat(50).chars())
                .collect::<String>()
        )
        .is_ok());
        assert_eq!(
            error(&format!("{}{}", "(".repeat(51), ")".repeat(51))),
            "groups nested more than 50 deep (character 51)"
        );
        // Deeper than that is refused before it could exhaust the stack.
        assert!(Regex::new(&"(".repeat(1000)).is_err());
    }

    #[test]
    fn keeps_its_source_and_compares_by_it() {
        let r = Regex::new("^a+$").unwrap();
        assert_eq!(r.as_str(), "^a+$");
        assert_eq!(r, Regex::new("^a+$").unwrap());
        assert_ne!(r, Regex::new("^a*$").unwrap());
    }

    #[test]
    fn complements_cover_everything_else() {
        let c = complement(DIGIT);
        assert_eq!(c, vec![('\0', '/'), (':', char::MAX)]);
        assert_eq!(complement(&[]), vec![('\0', char::MAX)]);
        assert_eq!(complement(&[('\0', char::MAX)]), vec![]);
        assert_eq!(
            complement(&[('a', 'c'), ('b', 'd'), ('\u{e000}', '\u{e000}')]),
            vec![('\0', '`'), ('e', '\u{d7ff}'), ('\u{e001}', char::MAX)]
        );
    }

    #[test]
    fn adversarial_patterns_run_in_linear_time() {
        // A backtracking engine takes exponential time on every one of these.
        let text = "a".repeat(10_000);
        let start = std::time::Instant::now();
        assert!(!m("(a*)*b", &text));
        assert!(!m("^(a|aa)+$b", &text));
        assert!(!m("(a+)+$x", &text));
        assert!(!m("(?:a?){30}a{30}b", &text));
        assert!(m("(a*)*$", &text));
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs_f64() < 1.0, "{elapsed:?}");
        // The largest allowed program on a long text: still bounded (and anchored
        // patterns stop at once).
        let big = Regex::new("(?:a{50}b?){90}c").unwrap();
        let start = std::time::Instant::now();
        assert!(!big.is_match(&"a".repeat(2000)));
        assert!(!Regex::new("^b").unwrap().is_match(&"a".repeat(1_000_000)));
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs_f64() < 2.0, "{elapsed:?}");
    }

    /// A pattern of the shared subset, as ours and as an equivalent for the
    /// `regex` crate (whose `.`, `\d`, `\w`, `\s` differ from JavaScript's, so
    /// they are spelled out).
    fn pattern() -> impl Strategy<Value = (String, String)> {
        const S: &str = "\\t-\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}";
        let s_class = format!("[{S}]");
        let not_s_class = format!("[^{S}]");
        let atoms: Vec<(&'static str, String)> = vec![
            ("a", "a".into()),
            ("b", "b".into()),
            ("é", "é".into()),
            (".", "[^\\n\\r\\x{2028}\\x{2029}]".into()),
            ("[ab]", "[ab]".into()),
            ("[^a]", "[^a]".into()),
            ("[a-c]", "[a-c]".into()),
            ("[^\\n-]", "[^\\n\\-]".into()),
            ("\\d", "[0-9]".into()),
            ("\\D", "[^0-9]".into()),
            ("\\w", "[0-9A-Za-z_]".into()),
            ("\\W", "[^0-9A-Za-z_]".into()),
            ("\\s", s_class),
            ("\\S", not_s_class),
            ("[\\d_]", "[0-9_]".into()),
            ("\\.", "\\.".into()),
            ("\\n", "\\n".into()),
        ];
        let atom = prop::sample::select(atoms);
        let quant =
            prop::sample::select(vec!["", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "{3}"]);
        let leaf = prop_oneof![
            8 => (atom, quant).prop_map(|((o, t), q)| (format!("{o}{q}"), format!("{t}{q}"))),
            1 => Just(("^".to_string(), "^".to_string())),
            1 => Just(("$".to_string(), "$".to_string())),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            let quant = prop::sample::select(vec!["", "*", "+", "?", "{2}", "{1,3}"]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| {
                    let (o, t): (Vec<String>, Vec<String>) = v.into_iter().unzip();
                    (o.concat(), t.concat())
                }),
                prop::collection::vec(inner.clone(), 1..4).prop_map(|v| {
                    let (o, t): (Vec<String>, Vec<String>) = v.into_iter().unzip();
                    (
                        format!("(?:{})", o.join("|")),
                        format!("(?:{})", t.join("|")),
                    )
                }),
                (inner, quant).prop_map(|((o, t), q)| (format!("({o}){q}"), format!("({t}){q}"))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_the_regex_crate(
            (ours, theirs) in pattern(),
            text in "[abé1_ .\\-\\n\\r\\t\\x{2028}\\x{a0}\\x{3000}\\x{85}]{0,10}",
        ) {
            let reference = regex::Regex::new(&theirs).unwrap();
            let compiled = Regex::new(&ours);
            prop_assert!(compiled.is_ok(), "/{}/: {:?}", ours, compiled);
            let got = compiled.unwrap().is_match(&text);
            prop_assert_eq!(got, reference.is_match(&text), "/{}/ ({}) on {:?}", ours, theirs, text);
        }

        #[test]
        fn never_panics_on_any_pattern_or_text(p in ".{0,30}", text in ".{0,20}") {
            if let Ok(r) = Regex::new(&p) {
                let _ = r.is_match(&text);
            }
        }

        #[test]
        fn never_panics_on_regex_like_patterns(
            p in "[\\[\\]()|*+?{}^$.\\\\a-c0-9,:=!<>\\-dDwWsSnbk]{0,24}",
            text in "[abc0-9\\n ]{0,12}",
        ) {
            if let Ok(r) = Regex::new(&p) {
                let _ = r.is_match(&text);
            }
        }
    }
}

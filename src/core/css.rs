//! The UI's stylesheets without their insignificant whitespace, at compile time.
//!
//! The flow UI's and the checklist's CSS are written readably in the shell
//! (`src/web/content/render.rs`, `checklists.rs`) and minified by [`minify`] in a
//! `const`, so the wasm carries only the minified text: 1.1 KB less before gzip
//! and about 0.15 KB after it (measured on the content module). A const fn rather
//! than a build step or a crate: it runs in the compiler and adds no code.
//!
//! What it removes: whitespace at the start and end, after `{`, `}`, `;`, `:` and
//! `,`, before `{`, `}`, `;` and `,`, runs of whitespace (kept as one space), and
//! the `;` before a `}`. What it keeps: text in quotes as written, and one space
//! wherever whitespace separates two other characters (descendant selectors,
//! `calc(a - b)`, a value's words). The stylesheets have no comments; a `/*` is
//! kept as it is.

/// `css` minified (see the module docs) into the first `.1` bytes of `.0`; `N`
/// must be at least `css.len()` (a compile-time error otherwise).
pub const fn minify<const N: usize>(css: &str) -> ([u8; N], usize) {
    let s = css.as_bytes();
    let mut out = [0u8; N];
    let mut n = 0;
    let mut i = 0;
    let mut quote = 0u8;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if quote != 0 {
            out[n] = c;
            n += 1;
            if c == quote {
                quote = 0;
            }
            continue;
        }
        if c == b' ' || c == b'\n' || c == b'\t' || c == b'\r' {
            if n == 0
                || out[n - 1] == b' '
                || matches!(out[n - 1], b'{' | b'}' | b';' | b':' | b',')
            {
                continue;
            }
            out[n] = b' ';
            n += 1;
            continue;
        }
        if matches!(c, b'{' | b'}' | b';' | b',') && n > 0 && out[n - 1] == b' ' {
            n -= 1;
        }
        if c == b'}' && n > 0 && out[n - 1] == b';' {
            n -= 1;
        }
        if c == b'"' || c == b'\'' {
            quote = c;
        }
        out[n] = c;
        n += 1;
    }
    if n > 0 && out[n - 1] == b' ' {
        n -= 1;
    }
    (out, n)
}

/// [`minify`]'s result as an array of exactly its length `M` (so that a `const`
/// holding it keeps no unused bytes); `N` is `css.len()`.
pub const fn exact<const M: usize, const N: usize>(css: &str) -> [u8; M] {
    let (all, len) = minify::<N>(css);
    assert!(len == M, "M must be the minified length");
    let mut out = [0u8; M];
    let mut i = 0;
    while i < M {
        out[i] = all[i];
        i += 1;
    }
    out
}

/// The text [`minify`] made: the first `len` bytes of `bytes` (a compile-time error
/// if they are not UTF-8, which minifying UTF-8 never causes: it removes only ASCII).
pub const fn text(bytes: &[u8], len: usize) -> &str {
    match core::str::from_utf8(bytes.split_at(len).0) {
        Ok(s) => s,
        Err(_) => panic!("minified CSS is not UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(css: &str) -> String {
        let (bytes, len) = minify::<512>(css);
        text(&bytes, len).to_string()
    }

    #[test]
    fn removes_whitespace_around_punctuation_and_the_last_semicolon() {
        assert_eq!(
            min("\n:host { all: initial !important; display: block; }\n.a { color: red; }\n"),
            ":host{all:initial !important;display:block}.a{color:red}"
        );
        assert_eq!(
            min(".t { box-shadow: 0 0 0 1px rgba(17, 24, 39, .08), 0 4px 8px; }"),
            ".t{box-shadow:0 0 0 1px rgba(17,24,39,.08),0 4px 8px}"
        );
    }

    #[test]
    fn keeps_the_spaces_that_mean_something() {
        // Descendant selectors, pseudo-classes after a space, calc's operators,
        // media queries, a value's words.
        assert_eq!(
            min(".tooltip[data-side=bottom] .arrow { top: calc(100vh - 32px); }"),
            ".tooltip[data-side=bottom] .arrow{top:calc(100vh - 32px)}"
        );
        assert_eq!(
            min(".list :focus-visible { a: b }"),
            ".list :focus-visible{a:b}"
        );
        assert_eq!(
            min("@media (prefers-reduced-motion: reduce) { .s { animation: none; } }"),
            "@media (prefers-reduced-motion:reduce){.s{animation:none}}"
        );
        assert_eq!(min("a  b\n\n c"), "a b c");
    }

    #[test]
    fn keeps_quoted_text_as_written() {
        assert_eq!(
            min(".l { font: 15px/1.55 ui-sans-serif, \"Segoe UI\" , 'Helvetica  Neue' ; }"),
            ".l{font:15px/1.55 ui-sans-serif,\"Segoe UI\",'Helvetica  Neue'}"
        );
        assert_eq!(
            min(".x::before { content: \"a ; } b\"; }"),
            ".x::before{content:\"a ; } b\"}"
        );
    }

    #[test]
    fn empty_and_whitespace_only() {
        assert_eq!(min(""), "");
        assert_eq!(min(" \n\t "), "");
    }
}

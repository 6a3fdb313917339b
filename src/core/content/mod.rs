//! Onboarding content: the versioned schema ([`model`]), the safe Markdown subset
//! and `{{attribute}}` interpolation ([`markdown`]), the flow and checklist state
//! machines ([`engine`], [`checklist`]), the conditions they start and complete by
//! ([`conditions`], with [`regex`]) and the auto-start rules both share
//! ([`start`]). All pure: the shell renders what the engine returns and feeds
//! back clicks, target lookups, URL changes, tracked events and timer ticks.
//!
//! The schema is documented in `docs/CONTENT.md` and `docs/content-schema.json`.

#[allow(unused_imports)]
use crate::prelude::*;

pub mod checklist;
pub mod conditions;
pub mod engine;
pub mod markdown;
pub mod model;
pub mod regex;
pub mod start;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod checklist_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod conditions_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod engine_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod model_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod start_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod test_world;

pub use engine::{Ctx, EndReason, FlowEngine, Input, Output, StartReason, StepView};
pub use model::{parse_content, parse_content_with, Content, Loaded};

/// The part of `url` that URL patterns match: path and search, without scheme,
/// host and fragment. `https://x.y/a/b?c=1#d` → `/a/b?c=1`; a bare host gives `/`;
/// text without `://` is taken as already relative (`/a?b#c` → `/a?b`).
pub fn path_and_search(url: &str) -> &str {
    let url = match url.find('#') {
        Some(i) => sub(url, 0, i),
        None => url,
    };
    match find_str(url, "://") {
        Some(i) => {
            let rest = from(url, i + 3);
            match rest.find(['/', '?']) {
                Some(j) if rest.as_bytes().get(j) == Some(&b'/') => from(rest, j),
                // `https://x.y?q` has an empty path: match it as `/`-less search.
                Some(j) => from(rest, j),
                None => "/",
            }
        }
        None => url,
    }
}

/// Whether `text` matches the glob `pattern` as a whole, where `*` stands for any
/// run of characters (including none) and every other character for itself.
/// Runs in O(len(pattern) × len(text)) at worst, without recursion.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether the page at `url` matches the URL pattern `pattern` (a glob on the
/// path and search, see [`path_and_search`] and [`glob_match`]).
pub fn url_matches(pattern: &str, url: &str) -> bool {
    glob_match(pattern, path_and_search(url))
}

/// Where `needle` first occurs in `hay` (a byte offset), in linear time
/// (Knuth–Morris–Pratt). Written here rather than `str::find` / `contains` with
/// a `&str` pattern, whose searcher pulls in `core`'s two-way search and the
/// slice-error message (about 3.3 KB of wasm, measured with twiggy).
pub(crate) fn find_str(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return Some(0);
    }
    // `fail[i]`: the length of the longest proper prefix of `needle[..=i]` that is
    // also its suffix. Read with `get` (k < n.len() always holds, but the
    // compiler cannot see it: indexing kept a bounds-check panic path).
    let mut fail = vec![0usize; n.len()];
    let back = |fail: &[usize], k: usize| fail.get(k.wrapping_sub(1)).copied().unwrap_or(0);
    let mut k = 0;
    for (i, &c) in n.iter().enumerate().skip(1) {
        while k > 0 && n.get(k) != Some(&c) {
            k = back(&fail, k);
        }
        if n.get(k) == Some(&c) {
            k += 1;
        }
        if let Some(f) = fail.get_mut(i) {
            *f = k;
        }
    }
    let mut k = 0;
    for (i, &b) in h.iter().enumerate() {
        while k > 0 && n.get(k) != Some(&b) {
            k = back(&fail, k);
        }
        if n.get(k) == Some(&b) {
            k += 1;
        }
        if k == n.len() {
            return Some(i + 1 - n.len());
        }
    }
    None
}

/// `s[a..b]`, or `""` when that is out of range or not on char boundaries (the
/// callers pass boundaries they found). `str` indexing would pull in
/// `core::fmt`'s slice-error message: a few KB of wasm (measured: 3.7 KB
/// gzipped when one indexing site entered the core module).
pub(crate) fn sub(s: &str, a: usize, b: usize) -> &str {
    s.get(a..b).unwrap_or("")
}

/// `s[a..]`, or `""` (see [`sub`]).
pub(crate) fn from(s: &str, a: usize) -> &str {
    s.get(a..).unwrap_or("")
}

/// Sorts `v` by `key`, stably, by insertion: the lists it sorts are short
/// (event names, occurrences), and each `core` sort instantiation costs
/// about 2 KB of wasm (measured with twiggy), this one about 100 bytes.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Removes repeated items, keeping the first of each (order kept; quadratic,
/// for short lists, without a sort).
pub fn dedup<T: PartialEq>(v: &mut Vec<T>) {
    let mut i = 0;
    while i < v.len() {
        if v[..i].contains(&v[i]) {
            v.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Appends the decimal digits of `n` (no `core::fmt`).
pub(crate) fn push_usize(n: usize, out: &mut String) {
    crate::core::json::push_u64(n as u64, out);
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    proptest::proptest! {
        /// `find_str` agrees with `str::find` (on a small alphabet, so that
        /// partial matches and overlaps are frequent).
        #[test]
        fn find_str_agrees_with_std(hay in "[abé]{0,40}", needle in "[abé]{0,5}") {
            proptest::prop_assert_eq!(find_str(&hay, &needle), hay.find(needle.as_str()));
        }
    }

    #[test]
    fn find_str_is_linear_on_adversarial_input() {
        let hay = "a".repeat(200_000) + "b";
        let needle = "a".repeat(50_000) + "b";
        let t = std::time::Instant::now();
        assert_eq!(find_str(&hay, &needle), Some(150_000));
        assert_eq!(find_str(&hay, "ab"), Some(199_999));
        assert_eq!(find_str("", "x"), None);
        assert!(t.elapsed().as_millis() < 500, "{:?}", t.elapsed());
    }

    #[test]
    fn small_sorts_are_stable_and_dedup_keeps_first() {
        let mut v = vec![(3, 'a'), (1, 'b'), (3, 'c'), (0, 'd'), (1, 'e')];
        sort_by_key(&mut v, |x| x.0);
        assert_eq!(v, [(0, 'd'), (1, 'b'), (1, 'e'), (3, 'a'), (3, 'c')]);
        let mut w = vec!["b", "a", "b", "c", "a"];
        dedup(&mut w);
        assert_eq!(w, ["b", "a", "c"]);
    }

    #[test]
    fn globs() {
        assert!(glob_match("/dashboard*", "/dashboard"));
        assert!(glob_match("/dashboard*", "/dashboard/x?y=1"));
        assert!(!glob_match("/dashboard*", "/dash"));
        assert!(glob_match("*", ""));
        assert!(glob_match("/a*c*e", "/abcde"));
        assert!(!glob_match("/a*c*e", "/abcdef"));
        assert!(glob_match("/settings", "/settings"));
        assert!(!glob_match("/settings", "/settings/"));
        assert!(glob_match("*?tab=billing*", "/settings?tab=billing&x=1"));
        assert!(!glob_match("", "/"));
        let long = "a".repeat(5000);
        assert!(!glob_match("*a*a*a*a*b", &long));
    }

    #[test]
    fn paths() {
        assert_eq!(path_and_search("https://x.y/a/b?c=1#d"), "/a/b?c=1");
        assert_eq!(path_and_search("https://x.y"), "/");
        assert_eq!(path_and_search("https://x.y?q=1"), "?q=1");
        assert_eq!(path_and_search("/a?b#c"), "/a?b");
        assert_eq!(path_and_search(""), "");
        assert!(url_matches(
            "/dashboard*",
            "http://localhost:8080/dashboard?x#y"
        ));
        assert!(!url_matches(
            "/dashboard*",
            "http://localhost:8080/settings#/dashboard"
        ));
    }
}

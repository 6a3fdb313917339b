//! Tab coordination: storage key names, which tab id a page load takes, its own
//! stored events, and which stored events belong to tabs that are gone.

#[allow(unused_imports)]
use crate::prelude::*;

use super::{LEAVE_GRACE_MS, STALE_TAB_MS};
use crate::core::delivery::Item;
use crate::core::journal;
use crate::core::json::{self, parse_u64, push_u64, Json};

/// `<prefix>q:<tab>:<first>`: a chunk of queued events.
pub(super) fn chunk_key(prefix: &str, tab: &str, first: u64) -> String {
    let mut k = String::with_capacity(prefix.len() + tab.len() + 24);
    k.push_str(prefix);
    k.push_str("q:");
    k.push_str(tab);
    k.push(':');
    push_u64(first, &mut k);
    k
}

/// `<prefix>tab:<tab>`: a tab's heartbeat.
pub(super) fn heartbeat_key(prefix: &str, tab: &str) -> String {
    String::from(prefix) + "tab:" + tab
}

/// A stored key, parsed.
enum Key<'a> {
    Chunk { tab: &'a str, first: u64 },
    Heartbeat { tab: &'a str },
}

fn parse_key<'a>(prefix: &str, key: &'a str) -> Option<Key<'a>> {
    let rest = key.strip_prefix(prefix)?;
    if let Some(rest) = rest.strip_prefix("q:") {
        // A byte search: `rsplit_once` brings a reverse memchr (0.6 KB of wasm).
        let at = rest.bytes().rposition(|b| b == b':')?;
        let (tab, first) = (rest.get(..at)?, rest.get(at + 1..)?);
        let first = parse_u64(first)?;
        return (!tab.is_empty()).then_some(Key::Chunk { tab, first });
    }
    let tab = rest.strip_prefix("tab:")?;
    (!tab.is_empty()).then_some(Key::Heartbeat { tab })
}

/// A tab's heartbeat, as stored.
enum Beat {
    /// None, or unreadable.
    Missing,
    /// The page was alive at this time.
    Alive(u64),
    /// The page went away at this time (`left:<ms>`).
    Left(u64),
}

/// The value of a leaving page's heartbeat.
pub(super) fn left_value(now: u64) -> String {
    let mut v = String::from("left:");
    push_u64(now, &mut v);
    v
}

/// Reads one localStorage key (the shell's storage, or a test's).
pub type Read<'a> = dyn FnMut(&str) -> Option<String> + 'a;

fn beat(prefix: &str, tab: &str, read: &mut Read) -> Beat {
    let Some(value) = read(&heartbeat_key(prefix, tab)) else {
        return Beat::Missing;
    };
    match value.strip_prefix("left:") {
        Some(t) => parse_u64(t).map_or(Beat::Missing, Beat::Left),
        None => parse_u64(&value).map_or(Beat::Missing, Beat::Alive),
    }
}

/// Whether another tab may take `tab`'s events: it has no heartbeat, one older
/// than [`STALE_TAB_MS`], or it left more than [`LEAVE_GRACE_MS`] ago (a
/// reload of that tab takes them back itself, in order, within the grace).
fn is_gone(prefix: &str, tab: &str, read: &mut Read, now: u64) -> bool {
    match beat(prefix, tab, read) {
        Beat::Missing => true,
        Beat::Alive(t) => now.saturating_sub(t) > STALE_TAB_MS,
        Beat::Left(t) => now.saturating_sub(t) > LEAVE_GRACE_MS,
    }
}

/// The tab id this page load takes: the one sessionStorage kept (a reload of
/// the same tab), unless a live page uses it (its heartbeat is fresh: a
/// duplicated tab or a second instance in a frame share sessionStorage).
/// `None`: take a new one.
pub(super) fn choose_tab(
    prefix: &str,
    session_tab: Option<String>,
    read: &mut Read,
    now: u64,
) -> Option<String> {
    let tab = session_tab?;
    let usable = !tab.is_empty() && !tab.contains(':') && tab.len() <= 64;
    let free = match beat(prefix, &tab, read) {
        Beat::Missing | Beat::Left(_) => true,
        Beat::Alive(t) => now.saturating_sub(t) > STALE_TAB_MS,
    };
    (usable && free).then_some(tab)
}

/// This tab's stored events, in order, and the chunks holding them.
pub(super) struct Own {
    /// The events, numbered as [`crate::core::journal`] describes.
    pub items: Vec<Item>,
    /// `(chunk name, the events' seqs)`, by name.
    pub chunks: Vec<(u64, Vec<u64>)>,
    /// Lines that are not a JSON object (corrupt storage): never sent (one would
    /// make Segment refuse a whole batch), reported dropped as invalid.
    pub invalid: Vec<Item>,
    /// Chunks that held invalid lines: rewritten without them (removed when
    /// nothing valid is left).
    pub rewrite: Vec<u64>,
}

/// The events of one stored chunk value, numbered from `next` on (at least
/// `first + k`), and its lines that are not a JSON object.
fn chunk_items(value: &str, first: u64, next: &mut u64, now: u64) -> (Vec<Item>, Vec<Item>) {
    let mut items = Vec::new();
    let mut invalid = Vec::new();
    for (k, s) in journal::decode(value).into_iter().enumerate() {
        let seq = first.saturating_add(k as u64).max(*next);
        *next = seq.saturating_add(1);
        let item = Item {
            seq,
            message_id: s.message_id.to_owned(),
            json: s.json.to_owned(),
            attempts: s.attempts,
            queued_at: s.queued_at.unwrap_or(now),
        };
        if matches!(json::parse(s.json), Ok(Json::Object(_))) {
            items.push(item);
        } else {
            invalid.push(item);
        }
    }
    (items, invalid)
}

/// This tab's own stored chunks (from an earlier load of the same tab).
pub(super) fn own_items(
    prefix: &str,
    tab: &str,
    keys: &[String],
    read: &mut Read,
    now: u64,
) -> Own {
    // In order of their names; inserted in place rather than sorted (a sort
    // instantiated for this one type costs more wasm than the few chunks do).
    let mut chunks: Vec<(u64, String)> = Vec::new();
    for k in keys {
        if let Some(Key::Chunk { tab: t, first }) = parse_key(prefix, k) {
            if t == tab {
                if let Some(v) = read(k) {
                    let at = chunks.partition_point(|c| c.0 < first);
                    chunks.insert(at, (first, v));
                }
            }
        }
    }
    let mut own = Own {
        items: Vec::new(),
        chunks: Vec::new(),
        invalid: Vec::new(),
        rewrite: Vec::new(),
    };
    let mut next = 0;
    for (first, value) in chunks {
        let (items, invalid) = chunk_items(&value, first, &mut next, now);
        // A chunk with no readable line at all is rewritten (removed) too.
        if !invalid.is_empty() || items.is_empty() {
            own.rewrite.push(first);
        }
        own.chunks
            .push((first, items.iter().map(|i| i.seq).collect()));
        own.items.extend(items);
        own.invalid.extend(invalid);
    }
    own
}

/// One orphaned chunk: its key and its events (numbered later, at adoption).
pub(super) struct OrphanChunk {
    /// The chunk's key, to remove once its events are stored under this tab's.
    pub key: String,
    /// Its events, in order (`seq` 0).
    pub items: Vec<Item>,
    /// Its lines that are not a JSON object.
    pub invalid: Vec<Item>,
}

/// Other tabs' orphaned events.
pub(super) struct Orphans {
    /// The chunks of gone tabs, tab by tab, each tab's in order.
    pub chunks: Vec<OrphanChunk>,
    /// Heartbeats of gone tabs, to remove once all their chunks are adopted.
    pub beats: Vec<String>,
}

/// The chunks stored by tabs other than `own` that are gone, in (tab, chunk)
/// order, and those tabs' heartbeats. `keys` are the keys under the prefix;
/// values are read only for heartbeats and gone tabs' chunks.
pub(super) fn orphans(
    prefix: &str,
    own: &str,
    keys: &[String],
    read: &mut Read,
    now: u64,
) -> Orphans {
    // Each tab's heartbeat is read once.
    let mut gone: Vec<(String, bool)> = Vec::new();
    let mut is_gone_tab = |tab: &str, read: &mut Read| -> bool {
        if let Some(g) = gone.iter().find(|g| g.0 == tab) {
            return g.1;
        }
        let g = is_gone(prefix, tab, read, now);
        gone.push((tab.to_owned(), g));
        g
    };
    let mut found: Vec<(&str, u64, &str)> = Vec::new();
    let mut beats = Vec::new();
    for k in keys {
        match parse_key(prefix, k) {
            Some(Key::Chunk { tab, first }) if tab != own && is_gone_tab(tab, read) => {
                let at = found.partition_point(|c| (c.0, c.1) < (tab, first));
                found.insert(at, (tab, first, k.as_str()));
            }
            Some(Key::Heartbeat { tab }) if tab != own && is_gone_tab(tab, read) => {
                beats.push(k.clone());
            }
            _ => {}
        }
    }
    let mut chunks = Vec::with_capacity(found.len());
    for (_, _, key) in found {
        let mut next = 0;
        let (items, invalid) = match read(key) {
            Some(value) => chunk_items(&value, 0, &mut next, now),
            None => (Vec::new(), Vec::new()),
        };
        chunks.push(OrphanChunk {
            key: key.to_owned(),
            items,
            invalid,
        });
    }
    Orphans { chunks, beats }
}

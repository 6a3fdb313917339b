//! How queued events are kept in storage: in chunks, written once per task rather
//! than once per call, and rewritten or removed as their events are delivered.
//!
//! A `track()` call adds its event to the pending list; the shell commits that list
//! at the end of the current task (a microtask), before the page can reload or close,
//! as one `localStorage` write per chunk. Delivered or dropped events leave their
//! chunk: an empty chunk is removed, a partly sent one rewritten with the rest, so a
//! reload resends exactly the events still owed.

/// Most events in one stored chunk.
pub const CHUNK_EVENTS: usize = 50;
/// Most bytes of one stored chunk (a single event may exceed it alone).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// A storage operation for the shell. Chunks are named by their first sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Store `value` under chunk `first`.
    Set {
        /// The chunk's name.
        first: u64,
        /// Its encoded events.
        value: String,
    },
    /// Remove chunk `first`.
    Remove {
        /// The chunk's name.
        first: u64,
    },
}

#[derive(Debug)]
struct Chunk {
    first: u64,
    entries: Vec<(u64, String)>,
}

/// Which stored chunk holds which queued event.
#[derive(Debug, Default)]
pub struct Journal {
    chunks: Vec<Chunk>,
    pending: Vec<(u64, String)>,
}

/// One event as stored: its `messageId`, a tab character, the message JSON.
pub fn encode_entry(message_id: &str, json: &str) -> String {
    let mut v = String::with_capacity(message_id.len() + json.len() + 1);
    v.push_str(message_id);
    v.push('\t');
    v.push_str(json);
    v
}

/// The `(messageId, json)` pairs of a stored chunk, one event per line (JSON text never
/// holds a raw newline). Malformed lines are skipped.
pub fn decode(value: &str) -> Vec<(&str, &str)> {
    value
        .split('\n')
        .filter_map(|line| {
            let (id, json) = line.split_once('\t')?;
            (!id.is_empty() && json.starts_with('{')).then_some((id, json))
        })
        .collect()
}

fn join(entries: &[(u64, String)]) -> String {
    let mut out = String::with_capacity(entries.iter().map(|(_, v)| v.len() + 1).sum());
    for (i, (_, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(v);
    }
    out
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Journal::default()
    }

    /// Records an event (its [`encode_entry`] text) to be written at the next commit.
    pub fn add(&mut self, seq: u64, entry: String) {
        self.pending.push((seq, entry));
    }

    /// Whether a commit has something to write.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the pending events as new chunks of at most [`CHUNK_EVENTS`] events and
    /// about [`CHUNK_BYTES`] bytes.
    pub fn commit(&mut self) -> Vec<Write> {
        let mut writes = Vec::new();
        let mut current: Vec<(u64, String)> = Vec::new();
        let mut bytes = 0;
        for (seq, entry) in std::mem::take(&mut self.pending) {
            if !current.is_empty()
                && (current.len() >= CHUNK_EVENTS || bytes + entry.len() > CHUNK_BYTES)
            {
                writes.push(self.close(std::mem::take(&mut current)));
                bytes = 0;
            }
            bytes += entry.len() + 1;
            current.push((seq, entry));
        }
        if !current.is_empty() {
            writes.push(self.close(current));
        }
        writes
    }

    fn close(&mut self, entries: Vec<(u64, String)>) -> Write {
        let first = entries[0].0;
        let value = join(&entries);
        self.chunks.push(Chunk { first, entries });
        Write::Set { first, value }
    }

    /// Forgets delivered, dropped or evicted events: chunks left empty are removed,
    /// chunks that still hold others are rewritten (once, whatever the number of
    /// events that left them).
    pub fn done(&mut self, seqs: &[u64]) -> Vec<Write> {
        self.pending.retain(|(s, _)| !seqs.contains(s));
        let mut writes = Vec::new();
        self.chunks.retain_mut(|chunk| {
            let before = chunk.entries.len();
            chunk.entries.retain(|(s, _)| !seqs.contains(s));
            if chunk.entries.is_empty() {
                writes.push(Write::Remove { first: chunk.first });
                false
            } else {
                if chunk.entries.len() != before {
                    writes.push(Write::Set {
                        first: chunk.first,
                        value: join(&chunk.entries),
                    });
                }
                true
            }
        });
        writes
    }

    /// Events stored or pending.
    pub fn len(&self) -> usize {
        self.pending.len() + self.chunks.iter().map(|c| c.entries.len()).sum::<usize>()
    }

    /// Whether nothing is stored or pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Applies writes to a fake storage.
    fn apply(store: &mut BTreeMap<u64, String>, writes: Vec<Write>) {
        for w in writes {
            match w {
                Write::Set { first, value } => {
                    store.insert(first, value);
                }
                Write::Remove { first } => {
                    store.remove(&first);
                }
            }
        }
    }

    fn stored_ids(store: &BTreeMap<u64, String>) -> Vec<String> {
        store
            .values()
            .flat_map(|v| decode(v).into_iter().map(|(id, _)| id.to_owned()))
            .collect()
    }

    fn entry(i: u64) -> String {
        encode_entry(&format!("m{i}"), &format!("{{\"i\":{i}}}"))
    }

    #[test]
    fn one_write_per_commit_and_removal_when_all_are_done() {
        let mut j = Journal::new();
        let mut store = BTreeMap::new();
        for i in 1..=5 {
            j.add(i, entry(i));
        }
        let writes = j.commit();
        assert_eq!(writes.len(), 1);
        apply(&mut store, writes);
        assert_eq!(stored_ids(&store), ["m1", "m2", "m3", "m4", "m5"]);
        assert!(!j.has_pending());
        apply(&mut store, j.done(&[1, 2]));
        assert_eq!(stored_ids(&store), ["m3", "m4", "m5"]);
        apply(&mut store, j.done(&[3, 4, 5]));
        assert!(store.is_empty());
        assert!(j.is_empty());
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes() {
        let mut j = Journal::new();
        for i in 0..120 {
            j.add(i, entry(i));
        }
        let writes = j.commit();
        assert_eq!(writes.len(), 3);
        let mut j = Journal::new();
        let big = encode_entry("big", &format!("{{\"x\":\"{}\"}}", "y".repeat(40_000)));
        j.add(1, big.clone());
        j.add(2, big);
        j.add(3, entry(3));
        assert_eq!(j.commit().len(), 2);
    }

    #[test]
    fn events_done_before_the_commit_are_never_written() {
        let mut j = Journal::new();
        j.add(1, entry(1));
        j.add(2, entry(2));
        assert!(j.done(&[1]).is_empty());
        let writes = j.commit();
        let mut store = BTreeMap::new();
        apply(&mut store, writes);
        assert_eq!(stored_ids(&store), ["m2"]);
    }

    #[test]
    fn decode_skips_malformed_lines() {
        let v = "m1\t{\"a\":1}\ngarbage\n\t{}\nm2\tnot json\nm3\t{}";
        assert_eq!(decode(v), [("m1", "{\"a\":1}"), ("m3", "{}")]);
    }

    proptest! {
        /// Whatever the interleaving of adds, commits and completions, storage holds
        /// exactly the committed events not yet done, in order.
        #[test]
        fn storage_mirrors_what_is_still_owed(ops in prop::collection::vec((0u8..3, 0u64..40), 1..200)) {
            let mut j = Journal::new();
            let mut store = BTreeMap::new();
            let mut next = 0u64;
            let mut owed: Vec<u64> = Vec::new();
            let mut committed: Vec<u64> = Vec::new();
            for (op, arg) in ops {
                match op {
                    0 => {
                        for _ in 0..=(arg % 7) {
                            j.add(next, entry(next));
                            owed.push(next);
                            next += 1;
                        }
                    }
                    1 => {
                        apply(&mut store, j.commit());
                        committed = owed.clone();
                    }
                    _ => {
                        let done: Vec<u64> = owed.iter().copied().filter(|s| s % 40 <= arg).take(9).collect();
                        apply(&mut store, j.done(&done));
                        owed.retain(|s| !done.contains(s));
                        committed.retain(|s| !done.contains(s));
                    }
                }
                let want: Vec<String> = committed.iter().map(|s| format!("m{s}")).collect();
                let mut got = stored_ids(&store);
                got.sort_by_key(|id| id[1..].parse::<u64>().unwrap());
                prop_assert_eq!(got, want);
                prop_assert_eq!(j.len(), owed.len());
            }
        }
    }
}

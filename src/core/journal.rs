//! How queued events are kept in storage: in chunks, written once per task rather
//! than once per call, and rewritten or removed as their events are delivered.
//!
//! A `track()` call adds its event to the pending list; the shell commits that list
//! at the end of the current task (a microtask), before the page can reload or close,
//! as one `localStorage` write per chunk. Delivered or dropped events leave their
//! chunk: an empty chunk is removed, a partly sent one rewritten with the rest, so a
//! reload resends exactly the events still owed. A failed attempt rewrites the
//! chunks of the events it carried, so their attempt counts survive a reload.
//!
//! The journal only knows which chunk holds which sequence number; the event
//! text comes from the delivery queue ([`Delivery::items`]) when a chunk is
//! written, so each event is held in memory once.
//!
//! # Format
//! One event per line (JSON text never holds a raw newline):
//! `messageId<TAB>queuedAt<TAB>attempts<TAB>json`, with `queuedAt` the epoch
//! milliseconds of the first queueing and `attempts` the failed attempts so
//! far. Lines of the earlier format, `messageId<TAB>json`, are still read. A
//! chunk named `first` holds events numbered from `first` up to (not including)
//! the next chunk's name, in order; reading it back, the k-th line becomes
//! event `first + k`, which keeps every event's place in the queue.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::delivery::{Delivery, Item};
use crate::core::json::push_u64;

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

/// One event read back from a stored chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored<'a> {
    /// The `messageId`.
    pub message_id: &'a str,
    /// When it was first queued; `None` in the earlier format.
    pub queued_at: Option<u64>,
    /// Failed attempts so far (0 in the earlier format).
    pub attempts: u32,
    /// The message JSON.
    pub json: &'a str,
}

#[derive(Debug)]
struct Chunk {
    first: u64,
    /// Sequence numbers of the events it holds, ascending.
    seqs: Vec<u64>,
}

/// Which stored chunk holds which queued event.
#[derive(Debug, Default)]
pub struct Journal {
    chunks: Vec<Chunk>,
    /// Events queued since the last commit, ascending.
    pending: Vec<u64>,
}

/// Appends one event's line (without the newline).
pub fn encode_line(item: &Item, out: &mut String) {
    out.push_str(&item.message_id);
    out.push('\t');
    push_u64(item.queued_at, out);
    out.push('\t');
    push_u64(u64::from(item.attempts), out);
    out.push('\t');
    out.push_str(&item.json);
}

/// The events of a stored chunk, in order. Malformed lines are skipped.
pub fn decode(value: &str) -> Vec<Stored<'_>> {
    value.split('\n').filter_map(decode_line).collect()
}

fn decode_line(line: &str) -> Option<Stored<'_>> {
    let (message_id, rest) = line.split_once('\t')?;
    if message_id.is_empty() {
        return None;
    }
    if rest.starts_with('{') {
        return Some(Stored {
            message_id,
            queued_at: None,
            attempts: 0,
            json: rest,
        });
    }
    let mut parts = rest.splitn(3, '\t');
    let queued_at = crate::core::json::parse_u64(parts.next()?)?;
    let attempts = u32::try_from(crate::core::json::parse_u64(parts.next()?)?).ok()?;
    let json = parts.next()?;
    json.starts_with('{').then_some(Stored {
        message_id,
        queued_at: Some(queued_at),
        attempts,
        json,
    })
}

/// A membership test over `seqs`: a binary search when they are ascending (as
/// the delivery queue's reports are), else a scan. Sortedness is checked once.
struct Members<'a> {
    seqs: &'a [u64],
    sorted: bool,
}

impl Members<'_> {
    fn of(seqs: &[u64]) -> Members<'_> {
        Members {
            seqs,
            sorted: seqs.is_sorted(),
        }
    }

    fn has(&self, seq: u64) -> bool {
        if self.sorted {
            self.seqs.binary_search(&seq).is_ok()
        } else {
            self.seqs.contains(&seq)
        }
    }

    /// Removes the members from `seqs` (one copy of `Vec::retain` for every
    /// caller: each closure would get its own in the wasm).
    #[inline(never)]
    fn remove_from(&self, seqs: &mut Vec<u64>) {
        seqs.retain(|&s| !self.has(s));
    }
}

/// The text of a chunk holding `seqs`, from the queued items; events no longer
/// queued are left out.
fn chunk_text(seqs: &[u64], delivery: &Delivery) -> String {
    let mut out = String::new();
    for &seq in seqs {
        if let Some(item) = delivery.item(seq) {
            if !out.is_empty() {
                out.push('\n');
            }
            encode_line(item, &mut out);
        }
    }
    out
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Journal::default()
    }

    /// Records a queued event, to be written at the next commit.
    pub fn add(&mut self, seq: u64) {
        self.pending.push(seq);
    }

    /// Takes over a chunk found in storage (this tab's own, from an earlier page
    /// load) holding events `seqs`, without writing it.
    pub fn restore(&mut self, first: u64, seqs: Vec<u64>) {
        let at = self.chunks.partition_point(|c| c.first < first);
        self.chunks.insert(at, Chunk { first, seqs });
    }

    /// Whether a commit has something to write.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the pending events (those still queued in `delivery`) as new chunks
    /// of at most [`CHUNK_EVENTS`] events and about [`CHUNK_BYTES`] bytes.
    pub fn commit(&mut self, delivery: &Delivery) -> Vec<Write> {
        let mut writes = Vec::new();
        let mut current: Vec<u64> = Vec::new();
        let mut value = String::new();
        for seq in core::mem::take(&mut self.pending) {
            let Some(item) = delivery.item(seq) else {
                continue;
            };
            let len = item.message_id.len() + item.json.len() + 24;
            if !current.is_empty()
                && (current.len() >= CHUNK_EVENTS || value.len() + len > CHUNK_BYTES)
            {
                writes.push(self.close(core::mem::take(&mut current), &mut value));
            }
            if !current.is_empty() {
                value.push('\n');
            }
            encode_line(item, &mut value);
            current.push(seq);
        }
        if !current.is_empty() {
            writes.push(self.close(current, &mut value));
        }
        writes
    }

    fn close(&mut self, seqs: Vec<u64>, value: &mut String) -> Write {
        let first = seqs[0];
        self.chunks.push(Chunk { first, seqs });
        Write::Set {
            first,
            value: core::mem::take(value),
        }
    }

    /// Forgets delivered, dropped or evicted events (already gone from
    /// `delivery`): chunks left empty are removed, chunks that still hold others
    /// are rewritten once, whatever the number of events that left them.
    pub fn done(&mut self, seqs: &[u64], delivery: &Delivery) -> Vec<Write> {
        let gone = Members::of(seqs);
        gone.remove_from(&mut self.pending);
        let mut writes = Vec::new();
        self.chunks.retain_mut(|chunk| {
            let before = chunk.seqs.len();
            gone.remove_from(&mut chunk.seqs);
            if chunk.seqs.is_empty() {
                writes.push(Write::Remove { first: chunk.first });
                false
            } else {
                if chunk.seqs.len() != before {
                    writes.push(Write::Set {
                        first: chunk.first,
                        value: chunk_text(&chunk.seqs, delivery),
                    });
                }
                true
            }
        });
        writes
    }

    /// Rewrites the chunks holding `seqs`, whose attempt counts changed.
    /// Pending events are written by the next commit anyway.
    pub fn touched(&mut self, seqs: &[u64], delivery: &Delivery) -> Vec<Write> {
        let touched = Members::of(seqs);
        self.chunks
            .iter()
            .filter(|c| c.seqs.iter().any(|&s| touched.has(s)))
            .map(|c| Write::Set {
                first: c.first,
                value: chunk_text(&c.seqs, delivery),
            })
            .collect()
    }

    /// Rewrites chunks `firsts` from the queued events they hold (removing those
    /// left empty): after corrupt lines were left out of them.
    pub fn rewrite(&mut self, firsts: &[u64], delivery: &Delivery) -> Vec<Write> {
        let mut writes = Vec::new();
        self.chunks.retain_mut(|chunk| {
            if !firsts.contains(&chunk.first) {
                return true;
            }
            chunk.seqs.retain(|&s| delivery.item(s).is_some());
            if chunk.seqs.is_empty() {
                writes.push(Write::Remove { first: chunk.first });
                false
            } else {
                writes.push(Write::Set {
                    first: chunk.first,
                    value: chunk_text(&chunk.seqs, delivery),
                });
                true
            }
        });
        writes
    }

    /// The chunks and the events each holds, by name.
    pub fn chunks(&self) -> impl Iterator<Item = (u64, &[u64])> {
        self.chunks.iter().map(|c| (c.first, c.seqs.as_slice()))
    }

    /// Forgets events without writing anything: another tab took them (and
    /// their chunks) over. Chunks left empty are forgotten too.
    pub fn forget(&mut self, seqs: &[u64]) {
        let taken = Members::of(seqs);
        taken.remove_from(&mut self.pending);
        self.chunks.retain_mut(|chunk| {
            taken.remove_from(&mut chunk.seqs);
            !chunk.seqs.is_empty()
        });
    }

    /// Events stored or pending.
    pub fn len(&self) -> usize {
        self.pending.len() + self.chunks.iter().map(|c| c.seqs.len()).sum::<usize>()
    }

    /// Whether nothing is stored or pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::delivery::DeliveryConfig;
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
            .flat_map(|v| decode(v).into_iter().map(|s| s.message_id.to_owned()))
            .collect()
    }

    /// A delivery queue and a journal fed together, as the client does.
    struct Q {
        d: Delivery,
        j: Journal,
        n: u64,
    }

    impl Q {
        fn new() -> Self {
            Q {
                d: Delivery::new(
                    DeliveryConfig {
                        max_queue_events: 100_000,
                        max_queue_bytes: 1 << 30,
                        ..DeliveryConfig::default()
                    },
                    1,
                ),
                j: Journal::new(),
                n: 0,
            }
        }

        fn add(&mut self, size: usize) -> u64 {
            self.n += 1;
            let id = format!("m{}", self.n);
            let json = format!("{{\"i\":{},\"p\":\"{}\"}}", self.n, "x".repeat(size));
            let seq = self.d.enqueue(1000 + self.n, id, json).unwrap().seq;
            self.j.add(seq);
            seq
        }

        /// Removes events from the queue (as a delivery would) and from the journal.
        fn deliver(&mut self, seqs: &[u64]) -> Vec<Write> {
            self.d.remove(seqs);
            self.j.done(seqs, &self.d)
        }
    }

    #[test]
    fn one_write_per_commit_and_removal_when_all_are_done() {
        let mut q = Q::new();
        let mut store = BTreeMap::new();
        for _ in 1..=5 {
            q.add(1);
        }
        let writes = q.j.commit(&q.d);
        assert_eq!(writes.len(), 1);
        apply(&mut store, writes);
        assert_eq!(stored_ids(&store), ["m1", "m2", "m3", "m4", "m5"]);
        assert!(!q.j.has_pending());
        apply(&mut store, q.deliver(&[1, 2]));
        assert_eq!(stored_ids(&store), ["m3", "m4", "m5"]);
        apply(&mut store, q.deliver(&[3, 4, 5]));
        assert!(store.is_empty());
        assert!(q.j.is_empty());
    }

    #[test]
    fn lines_carry_first_queued_time_and_attempts() {
        let mut q = Q::new();
        q.add(1);
        let writes = q.j.commit(&q.d);
        let Write::Set { value, .. } = &writes[0] else {
            panic!("{writes:?}")
        };
        assert_eq!(value, "m1\t1001\t0\t{\"i\":1,\"p\":\"x\"}");
        let back = decode(value);
        assert_eq!(
            back,
            [Stored {
                message_id: "m1",
                queued_at: Some(1001),
                attempts: 0,
                json: "{\"i\":1,\"p\":\"x\"}",
            }]
        );
    }

    #[test]
    fn touched_chunks_are_rewritten_with_the_new_attempts() {
        let mut q = Q::new();
        let mut store = BTreeMap::new();
        for _ in 0..3 {
            q.add(1);
        }
        apply(&mut store, q.j.commit(&q.d));
        q.d.request_flush();
        let t = q.d.poll_transmit(2000, true).unwrap();
        q.d.handle_response(2000, t.id, crate::core::delivery::Outcome::NetworkError);
        apply(&mut store, q.j.touched(&t.seqs, &q.d));
        let attempts: Vec<u32> = decode(&store[&1]).iter().map(|s| s.attempts).collect();
        assert_eq!(attempts, [1, 1, 1]);
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes() {
        let mut q = Q::new();
        for _ in 0..120 {
            q.add(1);
        }
        assert_eq!(q.j.commit(&q.d).len(), 3);
        let mut q = Q::new();
        q.add(30_000);
        q.add(30_000);
        q.add(30_000);
        q.add(1);
        assert_eq!(q.j.commit(&q.d).len(), 2);
    }

    #[test]
    fn events_done_before_the_commit_are_never_written() {
        let mut q = Q::new();
        q.add(1);
        q.add(1);
        assert!(q.deliver(&[1]).is_empty());
        let mut store = BTreeMap::new();
        apply(&mut store, q.j.commit(&q.d));
        assert_eq!(stored_ids(&store), ["m2"]);
    }

    #[test]
    fn decode_reads_both_formats_and_skips_malformed_lines() {
        let v = "m1\t{\"a\":1}\ngarbage\n\t{}\nm2\tnot json\nm3\t{}\nm4\t17\t2\t{\"b\":2}\nm5\tx\t2\t{}\nm6\t1\t2\tnope";
        let got: Vec<(&str, Option<u64>, u32, &str)> = decode(v)
            .into_iter()
            .map(|s| (s.message_id, s.queued_at, s.attempts, s.json))
            .collect();
        assert_eq!(
            got,
            [
                ("m1", None, 0, "{\"a\":1}"),
                ("m3", None, 0, "{}"),
                ("m4", Some(17), 2, "{\"b\":2}"),
            ]
        );
    }

    proptest! {
        /// Whatever the interleaving of adds, commits, failures and completions,
        /// storage holds exactly the committed events not yet done, in order, each
        /// with its current attempt count.
        #[test]
        fn storage_mirrors_what_is_still_owed(ops in prop::collection::vec((0u8..4, 0u64..40), 1..200)) {
            let mut q = Q::new();
            let mut store = BTreeMap::new();
            let mut owed: Vec<u64> = Vec::new();
            let mut committed: Vec<u64> = Vec::new();
            let mut now = 10_000;
            for (op, arg) in ops {
                match op {
                    0 => {
                        for _ in 0..=(arg % 7) {
                            owed.push(q.add((arg % 5) as usize));
                        }
                    }
                    1 => {
                        apply(&mut store, q.j.commit(&q.d));
                        committed = owed.clone();
                    }
                    2 => {
                        now += 100_000;
                        q.d.request_flush();
                        if let Some(t) = q.d.poll_transmit(now, true) {
                            q.d.handle_response(now, t.id, crate::core::delivery::Outcome::NetworkError);
                            apply(&mut store, q.j.touched(&t.seqs, &q.d));
                        }
                    }
                    _ => {
                        let done: Vec<u64> = owed.iter().copied().filter(|s| s % 40 <= arg).take(9).collect();
                        apply(&mut store, q.deliver(&done));
                        owed.retain(|s| !done.contains(s));
                        committed.retain(|s| !done.contains(s));
                    }
                }
                let want: Vec<(String, u32)> = committed
                    .iter()
                    .map(|s| {
                        let item = q.d.item(*s).unwrap();
                        (item.message_id.clone(), item.attempts)
                    })
                    .collect();
                let mut got: Vec<(String, u32)> = store
                    .values()
                    .flat_map(|v| decode(v).into_iter().map(|s| (s.message_id.to_owned(), s.attempts)))
                    .collect();
                got.sort_by_key(|(id, _)| id[1..].parse::<u64>().unwrap());
                prop_assert_eq!(got, want);
                prop_assert_eq!(q.j.len(), owed.len());
            }
        }
    }
}

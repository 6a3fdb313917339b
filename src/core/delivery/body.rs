//! The request body: `{"batch":[<json>,...],"sentAt":"<iso8601>"}`, written by
//! hand (no serde_json in the wasm build) with its length known in advance.

/// Everything before the first message.
pub(crate) const HEAD: &str = "{\"batch\":[";
/// Between the last message and the `sentAt` value.
pub(crate) const MID: &str = "],\"sentAt\":\"";
/// After the `sentAt` value.
pub(crate) const TAIL: &str = "\"}";

/// Bytes of the envelope around the messages for a `sentAt` of `sent_at_len`.
pub(crate) fn envelope_len(sent_at_len: usize) -> usize {
    HEAD.len() + MID.len() + sent_at_len + TAIL.len()
}

/// Bytes a body grows by when a message of `json_len` bytes is appended to one
/// that already holds `count` messages (the comma separator included).
pub(crate) fn grow(count: usize, json_len: usize) -> usize {
    json_len.saturating_add(usize::from(count > 0))
}

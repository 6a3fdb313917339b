//! The request body: `{"writeKey":"...","batch":[<json>,...],"sentAt":"<iso8601>"}`,
//! written by hand (no serde_json in the wasm build) with its length known in
//! advance, so that every limit is checked on the bytes actually sent.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::json::write_string;

/// Everything before the first message: the write key (when there is one) and
/// the opening of the batch array.
pub(crate) fn head(write_key: &str) -> String {
    let mut out = String::with_capacity(write_key.len() + 24);
    out.push('{');
    if !write_key.is_empty() {
        out.push_str("\"writeKey\":");
        write_string(write_key, &mut out);
        out.push(',');
    }
    out.push_str("\"batch\":[");
    out
}

/// Between the last message and the `sentAt` value.
pub(crate) const MID: &str = "],\"sentAt\":\"";
/// After the `sentAt` value.
pub(crate) const TAIL: &str = "\"}";

/// Bytes of the envelope around the messages: a head of `head_len` bytes and a
/// `sentAt` of `sent_at_len`.
pub(crate) fn envelope_len(head_len: usize, sent_at_len: usize) -> usize {
    head_len + MID.len() + sent_at_len + TAIL.len()
}

/// Bytes a body grows by when a message of `json_len` bytes is appended to one
/// that already holds `count` messages (the comma separator included).
pub(crate) fn grow(count: usize, json_len: usize) -> usize {
    json_len.saturating_add(usize::from(count > 0))
}

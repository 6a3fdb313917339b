//! Size and count limits: 32 KB per message, 500 KB per request (declared and
//! actual bytes), 2,500 messages per batch — each checked at the exact boundary.

mod common;

use common::{basic, raw_http, track, TestServer, KEY};
use segflow_collector::{MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES};
use serde_json::{json, Value};

/// A valid track message whose compact JSON is exactly `size` bytes.
fn message_of_size(id: &str, size: usize) -> Value {
    let mut m = track("u", "E", id);
    m["properties"] = json!({"pad": ""});
    let base = serde_json::to_vec(&m).unwrap().len();
    assert!(size >= base);
    m["properties"]["pad"] = json!("x".repeat(size - base));
    assert_eq!(serde_json::to_vec(&m).unwrap().len(), size);
    m
}

#[tokio::test]
async fn limits_are_the_documented_ones() {
    assert_eq!(MAX_MESSAGE_BYTES, 32 * 1024);
    assert_eq!(MAX_REQUEST_BYTES, 500 * 1024);
    assert_eq!(MAX_BATCH_MESSAGES, 2500);
}

#[tokio::test]
async fn message_limit_is_32_kb_of_serialized_json() {
    let ts = TestServer::start(|c| c).await;
    // Exactly at the limit: accepted, single and in a batch.
    let r = ts
        .post("/v1/track", &message_of_size("at-1", 32 * 1024), Some(KEY))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let batch = json!({"batch": [message_of_size("at-2", 32 * 1024), track("u", "E", "small")]});
    let r = ts.post("/v1/batch", &batch, Some(KEY)).await;
    assert_eq!(r.json["accepted"], 2, "{}", r.text);

    // One byte over: 400 message_too_large, and in a batch nothing is stored.
    let r = ts
        .post(
            "/v1/track",
            &message_of_size("over-1", 32 * 1024 + 1),
            Some(KEY),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (400, "message_too_large"),
        "{}",
        r.text
    );
    let batch =
        json!({"batch": [track("u", "E", "fine"), message_of_size("over-2", 32 * 1024 + 1)]});
    let r = ts.post("/v1/b", &batch, Some(KEY)).await;
    assert_eq!(
        (r.status, r.error()),
        (400, "message_too_large"),
        "{}",
        r.text
    );
    assert!(
        r.json["message"].as_str().unwrap().contains("message 1"),
        "{}",
        r.text
    );

    // Bytes, not characters: 17,000 two-byte characters are over the limit.
    let mut m = track("u", "E", "multibyte");
    m["properties"] = json!({"pad": "é".repeat(17_000)});
    let r = ts.post("/v1/t", &m, Some(KEY)).await;
    assert_eq!((r.status, r.error()), (400, "message_too_large"));

    let ids: Vec<Value> = ts.message_ids("").await;
    assert_eq!(ids, vec![json!("at-1"), json!("at-2"), json!("small")]);
    let stored = &ts.events("messageId=at-1").await[0];
    assert_eq!(
        stored["properties"],
        message_of_size("at-1", 32 * 1024)["properties"]
    );
}

/// A batch body of exactly `size` bytes (JSON padded with trailing spaces).
fn batch_body_of_size(prefix: &str, size: usize) -> (Vec<u8>, usize) {
    let messages: Vec<Value> = (0..16)
        .map(|i| message_of_size(&format!("{prefix}-{i}"), 30_000))
        .collect();
    let mut body = json!({"batch": messages}).to_string().into_bytes();
    assert!(body.len() < size, "{}", body.len());
    body.resize(size, b' ');
    (body, 16)
}

#[tokio::test]
async fn request_limit_is_500_kb_by_content_length() {
    let ts = TestServer::start(|c| c).await;
    let (body, n) = batch_body_of_size("at", 500 * 1024);
    let r = ts
        .post_raw("/v1/batch", body, Some(KEY), "text/plain")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], n);

    let (body, _) = batch_body_of_size("over", 500 * 1024 + 1);
    let r = ts
        .post_raw("/v1/batch", body, Some(KEY), "text/plain")
        .await;
    assert_eq!(
        (r.status, r.error()),
        (400, "request_too_large"),
        "{}",
        r.text
    );
    assert_eq!(ts.events("limit=1000").await.len(), n);

    // A huge declared length is refused at once, without waiting for the body.
    let request = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nContent-Length: 100000000\r\n\r\n{{",
        basic(KEY)
    );
    let (status, body) = raw_http(ts.addr(), request.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "request_too_large");
    assert_eq!(ts.stats().await["rejected"]["request_too_large"], 2);
}

/// A chunked request (no Content-Length) carrying `body` in 64 KB chunks.
fn chunked_request(body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /v1/b HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        basic(KEY)
    )
    .into_bytes();
    for chunk in body.chunks(64 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

#[tokio::test]
async fn request_limit_counts_the_bytes_actually_received() {
    let ts = TestServer::start(|c| c).await;
    let (body, n) = batch_body_of_size("chunked-at", 500 * 1024);
    let (status, text) = raw_http(ts.addr(), &chunked_request(&body)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!("\"accepted\":{n}")), "{text}");

    let (body, _) = batch_body_of_size("chunked-over", 500 * 1024 + 1);
    let (status, text) = raw_http(ts.addr(), &chunked_request(&body)).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("request_too_large"), "{text}");

    // Far over: 3 MB of chunks.
    let (status, text) = raw_http(ts.addr(), &chunked_request(&vec![b' '; 3 * 1024 * 1024])).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("request_too_large"), "{text}");

    assert_eq!(ts.events("limit=1000").await.len(), n);
    assert_eq!(ts.get("/health").await.status, 200);
}

#[tokio::test]
async fn batch_limit_is_2500_messages() {
    let ts = TestServer::start(|c| c).await;
    let batch = |prefix: &str, n: usize| -> Value {
        let messages: Vec<Value> = (0..n)
            .map(|i| json!({"type": "track", "userId": "u", "event": "E", "messageId": format!("{prefix}{i}")}))
            .collect();
        json!({"batch": messages})
    };
    let r = ts.post("/v1/batch", &batch("a", 2500), Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], 2500);

    let r = ts.post("/v1/batch", &batch("b", 2501), Some(KEY)).await;
    assert_eq!(
        (r.status, r.error()),
        (400, "too_many_messages"),
        "{}",
        r.text
    );
    assert_eq!(
        ts.stats().await["accepted"],
        2500,
        "none of the 2,501 stored"
    );
    assert_eq!(ts.events("limit=10000&messageId=b0").await.len(), 0);
}

//! Hostile input, fuzz style with a seeded generator: random bytes, truncated and
//! corrupted bodies, invalid UTF-8, deep nesting, huge strings, wrong types,
//! unicode, wrong keys — sent concurrently over real HTTP. The server must keep
//! answering 200/400/401/413 with a JSON body, and store exactly the valid
//! messages, unaltered.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{basic, TestServer, KEY};
use serde_json::{json, Value};

/// SplitMix64, so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const TRICKY: &[&str] = &[
    "a",
    "Z",
    " ",
    "\"",
    "\\",
    "/",
    "\n",
    "\t",
    "\u{0}",
    "\u{7f}",
    "é",
    "ß",
    "中",
    "😀",
    "👩‍👩‍👧",
    "\u{202e}",
    "\u{feff}",
    "\u{fffd}",
    "ﷺ",
    "<script>",
    "'; DROP TABLE messages; --",
    "%s",
    "{{x}}",
    "\u{10ffff}",
];

fn random_text(rng: &mut Rng, max: usize) -> String {
    let n = rng.below(max + 1);
    (0..n).map(|_| *rng.pick(TRICKY)).collect()
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.next() as i64 >> rng.below(63)),
        3 => json!((rng.below(2_000_001) as f64 - 1_000_000.0) / 8.0),
        4 => json!(random_text(rng, 12)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (random_text(rng, 6), random_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// A message that must be stored, with a unique messageId.
fn valid_message(rng: &mut Rng, id: &str) -> Value {
    let kind = *rng.pick(&["track", "identify", "page", "screen", "group", "alias"]);
    let mut m = json!({"type": kind, "messageId": id});
    let user = random_text(rng, 8);
    if rng.chance(50) || kind == "alias" {
        m["userId"] = json!(format!("u{user}"));
    } else if rng.chance(50) {
        m["anonymousId"] = json!(format!("a{user}"));
    } else {
        m["userId"] = json!(rng.below(1_000_000)); // coerced to a string
    }
    match kind {
        "track" => m["event"] = json!(format!("E{}", random_text(rng, 10))),
        "group" => m["groupId"] = json!(format!("g{}", random_text(rng, 5))),
        "alias" => m["previousId"] = json!(format!("p{}", random_text(rng, 5))),
        _ => {}
    }
    let props = Value::Object(
        (0..rng.below(6))
            .map(|i| (format!("k{i}{}", random_text(rng, 3)), random_value(rng, 0)))
            .collect(),
    );
    let field = if kind == "identify" || kind == "group" {
        "traits"
    } else {
        "properties"
    };
    m[field] = props;
    if rng.chance(30) {
        m["context"] =
            json!({"locale": random_text(rng, 5), "page": {"title": random_text(rng, 20)}});
    }
    if rng.chance(30) {
        m["timestamp"] = json!("2026-11-28T20:01:42.396Z");
    }
    if rng.chance(20) {
        m["nullField"] = Value::Null;
    }
    m
}

/// A message that must be rejected (whatever its messageId).
fn invalid_message(rng: &mut Rng, id: &str) -> Value {
    let base = json!({"type": "track", "userId": "u", "event": "E", "messageId": id});
    let mut m = base.clone();
    match rng.below(12) {
        0 => return json!(rng.below(100)),
        1 => return Value::Null,
        2 => return json!(random_text(rng, 5)),
        3 => m["type"] = json!(*rng.pick(&["", "TRACK", "purchase", "identify "])),
        4 => m["type"] = random_non_string(rng),
        5 => {
            m.as_object_mut().unwrap().remove("userId");
        }
        6 => m["userId"] = json!({"id": 1}),
        7 => {
            m["event"] = rng
                .pick(&[Value::Null, json!(""), json!(5), json!(["E"])])
                .clone()
        }
        8 => m["timestamp"] = json!(*rng.pick(&["yesterday", "2026-02-30T00:00:00Z", "12:00", ""])),
        9 => m["context"] = json!(*rng.pick(&["ctx", "1"])),
        10 => m["properties"] = json!([1, 2]),
        _ => {
            m["type"] = json!("group");
            m["groupId"] = rng
                .pick(&[Value::Null, json!(""), json!({}), json!(true)])
                .clone();
        }
    }
    m
}

fn random_non_string(rng: &mut Rng) -> Value {
    rng.pick(&[json!(1), json!(true), json!([]), json!({}), json!(1.5)])
        .clone()
}

/// One request of the corpus and what it must do.
struct Case {
    path: &'static str,
    body: Vec<u8>,
    key: Option<&'static str>,
    /// messageIds it must store (empty = it must store nothing).
    stores: Vec<String>,
    /// The status it must get, when known exactly.
    status: Option<u16>,
}

fn corpus(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = Rng(seed);
    let mut cases = Vec::new();
    for n in 0..count {
        let id = |k: usize| format!("h{n}-{k}");
        let case = match rng.below(14) {
            // Valid single message, text/plain or JSON; sometimes key in the body.
            0 | 1 => {
                let mut m = valid_message(&mut rng, &id(0));
                let kind = m["type"].as_str().unwrap().to_string();
                let path: &'static str = match kind.as_str() {
                    "track" => rng.pick_str(&["/v1/track", "/v1/t"]),
                    "identify" => "/v1/i",
                    "page" => "/v1/page",
                    "screen" => "/v1/s",
                    "group" => "/v1/g",
                    _ => "/v1/alias",
                };
                let key = if rng.chance(30) {
                    m["writeKey"] = json!(KEY);
                    None
                } else {
                    Some(KEY)
                };
                Case {
                    path,
                    body: m.to_string().into_bytes(),
                    key,
                    stores: vec![id(0)],
                    status: Some(200),
                }
            }
            // Batch mixing valid and invalid messages.
            2 | 3 => {
                let mut messages = Vec::new();
                let mut stores = Vec::new();
                for k in 0..1 + rng.below(8) {
                    if rng.chance(60) {
                        messages.push(valid_message(&mut rng, &id(k)));
                        stores.push(id(k));
                    } else {
                        messages.push(invalid_message(&mut rng, &id(k)));
                    }
                }
                let body = json!({"batch": messages, "sentAt": "2026-11-28T20:01:42.500Z",
                                  "context": {"library": {"name": random_text(&mut rng, 4)}}});
                Case {
                    path: "/v1/batch",
                    body: body.to_string().into_bytes(),
                    key: Some(KEY),
                    stores,
                    status: Some(200),
                }
            }
            // Random bytes.
            4 => {
                let len = rng.below(3000);
                let body = (0..len).map(|_| rng.next() as u8).collect();
                Case {
                    path: rng.pick_str(&["/v1/b", "/v1/t", "/v1/identify"]),
                    body,
                    key: Some(KEY),
                    stores: vec![],
                    status: Some(400),
                }
            }
            // A valid body cut short: never valid JSON.
            5 => {
                let body = json!({"batch": [valid_message(&mut rng, &id(0))]})
                    .to_string()
                    .into_bytes();
                let cut = rng.below(body.len());
                Case {
                    path: "/v1/b",
                    body: body[..cut].to_vec(),
                    key: Some(KEY),
                    stores: vec![],
                    status: Some(400),
                }
            }
            // A valid body with an invalid UTF-8 byte put in.
            6 => {
                let mut body = valid_message(&mut rng, &id(0)).to_string().into_bytes();
                let at = rng.below(body.len() + 1);
                body.insert(at, *rng.pick(&[0xff, 0xfe, 0xc0, 0x80, 0xed]));
                Case {
                    path: "/v1/t",
                    body,
                    key: Some(KEY),
                    stores: vec![],
                    status: Some(400),
                }
            }
            // Deep nesting: beyond the parser limit (rejected) or within it (stored).
            7 => {
                if rng.chance(50) {
                    let depth = 129 + rng.below(50_000);
                    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
                    Case {
                        path: "/v1/b",
                        body: body.into_bytes(),
                        key: Some(KEY),
                        stores: vec![],
                        status: Some(400),
                    }
                } else {
                    let depth = 1 + rng.below(100);
                    let nested = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
                    let body = format!(
                        "{{\"batch\":[{{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Deep\",\"messageId\":\"{}\",\"properties\":{nested}}}]}}",
                        id(0)
                    );
                    Case {
                        path: "/v1/b",
                        body: body.into_bytes(),
                        key: Some(KEY),
                        stores: vec![id(0)],
                        status: Some(200),
                    }
                }
            }
            // Huge strings: over the message limit, or over the request limit.
            8 => {
                let mut m = valid_message(&mut rng, &id(0));
                let huge = rng.chance(50);
                let len = if huge { 520 * 1024 } else { 33 * 1024 };
                m["properties"] = json!({"s": random_text(&mut rng, 3) + &"x".repeat(len)});
                m["type"] = json!("track");
                m["event"] = json!("Big");
                Case {
                    path: "/v1/t",
                    body: m.to_string().into_bytes(),
                    key: Some(KEY),
                    stores: vec![],
                    status: Some(400),
                }
            }
            // Wrong top-level types.
            9 => {
                let body = rng
                    .pick(&[
                        json!({"batch": 5}),
                        json!({"batch": "x"}),
                        json!({"batch": null}),
                        json!({"batch": {"0": {}}}),
                        json!([{"type": "track"}]),
                        json!("batch"),
                        json!({"batch": [], "context": [1]}),
                        json!({"batch": [], "integrations": "all"}),
                        json!({"batch": [], "sentAt": {}}),
                    ])
                    .clone();
                Case {
                    path: "/v1/b",
                    body: body.to_string().into_bytes(),
                    key: Some(KEY),
                    stores: vec![],
                    status: Some(400),
                }
            }
            // Batches of junk elements: 200, all rejected.
            10 => {
                let messages: Vec<Value> = (0..1 + rng.below(6))
                    .map(|k| invalid_message(&mut rng, &id(k)))
                    .collect();
                Case {
                    path: "/v1/b",
                    body: json!({"batch": messages}).to_string().into_bytes(),
                    key: Some(KEY),
                    stores: vec![],
                    status: Some(200),
                }
            }
            // A valid message with a wrong or missing key.
            11 => {
                let m = valid_message(&mut rng, &id(0));
                let key = *rng.pick(&[Some("WRONG"), None]);
                let body = json!({"batch": [m]}).to_string().into_bytes();
                Case {
                    path: "/v1/b",
                    body,
                    key,
                    stores: vec![],
                    status: Some(401),
                }
            }
            // A random JSON value as the body.
            12 => {
                let body = random_value(&mut rng, 0).to_string().into_bytes();
                Case {
                    path: rng.pick_str(&["/v1/b", "/v1/t", "/v1/g"]),
                    body,
                    key: Some(KEY),
                    stores: vec![],
                    status: None,
                }
            }
            // A single-message endpoint given an invalid message.
            _ => {
                let m = invalid_message(&mut rng, &id(0));
                Case {
                    path: "/v1/track",
                    body: m.to_string().into_bytes(),
                    key: Some(KEY),
                    stores: vec![],
                    status: Some(400),
                }
            }
        };
        cases.push(case);
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_never_crashes_or_corrupts() {
    let ts = Arc::new(TestServer::start(|c| c).await);
    let cases = Arc::new(corpus(0x5EED_F10E, 600));
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (ts, cases, next) = (ts.clone(), cases.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                let mut request = ts
                    .client
                    .post(format!("{}{}", ts.url, case.path))
                    .header(
                        "content-type",
                        if i % 2 == 0 {
                            "text/plain"
                        } else {
                            "application/json"
                        },
                    )
                    .body(case.body.clone());
                if let Some(key) = case.key {
                    request = request.header("authorization", basic(key));
                }
                let response = request
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("case {i}: no answer: {e}"));
                let r = common::reply(response).await;
                assert!(
                    [200, 400, 401, 413].contains(&r.status),
                    "case {i}: status {} {}",
                    r.status,
                    r.text
                );
                assert!(
                    r.header("content-type")
                        .is_some_and(|t| t.starts_with("application/json")),
                    "case {i}: not JSON"
                );
                assert!(r.json["success"].is_boolean(), "case {i}: {}", r.text);
                if let Some(status) = case.status {
                    assert_eq!(r.status, status, "case {i} ({}): {}", case.path, r.text);
                }
                if r.status == 200 {
                    assert_eq!(
                        r.json["accepted"],
                        case.stores.len(),
                        "case {i}: {}",
                        r.text
                    );
                    accepted += case.stores.len() as u64;
                } else {
                    assert_eq!(r.json["success"], false, "case {i}");
                    assert!(r.json["error"].is_string(), "case {i}");
                }
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for worker in workers {
        accepted += worker
            .await
            .expect("worker finished without a failed assertion");
    }

    // Exactly the valid messages are stored, with their content intact.
    let mut expected: BTreeMap<String, Value> = BTreeMap::new();
    for case in cases.iter().filter(|c| !c.stores.is_empty()) {
        let body: Value = serde_json::from_slice(&case.body).unwrap();
        let messages = match body.get("batch") {
            Some(Value::Array(batch)) => batch.clone(),
            _ => vec![body],
        };
        for m in messages {
            if let Some(id) = m.get("messageId").and_then(Value::as_str) {
                if case.stores.iter().any(|s| s == id) {
                    expected.insert(id.to_string(), m);
                }
            }
        }
    }
    assert_eq!(expected.len() as u64, accepted);
    assert!(accepted > 100, "the corpus exercises storage ({accepted})");
    let stored = ts.events("limit=10000").await;
    let stored_ids: Vec<&str> = stored
        .iter()
        .map(|e| e["messageId"].as_str().unwrap())
        .collect();
    let mut sorted = stored_ids.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for event in &stored {
        let sent = &expected[event["messageId"].as_str().unwrap()];
        for field in [
            "properties",
            "traits",
            "event",
            "groupId",
            "previousId",
            "anonymousId",
        ] {
            if sent.get(field).is_some() {
                assert_eq!(
                    event[field], sent[field],
                    "{field} of {}",
                    event["messageId"]
                );
            }
        }
        match &sent["userId"] {
            Value::Number(n) => assert_eq!(event["userId"], json!(n.to_string())),
            Value::Null => {}
            other => assert_eq!(&event["userId"], other),
        }
        assert!(
            event["context"]["locale"] == sent["context"]["locale"]
                || sent["context"]["locale"].is_null()
        );
    }
    let rows = common::db_rows(&ts.db);
    assert_eq!(rows.len(), expected.len());
    for row in rows {
        let body: Value = serde_json::from_str(&row.body).expect("stored bodies are JSON");
        assert_eq!(body["messageId"], row.message_id.as_str());
        assert_eq!(body["type"], row.kind.as_str());
        assert!(row.user_id.is_some() || row.anonymous_id.is_some());
        assert_eq!(row.event.is_some(), row.kind == "track");
        assert_eq!(body["receivedAt"], row.received_at.as_str());
        assert_eq!(body["timestamp"], row.timestamp.as_str());
        assert_eq!(
            body.get("sentAt").and_then(Value::as_str),
            row.sent_at.as_deref()
        );
        assert_eq!(
            body.get("originalTimestamp").and_then(Value::as_str),
            row.original_timestamp.as_deref()
        );
        assert_eq!(row.environment, "default");
    }
    assert_eq!(ts.stats().await["accepted"], accepted);
    assert_eq!(ts.get("/health").await.text, "ok");
}

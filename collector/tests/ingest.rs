//! Ingestion over real HTTP: endpoints, auth, environments, content types,
//! validation rules, batch partial acceptance, merging, timestamps and dedupe.

mod common;

use common::{basic, fixture, track, TestServer, KEY};
use serde_json::{json, Value};

const SINGLE_PATHS: [(&str, &str, &str); 6] = [
    ("/v1/track", "/v1/t", "track"),
    ("/v1/identify", "/v1/i", "identify"),
    ("/v1/page", "/v1/p", "page"),
    ("/v1/screen", "/v1/s", "screen"),
    ("/v1/group", "/v1/g", "group"),
    ("/v1/alias", "/v1/a", "alias"),
];

/// A valid message of `kind`, without its `type` (implied by the path).
fn minimal(kind: &str, message_id: &str) -> Value {
    let mut m = json!({"userId": "u1", "messageId": message_id});
    match kind {
        "track" => m["event"] = json!("Clicked"),
        "group" => m["groupId"] = json!("g1"),
        "alias" => m["previousId"] = json!("anon-1"),
        _ => {}
    }
    m
}

#[tokio::test]
async fn every_path_and_its_one_letter_form_stores_its_type() {
    let ts = TestServer::start(|c| c).await;
    for (long, short, kind) in SINGLE_PATHS {
        for path in [long, short] {
            let id = format!("{kind}-{}", path.len());
            let r = ts.post(path, &minimal(kind, &id), Some(KEY)).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            assert_eq!(
                r.json,
                json!({"success": true, "accepted": 1, "duplicates": 0, "rejected": []})
            );
            let stored = ts.events(&format!("messageId={id}")).await;
            assert_eq!(stored.len(), 1, "{path}");
            assert_eq!(stored[0]["type"], kind, "{path}: type implied by the path");
        }
    }
    for path in ["/v1/batch", "/v1/b"] {
        let id = format!("batch{}", path.len());
        let body = json!({"batch": [track("u", "E", &id)]});
        let r = ts.post(path, &body, Some(KEY)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json["accepted"], 1);
        assert_eq!(ts.events(&format!("messageId={id}")).await.len(), 1);
    }
    assert_eq!(ts.events("limit=100").await.len(), 14);
}

#[tokio::test]
async fn analytics_next_fixtures_are_stored_like_segment() {
    let ts = TestServer::start(|c| c).await;
    for (name, path) in [
        ("identify", "/v1/i"),
        ("group", "/v1/g"),
        ("page", "/v1/p"),
        ("track", "/v1/t"),
    ] {
        let body = fixture(name);
        // analytics-next sends text/plain with both auth methods.
        let r = ts
            .post_raw(path, body.to_string().into_bytes(), Some(KEY), "text/plain")
            .await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        let stored = ts
            .events(&format!(
                "messageId={}",
                body["messageId"].as_str().unwrap()
            ))
            .await;
        assert_eq!(stored.len(), 1, "{name}");
        let e = &stored[0];
        assert_eq!(e["type"], name);
        assert_eq!(e["writeKey"], KEY);
        assert_eq!(e["environment"], "default");
        assert_eq!(e["anonymousId"], body["anonymousId"]);
        assert_eq!(e["originalTimestamp"], body["timestamp"]);
        assert_eq!(e["sentAt"], body["sentAt"]);
        assert_eq!(e["context"]["library"], body["context"]["library"]);
        assert_eq!(
            e["context"]["ip"], "127.0.0.1",
            "context.ip is filled like Segment does"
        );
        assert_eq!(e["_metadata"], body["_metadata"]);
        assert!(e.get("writeKey").is_some() && e["writeKey"] != Value::Null);
        for field in ["receivedAt", "timestamp"] {
            let text = e[field].as_str().unwrap();
            assert_eq!(text.len(), 24, "{field} has millisecond precision: {text}");
            assert!(text.ends_with('Z'));
        }
    }
    let track = &ts.events("type=track").await[0];
    assert_eq!(track["event"], "Flow Started");
    assert_eq!(track["properties"], json!({"flow_id": "f1", "i": 0}));
    let group = &ts.events("type=group").await[0];
    assert_eq!(group["groupId"], "company-7");
    assert_eq!(group["traits"], json!({"name": "Acme"}));
}

#[tokio::test]
async fn auth_by_header_or_body_and_wrong_or_missing_keys_store_nothing() {
    let ts = TestServer::start(|c| c.with_write_key("OTHER", "staging")).await;
    let msg = |id: &str| track("u", "E", id);

    // Header only.
    let r = ts.post("/v1/t", &msg("h1"), Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Body only, single and batch.
    let mut with_key = msg("b1");
    with_key["writeKey"] = json!(KEY);
    let r = ts.post("/v1/t", &with_key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ts
        .post(
            "/v1/b",
            &json!({"writeKey": KEY, "batch": [msg("b2")]}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The write key is a column, not part of the stored body.
    assert_eq!(ts.events("messageId=b1").await[0]["writeKey"], KEY);
    for row in common::db_rows(&ts.db) {
        assert_eq!(row.write_key, KEY);
        assert!(!row.body.contains("writeKey"), "{}", row.body);
    }

    let before = ts.events("limit=1000").await.len();
    assert_eq!(before, 3);
    let mut wrong_body = msg("x1");
    wrong_body["writeKey"] = json!("nope");
    let unauthorized: Vec<(&str, Value, Option<&str>)> = vec![
        ("wrong header key", msg("x2"), Some("nope")),
        ("wrong body key", wrong_body.clone(), None),
        ("missing key", msg("x3"), None),
        (
            "wrong header beats right body",
            {
                let mut m = msg("x4");
                m["writeKey"] = json!(KEY);
                m
            },
            Some("nope"),
        ),
        (
            "empty body key",
            json!({"writeKey": "", "type": "track", "userId": "u", "event": "E"}),
            None,
        ),
    ];
    for (case, body, key) in unauthorized {
        let r = ts.post("/v1/t", &body, key).await;
        assert_eq!(r.status, 401, "{case}: {}", r.text);
        assert_eq!(r.json["success"], false, "{case}");
        assert_eq!(r.error(), "unauthorized", "{case}");
        assert!(
            r.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
    }
    // A malformed Authorization header falls back to the body key.
    let r = ts
        .client
        .post(format!("{}/v1/t", ts.url))
        .header("authorization", "Bearer something")
        .body(with_key.to_string().replace("b1", "b3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Unauthorized batch: nothing stored at all.
    let r = ts
        .post(
            "/v1/batch",
            &json!({"batch": [msg("x5"), msg("x6")]}),
            Some("bad"),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(ts.events("limit=1000").await.len(), before + 1);
    assert_eq!(ts.stats().await["rejected"]["unauthorized"], 6);
}

#[tokio::test]
async fn environment_labels_are_stored_per_key() {
    let ts = TestServer::start(|c| {
        c.with_write_key("STAGE", "staging")
            .with_write_key("PROD", "production")
    })
    .await;
    for (key, id) in [(KEY, "d"), ("STAGE", "s1"), ("STAGE", "s2"), ("PROD", "p")] {
        let r = ts.post("/v1/t", &track("u", "E", id), Some(key)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let staging = ts.events("environment=staging").await;
    assert_eq!(staging.len(), 2);
    assert!(staging.iter().all(|e| e["writeKey"] == "STAGE"));
    assert_eq!(
        ts.events("environment=production").await[0]["messageId"],
        "p"
    );
    assert_eq!(
        ts.events("writeKey=PROD").await[0]["environment"],
        "production"
    );
    assert_eq!(ts.events("environment=default").await[0]["writeKey"], KEY);
    assert_eq!(
        ts.stats().await["environments"],
        json!({"default": 1, "production": 1, "staging": 2})
    );
}

#[tokio::test]
async fn open_mode_accepts_any_key_or_none() {
    let ts = TestServer::start_open().await;
    let r = ts
        .post("/v1/t", &track("u", "E", "k1"), Some("anything"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ts.post("/v1/t", &track("u", "E", "k2"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let events = ts.events("").await;
    assert_eq!(events[0]["writeKey"], "anything");
    assert_eq!(events[1]["writeKey"], "");
    assert!(events.iter().all(|e| e["environment"] == "default"));
}

#[tokio::test]
async fn any_content_type_is_parsed_as_json() {
    let ts = TestServer::start(|c| c).await;
    for (i, content_type) in [
        "application/json",
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/octet-stream",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("ct{i}");
        let r = ts
            .post_raw(
                "/v1/track",
                track("u", "E", &id).to_string().into_bytes(),
                Some(KEY),
                content_type,
            )
            .await;
        assert_eq!(r.status, 200, "{content_type:?}: {}", r.text);
        assert_eq!(ts.events(&format!("messageId={id}")).await.len(), 1);
    }
}

/// (case, message, expected reason); each message is otherwise valid for `track`
/// unless it changes the type.
fn invalid_messages() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "no type in a batch",
            json!({"userId": "u", "event": "E"}),
            "missing_type",
        ),
        (
            "null type in a batch",
            json!({"type": null, "userId": "u", "event": "E"}),
            "missing_type",
        ),
        (
            "unknown type",
            json!({"type": "purchase", "userId": "u", "event": "E"}),
            "invalid_type",
        ),
        (
            "type not a string",
            json!({"type": 3, "userId": "u", "event": "E"}),
            "invalid_type",
        ),
        (
            "no ids",
            json!({"type": "track", "event": "E"}),
            "missing_user_id_or_anonymous_id",
        ),
        (
            "empty ids",
            json!({"type": "track", "userId": "", "anonymousId": "", "event": "E"}),
            "missing_user_id_or_anonymous_id",
        ),
        (
            "null ids",
            json!({"type": "identify", "userId": null, "anonymousId": null}),
            "missing_user_id_or_anonymous_id",
        ),
        (
            "userId object",
            json!({"type": "track", "userId": {"a": 1}, "event": "E"}),
            "invalid_user_id",
        ),
        (
            "userId bool",
            json!({"type": "track", "userId": true, "event": "E"}),
            "invalid_user_id",
        ),
        (
            "anonymousId array",
            json!({"type": "track", "anonymousId": [1], "event": "E"}),
            "invalid_anonymous_id",
        ),
        (
            "track without event",
            json!({"type": "track", "userId": "u"}),
            "missing_event",
        ),
        (
            "track with empty event",
            json!({"type": "track", "userId": "u", "event": ""}),
            "missing_event",
        ),
        (
            "track with null event",
            json!({"type": "track", "userId": "u", "event": null}),
            "missing_event",
        ),
        (
            "event not a string",
            json!({"type": "track", "userId": "u", "event": 5}),
            "invalid_event",
        ),
        (
            "group without groupId",
            json!({"type": "group", "userId": "u"}),
            "missing_group_id",
        ),
        (
            "groupId object",
            json!({"type": "group", "userId": "u", "groupId": {}}),
            "invalid_group_id",
        ),
        (
            "alias without previousId",
            json!({"type": "alias", "userId": "u"}),
            "missing_previous_id",
        ),
        (
            "previousId bool",
            json!({"type": "alias", "userId": "u", "previousId": false}),
            "invalid_previous_id",
        ),
        (
            "alias without userId",
            json!({"type": "alias", "anonymousId": "a", "previousId": "p"}),
            "missing_user_id",
        ),
        (
            "messageId object",
            json!({"type": "track", "userId": "u", "event": "E", "messageId": {}}),
            "invalid_message_id",
        ),
        (
            "messageId of 101 chars",
            json!({"type": "track", "userId": "u", "event": "E", "messageId": "m".repeat(101)}),
            "invalid_message_id",
        ),
        (
            "timestamp not ISO",
            json!({"type": "track", "userId": "u", "event": "E", "timestamp": "yesterday"}),
            "invalid_timestamp",
        ),
        (
            "timestamp a number",
            json!({"type": "track", "userId": "u", "event": "E", "timestamp": 1700000000}),
            "invalid_timestamp",
        ),
        (
            "sentAt not ISO",
            json!({"type": "track", "userId": "u", "event": "E", "sentAt": "soon"}),
            "invalid_sent_at",
        ),
        (
            "timestamp and sentAt too far apart",
            json!({"type": "track", "userId": "u", "event": "E", "timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-01-01T00:00:00Z"}),
            "invalid_timestamp",
        ),
        (
            "context a string",
            json!({"type": "track", "userId": "u", "event": "E", "context": "x"}),
            "invalid_context",
        ),
        (
            "integrations an array",
            json!({"type": "track", "userId": "u", "event": "E", "integrations": []}),
            "invalid_integrations",
        ),
        (
            "properties a number",
            json!({"type": "track", "userId": "u", "event": "E", "properties": 1}),
            "invalid_properties",
        ),
        (
            "traits a string",
            json!({"type": "identify", "userId": "u", "traits": "x"}),
            "invalid_traits",
        ),
        ("not an object", json!("track"), "not_an_object"),
        ("null message", Value::Null, "not_an_object"),
    ]
}

#[tokio::test]
async fn each_message_rule_rejects_in_a_batch_and_on_its_single_endpoint() {
    let ts = TestServer::start(|c| c).await;
    let cases = invalid_messages();
    // In one batch with valid messages around them: the valid ones are stored,
    // each bad one is reported with its index and reason.
    let mut batch = vec![track("u", "E", "good-first")];
    for (_, message, _) in &cases {
        batch.push(message.clone());
    }
    batch.push(track("u", "E", "good-last"));
    let r = ts
        .post("/v1/batch", &json!({"batch": batch}), Some(KEY))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["success"], true);
    assert_eq!(r.json["accepted"], 2);
    let rejected = r.json["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), cases.len());
    for (i, (case, _, reason)) in cases.iter().enumerate() {
        assert_eq!(rejected[i]["index"], i + 1, "{case}");
        assert_eq!(rejected[i]["reason"], *reason, "{case}");
        assert!(
            rejected[i]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }
    let stored: Vec<Value> = ts.message_ids("").await;
    assert_eq!(stored, vec![json!("good-first"), json!("good-last")]);

    // On single endpoints: 400 with the reason, nothing stored.
    for (case, message, reason) in cases {
        let path = match message.get("type").and_then(Value::as_str) {
            Some(kind @ ("identify" | "group" | "alias" | "track")) => format!("/v1/{kind}"),
            _ => "/v1/track".to_string(),
        };
        if reason == "missing_type" || reason == "invalid_type" {
            // The single endpoints imply the type; covered below.
            continue;
        }
        let r = ts.post(&path, &message, Some(KEY)).await;
        assert_eq!(r.status, 400, "{case}: {}", r.text);
        assert_eq!(r.json["success"], false, "{case}");
        if reason == "not_an_object" {
            assert_eq!(r.error(), "invalid_body", "{case}");
        } else {
            assert_eq!(r.error(), reason, "{case}");
            assert_eq!(r.json["rejected"][0]["reason"], reason, "{case}");
        }
    }
    assert_eq!(ts.events("").await.len(), 2, "nothing more stored");

    // Messages with a messageId report it.
    let r = ts
        .post(
            "/v1/b",
            &json!({"batch": [{"type": "track", "userId": "u", "messageId": "m-7"}]}),
            Some(KEY),
        )
        .await;
    assert_eq!(r.json["rejected"][0]["messageId"], "m-7");
    assert_eq!(r.json["rejected"][0]["index"], 0);
    // Stats count each rejection reason.
    let stats = ts.stats().await;
    assert_eq!(stats["rejected"]["missing_event"], 3 + 3 + 1);
    assert_eq!(stats["rejected"]["invalid_timestamp"], 3 * 2);
}

#[tokio::test]
async fn single_endpoints_imply_the_type_and_refuse_another() {
    let ts = TestServer::start(|c| c).await;
    let r = ts
        .post(
            "/v1/t",
            &json!({"userId": "u", "event": "E", "messageId": "implied"}),
            Some(KEY),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ts.events("messageId=implied").await[0]["type"], "track");
    let r = ts
        .post(
            "/v1/t",
            &json!({"type": "identify", "userId": "u"}),
            Some(KEY),
        )
        .await;
    assert_eq!((r.status, r.error()), (400, "type_mismatch"));
    let r = ts
        .post(
            "/v1/identify",
            &json!({"type": "nonsense", "userId": "u"}),
            Some(KEY),
        )
        .await;
    assert_eq!((r.status, r.error()), (400, "invalid_type"));
    let r = ts
        .post("/v1/p", &json!({"type": 7, "userId": "u"}), Some(KEY))
        .await;
    assert_eq!((r.status, r.error()), (400, "invalid_type"));
}

#[tokio::test]
async fn request_level_rules_answer_400_and_store_nothing() {
    let ts = TestServer::start(|c| c).await;
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "not JSON",
            "/v1/batch",
            b"{not json".to_vec(),
            "invalid_json",
        ),
        ("empty body", "/v1/track", Vec::new(), "invalid_json"),
        (
            "invalid UTF-8",
            "/v1/track",
            b"{\"type\":\"track\",\"userId\":\"\xff\"}".to_vec(),
            "invalid_json",
        ),
        (
            "lone surrogate",
            "/v1/track",
            br#"{"userId":"\ud800","event":"E"}"#.to_vec(),
            "invalid_json",
        ),
        (
            "trailing garbage",
            "/v1/track",
            br#"{"userId":"u","event":"E"} x"#.to_vec(),
            "invalid_json",
        ),
        ("array body", "/v1/track", b"[]".to_vec(), "invalid_body"),
        ("number body", "/v1/batch", b"5".to_vec(), "invalid_body"),
        (
            "batch missing",
            "/v1/batch",
            br#"{"type":"track","userId":"u","event":"E"}"#.to_vec(),
            "invalid_batch",
        ),
        (
            "batch a number",
            "/v1/batch",
            br#"{"batch":5}"#.to_vec(),
            "invalid_batch",
        ),
        (
            "batch null",
            "/v1/b",
            br#"{"batch":null}"#.to_vec(),
            "invalid_batch",
        ),
        (
            "batch an object",
            "/v1/b",
            br#"{"batch":{"type":"track"}}"#.to_vec(),
            "invalid_batch",
        ),
        (
            "batch context a string",
            "/v1/b",
            br#"{"batch":[],"context":"x"}"#.to_vec(),
            "invalid_context",
        ),
        (
            "batch integrations a number",
            "/v1/b",
            br#"{"batch":[],"integrations":1}"#.to_vec(),
            "invalid_integrations",
        ),
        (
            "batch sentAt not ISO",
            "/v1/b",
            br#"{"batch":[],"sentAt":"later"}"#.to_vec(),
            "invalid_sent_at",
        ),
        (
            "batch sentAt a number",
            "/v1/b",
            br#"{"batch":[],"sentAt":5}"#.to_vec(),
            "invalid_sent_at",
        ),
    ];
    for (case, path, body, code) in cases {
        let r = ts.post_raw(path, body, Some(KEY), "text/plain").await;
        assert_eq!(r.status, 400, "{case}: {}", r.text);
        assert_eq!(r.json["success"], false, "{case}");
        assert_eq!(r.error(), code, "{case}");
        assert!(
            r.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }
    // A batch whose sentAt is bad stores none of its valid messages.
    let r = ts
        .post(
            "/v1/b",
            &json!({"batch": [track("u", "E", "m")], "sentAt": "x"}),
            Some(KEY),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(ts.events("").await.is_empty());
    // An empty batch is fine.
    let r = ts.post("/v1/b", &json!({"batch": []}), Some(KEY)).await;
    assert_eq!(
        r.json,
        json!({"success": true, "accepted": 0, "duplicates": 0, "rejected": []})
    );
    // Deep nesting beyond serde_json's limit is invalid JSON, not a crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = ts
        .post_raw("/v1/b", deep.into_bytes(), Some(KEY), "text/plain")
        .await;
    assert_eq!((r.status, r.error()), (400, "invalid_json"));
    assert_eq!(ts.get("/health").await.text, "ok");
}

#[tokio::test]
async fn batch_context_and_integrations_merge_with_message_fields_winning() {
    let ts = TestServer::start(|c| c).await;
    let body = json!({
        "batch": [
            {"type": "track", "userId": "u", "event": "A", "messageId": "plain"},
            {"type": "track", "userId": "u", "event": "B", "messageId": "own",
             "context": {"locale": "fr-FR", "library": {"version": "2"}, "ip": "10.1.2.3"},
             "integrations": {"Amplitude": true}},
            {"type": "identify", "userId": "u", "messageId": "nulls", "context": null, "integrations": null}
        ],
        "context": {"locale": "en-US", "library": {"name": "lib", "version": "1"}},
        "integrations": {"All": false, "Amplitude": false},
        "sentAt": "2026-01-01T00:00:00.000Z"
    });
    let r = ts.post("/v1/batch", &body, Some(KEY)).await;
    assert_eq!(r.json["accepted"], 3, "{}", r.text);
    let plain = &ts.events("messageId=plain").await[0];
    assert_eq!(
        plain["context"],
        json!({"locale": "en-US", "library": {"name": "lib", "version": "1"}, "ip": "127.0.0.1"})
    );
    assert_eq!(
        plain["integrations"],
        json!({"All": false, "Amplitude": false})
    );
    assert_eq!(
        plain["sentAt"], "2026-01-01T00:00:00.000Z",
        "batch sentAt applies to each message"
    );
    let own = &ts.events("messageId=own").await[0];
    assert_eq!(
        own["context"],
        json!({"locale": "fr-FR", "library": {"name": "lib", "version": "2"}, "ip": "10.1.2.3"})
    );
    assert_eq!(
        own["integrations"],
        json!({"All": false, "Amplitude": true})
    );
    let nulls = &ts.events("messageId=nulls").await[0];
    assert_eq!(nulls["context"]["locale"], "en-US");
    assert_eq!(nulls["integrations"]["All"], false);
}

#[tokio::test]
async fn numeric_ids_are_coerced_to_strings() {
    let ts = TestServer::start(|c| c).await;
    let body = json!({"batch": [
        {"type": "track", "userId": 123, "event": "E", "messageId": 77},
        {"type": "group", "anonymousId": 4.5, "groupId": 9},
        {"type": "alias", "userId": 1, "previousId": 2}
    ]});
    let r = ts.post("/v1/b", &body, Some(KEY)).await;
    assert_eq!(r.json["accepted"], 3, "{}", r.text);
    let events = ts.events("").await;
    assert_eq!(events[0]["userId"], "123");
    assert_eq!(events[0]["messageId"], "77");
    assert_eq!(events[1]["anonymousId"], "4.5");
    assert_eq!(events[1]["groupId"], "9");
    assert_eq!(events[2]["previousId"], "2");
    assert_eq!(
        ts.events("userId=123").await.len(),
        1,
        "the column holds the string too"
    );
}

#[tokio::test]
async fn missing_message_ids_are_generated_and_unique() {
    let ts = TestServer::start(|c| c).await;
    let m = json!({"type": "track", "userId": "u", "event": "E"});
    let r = ts.post("/v1/b", &json!({"batch": [m.clone(), m.clone(), {"type": "page", "userId": "u", "messageId": ""}]}), Some(KEY)).await;
    assert_eq!(r.json["accepted"], 3, "{}", r.text);
    let r = ts.post("/v1/t", &m, Some(KEY)).await;
    assert_eq!(r.json["accepted"], 1);
    let ids: Vec<String> = ts
        .events("")
        .await
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 4, "{ids:?}");
    assert!(ids
        .iter()
        .all(|id| id.starts_with("segflow-") && id.len() <= 100));
    // A 100-character messageId is accepted.
    let r = ts
        .post("/v1/t", &track("u", "E", &"x".repeat(100)), Some(KEY))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn skew_corrected_timestamps_are_exact() {
    let ts = TestServer::start(|c| c).await;
    // Client clock 1 h behind; sent 13 ms after the call.
    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "E", "messageId": "skew",
         "timestamp": "2026-11-28T19:01:42.396Z", "sentAt": "2026-11-28T19:01:42.409Z"},
        {"type": "track", "userId": "u", "event": "E", "messageId": "offset",
         "timestamp": "2026-11-28T21:01:42.396+02:00", "sentAt": "2026-11-28T19:01:45.000Z"},
        {"type": "track", "userId": "u", "event": "E", "messageId": "batch-sent",
         "timestamp": "2026-11-28T19:00:00.000Z"},
        {"type": "track", "userId": "u", "event": "E", "messageId": "none"}
    ], "sentAt": "2026-11-28T19:00:30.250Z"});
    let single = json!({"type": "track", "userId": "u", "event": "E", "messageId": "single-no-sent",
                        "timestamp": "2026-11-28T19:01:42.396Z"});
    let r = ts.post("/v1/b", &body, Some(KEY)).await;
    assert_eq!(r.json["accepted"], 4, "{}", r.text);
    let unsent = json!({"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "no-sent",
                                   "timestamp": "2020-02-29T12:00:00.5Z"}]});
    let r = ts.post("/v1/b", &unsent, Some(KEY)).await;
    assert_eq!(r.json["accepted"], 1, "{}", r.text);
    let r = ts.post("/v1/t", &single, Some(KEY)).await;
    assert_eq!(r.json["accepted"], 1, "{}", r.text);

    let get = |events: &[Value], id: &str| -> Value {
        events
            .iter()
            .find(|e| e["messageId"] == id)
            .cloned()
            .unwrap()
    };
    let events = ts.events("").await;
    let ms = |text: &Value| -> i64 { parse_ms(text.as_str().unwrap()) };

    let e = get(&events, "skew");
    assert_eq!(e["originalTimestamp"], "2026-11-28T19:01:42.396Z");
    assert_eq!(e["sentAt"], "2026-11-28T19:01:42.409Z");
    assert_eq!(ms(&e["timestamp"]), ms(&e["receivedAt"]) - 13);

    let e = get(&events, "offset");
    assert_eq!(
        e["originalTimestamp"], "2026-11-28T19:01:42.396Z",
        "normalized to UTC"
    );
    assert_eq!(ms(&e["timestamp"]), ms(&e["receivedAt"]) - 2_604);

    let e = get(&events, "batch-sent");
    assert_eq!(e["sentAt"], "2026-11-28T19:00:30.250Z");
    assert_eq!(ms(&e["timestamp"]), ms(&e["receivedAt"]) - 30_250);

    let e = get(&events, "no-sent");
    assert_eq!(
        e["timestamp"], "2020-02-29T12:00:00.500Z",
        "no sentAt: the client timestamp"
    );
    assert_eq!(e["originalTimestamp"], "2020-02-29T12:00:00.500Z");
    assert!(e.get("sentAt").is_none());

    let e = get(&events, "none");
    assert_eq!(
        e["timestamp"], e["receivedAt"],
        "no client timestamp: receivedAt"
    );
    assert_eq!(e["sentAt"], "2026-11-28T19:00:30.250Z");
    assert!(e.get("originalTimestamp").is_none());

    let e = get(&events, "single-no-sent");
    assert_eq!(
        e["timestamp"], "2026-11-28T19:01:42.396Z",
        "no sentAt: the client timestamp"
    );
    assert_eq!(e["originalTimestamp"], "2026-11-28T19:01:42.396Z");
    assert!(e.get("sentAt").is_none());

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let received = ms(&events[0]["receivedAt"]);
    assert!(
        (now - received).abs() < 60_000,
        "receivedAt is the server's clock"
    );
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ` (test-side parser).
fn parse_ms(text: &str) -> i64 {
    assert_eq!(text.len(), 24, "{text}");
    let n = |a: usize, b: usize| -> i64 { text[a..b].parse().unwrap() };
    let (y, mo, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

#[test]
fn test_parser_is_right() {
    assert_eq!(parse_ms("1970-01-01T00:00:00.000Z"), 0);
    assert_eq!(parse_ms("2026-11-28T20:01:42.396Z"), 1_795_896_102_396);
}

#[tokio::test]
async fn duplicate_message_ids_are_counted_not_stored_twice() {
    let ts = TestServer::start(|c| c.with_write_key("OTHER", "staging")).await;
    let r = ts
        .post("/v1/b", &json!({"batch": [track("u", "E", "d1"), track("u", "E", "d1"), track("u", "E", "d2")]}), Some(KEY))
        .await;
    assert_eq!(r.json["accepted"], 2, "{}", r.text);
    assert_eq!(r.json["duplicates"], 1);
    let r = ts
        .post("/v1/t", &track("u", "changed", "d1"), Some(KEY))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["accepted"], 0);
    assert_eq!(r.json["duplicates"], 1);
    // The first copy is kept.
    let d1 = ts.events("messageId=d1").await;
    assert_eq!(d1.len(), 1);
    assert_eq!(d1[0]["event"], "E");
    // The same messageId under another write key is another message.
    let r = ts
        .post("/v1/t", &track("u", "E", "d1"), Some("OTHER"))
        .await;
    assert_eq!(r.json["accepted"], 1);
    let stats = ts.stats().await;
    assert_eq!(stats["accepted"], 3);
    assert_eq!(stats["duplicates"], 2);
}

/// `GET /api/duplicates?<query>` → the duplicates array.
async fn duplicates(ts: &TestServer, query: &str) -> Value {
    let r = ts.get(&format!("/api/duplicates?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["duplicates"].is_array(), "{}", r.text);
    r.json["duplicates"].clone()
}

#[tokio::test]
async fn duplicates_are_listed_per_message_id_in_first_repeat_order() {
    let ts = TestServer::start(|c| c.with_write_key("OTHER", "staging")).await;
    assert_eq!(duplicates(&ts, "").await, json!([]));
    let batch = |ids: &[&str]| json!({"batch": ids.iter().map(|id| track("u", "E", id)).collect::<Vec<_>>()});
    let r = ts.post("/v1/b", &batch(&["a", "b", "c"]), Some(KEY)).await;
    assert_eq!(r.json["accepted"], 3, "{}", r.text);
    // c again, twice in one batch; b again; d is new and then repeated in the
    // same batch.
    let r = ts
        .post("/v1/b", &batch(&["c", "d", "b", "c", "d"]), Some(KEY))
        .await;
    assert_eq!(
        (r.json["accepted"].clone(), r.json["duplicates"].clone()),
        (json!(1), json!(4)),
        "{}",
        r.text
    );
    // Another key: its first "a" is new, the second a duplicate of its own.
    ts.post("/v1/t", &track("u", "E", "a"), Some("OTHER")).await;
    ts.post("/v1/t", &track("u", "E", "a"), Some(KEY)).await;
    ts.post("/v1/t", &track("u", "E", "a"), Some("OTHER")).await;
    // Rejected and faulted messages are not duplicates.
    ts.post(
        "/v1/t",
        &json!({"type": "track", "userId": "u", "messageId": "a"}),
        Some(KEY),
    )
    .await;
    ts.post("/v1/t", &track("u", "E", "b"), Some("NOPE")).await;

    let all = json!([
        {"writeKey": KEY, "messageId": "c", "count": 2},
        {"writeKey": KEY, "messageId": "b", "count": 1},
        {"writeKey": KEY, "messageId": "d", "count": 1},
        {"writeKey": KEY, "messageId": "a", "count": 1},
        {"writeKey": "OTHER", "messageId": "a", "count": 1},
    ]);
    assert_eq!(duplicates(&ts, "").await, all);
    assert_eq!(duplicates(&ts, "writeKey=").await, all, "empty = no filter");
    assert_eq!(
        duplicates(&ts, "writeKey=OTHER").await,
        json!([{"writeKey": "OTHER", "messageId": "a", "count": 1}])
    );
    assert_eq!(duplicates(&ts, "writeKey=NOPE").await, json!([]));
    assert_eq!(
        duplicates(&ts, "other=1").await,
        all,
        "unknown parameters are ignored"
    );
    // The totals agree with the list.
    let listed: u64 = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["count"].as_u64().unwrap())
        .sum();
    assert_eq!(ts.stats().await["duplicates"], listed);

    let r = ts.get("/api/duplicates?writeKey=a&writeKey=b").await;
    assert_eq!((r.status, r.error()), (400, "invalid_query"), "{}", r.text);
    let r = ts.post("/api/duplicates", &json!({}), None).await;
    assert_eq!((r.status, r.error()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn open_mode_duplicates_keep_the_presented_key() {
    let ts = TestServer::start_open().await;
    for _ in 0..3 {
        ts.post("/v1/t", &track("u", "E", "o1"), None).await;
    }
    ts.post("/v1/t", &track("u", "E", "o1"), Some("K2")).await;
    ts.post("/v1/t", &track("u", "E", "o1"), Some("K2")).await;
    assert_eq!(
        duplicates(&ts, "").await,
        json!([
            {"writeKey": "", "messageId": "o1", "count": 2},
            {"writeKey": "K2", "messageId": "o1", "count": 1},
        ])
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_errors() {
    let ts = TestServer::start(|c| c).await;
    let r = ts.post("/v1/purchase", &json!({}), Some(KEY)).await;
    assert_eq!((r.status, r.error()), (404, "not_found"));
    let r = ts.get("/v1/track").await;
    assert_eq!((r.status, r.error()), (405, "method_not_allowed"));
    let r = ts.post("/api/events", &json!({}), None).await;
    assert_eq!((r.status, r.error()), (405, "method_not_allowed"));
    let r = ts.get("/nothing/here").await;
    assert_eq!((r.status, r.error()), (404, "not_found"));
    assert_eq!(
        ts.stats().await["requests"],
        0,
        "none of these is an ingestion request"
    );
    // basic() is what analytics-next sends.
    assert_eq!(basic("WK"), "Basic V0s6");
}

/// A gzip body (`Content-Encoding: gzip`, as analytics-python and other server
/// libraries send) is taken as Segment takes it; a corrupt one, a bomb over the
/// request limit once inflated, and an encoding it does not speak are refused
/// with a JSON error that says so.
#[tokio::test]
async fn gzip_bodies_are_inflated_within_the_request_limit() {
    use std::io::Write as _;
    let gzip = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let ts = TestServer::start(|c| c).await;
    let send = |body: Vec<u8>, encoding: &'static str| {
        let url = format!("{}/v1/batch", ts.url);
        async move {
            let r = common::client()
                .post(url)
                .header("content-type", "application/json")
                .header("content-encoding", encoding)
                .header("authorization", basic(KEY))
                .body(body)
                .send()
                .await
                .expect("POST");
            let status = r.status().as_u16();
            let v: Value =
                serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null);
            (status, v)
        }
    };
    let batch = json!({"batch": [track("u1", "Zipped", "gz-1")]}).to_string();
    let (status, v) = send(gzip(batch.as_bytes()), "gzip").await;
    assert_eq!((status, &v["accepted"]), (200, &json!(1)), "{v}");
    let (status, v) = send(b"not gzip at all".to_vec(), "gzip").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_encoding")),
        "{v}"
    );
    let bomb = gzip(&vec![b' '; 2 * 1024 * 1024]);
    let (status, v) = send(bomb, "gzip").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("request_too_large")),
        "{v}"
    );
    let (status, v) = send(batch.into_bytes(), "br").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (415, Some("unsupported_encoding")),
        "{v}"
    );
}

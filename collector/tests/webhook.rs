//! The destination half over real HTTP: `POST /webhook/{writeKey}` (signed and
//! unsigned bodies, merging, companies, alias, idempotency, durability) and
//! `GET /v1/state` (signature gate, development mode, CORS, the event-log shape).

mod common;

use common::{reply, Reply, TestServer, KEY};
use hmac::{Hmac, Mac};
use segflow_collector::identity_signature;
use serde_json::{json, Value};

/// Identity secret of [`KEY`].
const SECRET: &str = "s3cr3t";
/// hex HMAC-SHA256("s3cr3t", "user-42"):
/// `printf %s 'user-42' | openssl dgst -sha256 -hmac 's3cr3t'`.
const SIG_USER_42: &str = "f2e37bafa5a4ae2a003079df38783a7dac61ff94426135625d002f61e1942b30";
/// Webhook secret of [`KEY`].
const WEBHOOK_SECRET: &str = "whsec";
/// A body and its hex HMAC-SHA1 under "whsec", computed with
/// `printf %s "$BODY" | openssl dgst -sha1 -hmac 'whsec'` (Python's `hmac` agrees).
const SIGNED_BODY: &str = r#"{"type":"identify","userId":"user-42","messageId":"wh-1","traits":{"email":"ada@example.com","plan":"free"}}"#;
const SIGNED_BODY_SIG: &str = "752fdf3002332aae5aa362dedae930969dbaa15a";

/// hex HMAC-SHA1 of `body` (for bodies built in the tests; the fixed vector above
/// checks the crate's own verification independently).
fn sha1_sig(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn hook(ts: &TestServer, key: &str, body: &str, signature: Option<&str>) -> Reply {
    let mut req = ts
        .client
        .post(format!("{}/webhook/{key}", ts.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sig) = signature {
        req = req.header("x-signature", sig);
    }
    reply(req.send().await.unwrap()).await
}

async fn state(ts: &TestServer, key: &str, user: &str, signature: Option<&str>) -> Reply {
    let mut req = ts
        .client
        .get(format!("{}/v1/state", ts.url))
        .query(&[("writeKey", key), ("userId", user)]);
    if let Some(sig) = signature {
        req = req.header("x-segflow-signature", sig);
    }
    reply(req.send().await.unwrap()).await
}

/// Posts `message` unsigned (the server has no webhook secret) and expects 200.
async fn send(ts: &TestServer, message: Value) -> Reply {
    let r = hook(ts, KEY, &message.to_string(), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

#[tokio::test]
async fn webhook_signature_is_hmac_sha1_of_the_raw_body() {
    let ts = TestServer::start(|c| {
        c.with_webhook_secret(KEY, WEBHOOK_SECRET)
            .with_identity_secret(KEY, SECRET)
    })
    .await;
    let r = hook(&ts, KEY, SIGNED_BODY, None).await;
    assert_eq!(
        (r.status, r.error()),
        (401, "missing_signature"),
        "{}",
        r.text
    );
    let r = hook(&ts, KEY, SIGNED_BODY, Some(&SIGNED_BODY_SIG[1..])).await;
    assert_eq!((r.status, r.error()), (401, "invalid_signature"));
    // The same JSON with different bytes (a space) does not match the signature.
    let spaced = SIGNED_BODY.replacen(':', ": ", 1);
    let r = hook(&ts, KEY, &spaced, Some(SIGNED_BODY_SIG)).await;
    assert_eq!((r.status, r.error()), (401, "invalid_signature"));
    // Nothing applied yet.
    let s = state(&ts, KEY, "user-42", Some(SIG_USER_42)).await;
    assert_eq!(s.json["traits"], json!({}), "{}", s.text);

    let r = hook(&ts, KEY, SIGNED_BODY, Some(SIGNED_BODY_SIG)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["duplicate"], false);
    // Upper-case hex is accepted too; it is the same messageId, so a duplicate.
    let r = hook(
        &ts,
        KEY,
        SIGNED_BODY,
        Some(&SIGNED_BODY_SIG.to_ascii_uppercase()),
    )
    .await;
    assert_eq!((r.status, &r.json["duplicate"]), (200, &json!(true)));
    let s = state(&ts, KEY, "user-42", Some(SIG_USER_42)).await;
    assert_eq!(
        s.json["traits"],
        json!({"email": "ada@example.com", "plan": "free"})
    );
    // Bodies built here, signed with the same algorithm.
    let body = json!({"type": "identify", "userId": "user-42", "messageId": "wh-2",
                      "traits": {"plan": "pro"}})
    .to_string();
    let r = hook(
        &ts,
        KEY,
        &body,
        Some(&sha1_sig(WEBHOOK_SECRET, body.as_bytes())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn webhook_refusals() {
    let ts = TestServer::start(|c| c.with_dev_state(true)).await;
    let r = hook(&ts, "NOPE", SIGNED_BODY, None).await;
    assert_eq!((r.status, r.error()), (401, "unauthorized"));
    let cases = [
        (
            r#"{"type":"screen","userId":"u","name":"Home"}"#,
            "unsupported_type",
        ),
        (r#"{"type":"bogus","userId":"u"}"#, "invalid_type"),
        (r#"{"userId":"u"}"#, "missing_type"),
        (r#"{"type":"track","userId":"u"}"#, "missing_event"),
        (
            r#"{"type":"track","event":"E"}"#,
            "missing_user_id_or_anonymous_id",
        ),
        (r#"{"type":"group","userId":"u"}"#, "missing_group_id"),
        (r#"{"type":"alias","userId":"u"}"#, "missing_previous_id"),
        (
            r#"{"type":"alias","previousId":"p","anonymousId":"a"}"#,
            "missing_user_id",
        ),
        (
            r#"{"type":"identify","userId":"u","traits":[1]}"#,
            "invalid_traits",
        ),
        (
            r#"{"type":"track","userId":"u","event":"E","timestamp":"soon"}"#,
            "invalid_timestamp",
        ),
        (r#"[{"type":"track"}]"#, "invalid_body"),
        (r#"{"type":"#, "invalid_json"),
    ];
    for (body, code) in cases {
        let r = hook(&ts, KEY, body, None).await;
        assert_eq!((r.status, r.error()), (400, code), "{body}: {}", r.text);
    }
    let r = reply(
        ts.client
            .get(format!("{}/webhook/{KEY}", ts.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.error()), (405, "method_not_allowed"));
    // The request size limit applies here too.
    let big = json!({"type": "identify", "userId": "u", "traits": {"pad": "x".repeat(600 * 1024)}});
    let r = hook(&ts, KEY, &big.to_string(), None).await;
    assert_eq!((r.status, r.error()), (400, "request_too_large"));
    let s = state(&ts, KEY, "u", None).await;
    assert_eq!(s.json["traits"], json!({}), "nothing applied: {}", s.text);
    assert_eq!(s.json["events"], json!([]));
    // Webhook messages are not ingestion messages: /api/events stays empty.
    assert!(ts.events("").await.is_empty());
}

#[tokio::test]
async fn identify_group_track_and_alias_build_the_profile() {
    let ts = TestServer::start(|c| {
        c.with_identity_secret(KEY, SECRET)
            .with_company_event_property(KEY, "company_id")
    })
    .await;
    send(
        &ts,
        json!({"type": "identify", "userId": "user-42", "messageId": "m1",
                     "traits": {"email": "ada@example.com", "plan": "free", "tmp": 1}}),
    )
    .await;
    // Merged, not replaced: email stays, plan changes, null removes.
    send(
        &ts,
        json!({"type": "identify", "userId": "user-42", "messageId": "m2",
                     "traits": {"plan": "pro", "tmp": null}}),
    )
    .await;
    send(
        &ts,
        json!({"type": "group", "userId": "user-42", "groupId": "acme", "messageId": "m3",
                     "traits": {"name": "Acme", "seats": 5}}),
    )
    .await;
    send(
        &ts,
        json!({"type": "group", "userId": "someone-else", "groupId": "acme", "messageId": "m4",
                     "traits": {"seats": 6}}),
    )
    .await;
    // Track with the message's time, and one without (received time).
    send(
        &ts,
        json!({"type": "track", "userId": "user-42", "event": "Report Created",
                     "messageId": "m5", "timestamp": "2026-11-28T20:00:00.000Z",
                     "properties": {"company_id": "acme", "size": 3, "deep": {"x": 1}}}),
    )
    .await;
    let before = chrono::Utc::now().timestamp_millis();
    send(
        &ts,
        json!({"type": "track", "userId": "user-42", "event": "Report Created",
                     "messageId": "m6", "properties": {"size": 4}}),
    )
    .await;
    send(
        &ts,
        json!({"type": "track", "userId": "user-42", "event": "Invited",
                     "messageId": "m7", "timestamp": "2026-11-28T21:00:00+01:00"}),
    )
    .await;
    let after = chrono::Utc::now().timestamp_millis();
    send(
        &ts,
        json!({"type": "page", "userId": "user-42", "messageId": "m8", "name": "Home"}),
    )
    .await;

    let s = state(&ts, KEY, "user-42", Some(SIG_USER_42)).await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.header("access-control-allow-origin"), Some("*"));
    assert_eq!(s.header("access-control-allow-credentials"), None);
    assert_eq!(s.json["userId"], "user-42");
    assert_eq!(
        s.json["traits"],
        json!({"email": "ada@example.com", "plan": "pro"})
    );
    assert_eq!(s.json["company"]["id"], "acme");
    assert_eq!(
        s.json["company"]["traits"],
        json!({"name": "Acme", "seats": 6})
    );
    let events = s.json["events"].as_array().unwrap();
    // Least recently tracked first: "Invited" (20:00Z) is older than the second
    // "Report Created" (now).
    assert_eq!(events.len(), 2, "{}", s.text);
    assert_eq!(events[0][0], "Invited");
    assert_eq!(events[0][1], 1);
    assert_eq!(events[0][2], json!([[1_795_896_000_000i64, {}]]));
    assert_eq!(events[1][0], "Report Created");
    assert_eq!(events[1][1], 2);
    let occurrences = events[1][2].as_array().unwrap();
    assert_eq!(
        occurrences[0],
        json!([1_795_896_000_000i64, {"company_id": "acme", "size": 3}]),
        "non-scalar properties are dropped"
    );
    let at = occurrences[1][0].as_i64().unwrap();
    assert!(
        (before..=after).contains(&at),
        "{before} <= {at} <= {after}"
    );
    assert_eq!(occurrences[1][1], json!({"size": 4}));
    // The company event property attached the first one to acme.
    assert_eq!(
        s.json["company"]["events"],
        json!([["Report Created", 1, [[1_795_896_000_000i64, {"company_id": "acme", "size": 3}]]]])
    );

    // Alias moves an anonymous visitor's data to the user.
    send(
        &ts,
        json!({"type": "identify", "anonymousId": "anon-9", "messageId": "a1",
                     "traits": {"email": "old@example.com", "referrer": "ad"}}),
    )
    .await;
    send(
        &ts,
        json!({"type": "track", "anonymousId": "anon-9", "event": "Signed Up",
                     "messageId": "a2", "timestamp": "2026-11-27T00:00:00Z"}),
    )
    .await;
    send(
        &ts,
        json!({"type": "alias", "previousId": "anon-9", "userId": "user-42",
                     "messageId": "a3"}),
    )
    .await;
    let s = state(&ts, KEY, "user-42", Some(SIG_USER_42)).await;
    assert_eq!(
        s.json["traits"],
        json!({"email": "ada@example.com", "plan": "pro", "referrer": "ad"}),
        "the user's own traits win"
    );
    let names: Vec<&str> = s.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Signed Up", "Invited", "Report Created"]);
    let anon_sig = identity_signature(SECRET, "anon-9");
    let gone = state(&ts, KEY, "anon-9", Some(&anon_sig)).await;
    assert_eq!(gone.json["traits"], json!({}));
    assert_eq!(gone.json["events"], json!([]));
    assert_eq!(gone.json["company"], Value::Null);
}

#[tokio::test]
async fn webhook_is_idempotent_and_durable_per_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = |c: segflow_collector::Config| {
        c.with_write_key("STAGE", "staging")
            .with_write_key("STAGE2", "staging")
            .with_dev_state(true)
    };
    let ts = TestServer::start_in(dir, config).await;
    let track = json!({"type": "track", "userId": "u", "event": "E", "messageId": "dup-1"});
    for _ in 0..3 {
        send(&ts, track.clone()).await;
    }
    // Same messageId in another environment: its own store.
    let r = hook(&ts, "STAGE", &track.to_string(), None).await;
    assert_eq!(r.json["duplicate"], false, "{}", r.text);
    // A second key of the same environment shares that environment's store.
    let r = hook(&ts, "STAGE2", &track.to_string(), None).await;
    assert_eq!(r.json["duplicate"], true, "{}", r.text);
    let s = state(&ts, KEY, "u", None).await;
    assert_eq!(s.json["events"][0][1], 1, "{}", s.text);

    // Restart over the same database: everything is still there, and a retry of
    // an applied messageId is still a duplicate.
    let dir = ts.stop().await;
    let ts = TestServer::start_in(dir, config).await;
    let r = hook(&ts, KEY, &track.to_string(), None).await;
    assert_eq!(r.json["duplicate"], true, "{}", r.text);
    let s = state(&ts, KEY, "u", None).await;
    assert_eq!(s.json["events"][0][1], 1, "{}", s.text);
    let s = state(&ts, "STAGE2", "u", None).await;
    assert_eq!(s.json["events"][0][1], 1, "{}", s.text);
}

#[tokio::test]
async fn state_requires_the_users_signature() {
    let ts = TestServer::start(|c| {
        c.with_write_key("DEV", "development")
            .with_identity_secret(KEY, SECRET)
    })
    .await;
    send(
        &ts,
        json!({"type": "identify", "userId": "user-42", "messageId": "x",
                     "traits": {"email": "ada@example.com"}}),
    )
    .await;
    let r = state(&ts, KEY, "user-42", None).await;
    assert_eq!(
        (r.status, r.error()),
        (401, "missing_signature"),
        "{}",
        r.text
    );
    let r = state(
        &ts,
        KEY,
        "user-42",
        Some(&identity_signature(SECRET, "user-43")),
    )
    .await;
    assert_eq!((r.status, r.error()), (401, "invalid_signature"));
    assert!(r.json.get("traits").is_none());
    let r = state(&ts, KEY, "user-42", Some(&SIG_USER_42.to_ascii_uppercase())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // A key without an identity secret: 403 unless --dev-state.
    let r = state(&ts, "DEV", "user-42", None).await;
    assert_eq!((r.status, r.error()), (403, "state_disabled"), "{}", r.text);
    let r = state(&ts, "NOPE", "user-42", None).await;
    assert_eq!((r.status, r.error()), (401, "unauthorized"));
    let r = ts.get(&format!("/v1/state?writeKey={KEY}")).await;
    assert_eq!((r.status, r.error()), (400, "invalid_query"));
    // Errors are readable cross-origin too (no credentials).
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let dev = TestServer::start(|c| c.with_dev_state(true)).await;
    send(
        &dev,
        json!({"type": "identify", "userId": "u", "messageId": "y",
                      "traits": {"a": 1}}),
    )
    .await;
    let r = state(&dev, KEY, "u", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["traits"], json!({"a": 1}));
}

#[tokio::test]
async fn state_preflight_allows_the_signature_header_without_credentials() {
    let ts = TestServer::start(|c| c.with_identity_secret(KEY, SECRET)).await;
    let response = ts
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/state", ts.url))
        .header("origin", "https://app.example.test")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-segflow-signature")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h.get("access-control-allow-credentials").is_none());
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("x-segflow-signature"));
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("GET"));
    // The webhook is server to server: no CORS at all.
    let r = hook(&ts, KEY, SIGNED_BODY, None).await;
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn state_events_follow_the_sdk_log_bounds() {
    let ts = TestServer::start(|c| c.with_dev_state(true)).await;
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("b{n}")
    };
    // 105 names, one occurrence each, at increasing times: the 100 latest stay.
    for i in 0..105 {
        let t = format!("2026-01-01T00:{:02}:{:02}.000Z", i / 60, i % 60);
        send(
            &ts,
            json!({"type": "track", "userId": "u", "event": format!("N{i}"),
                         "messageId": next(), "timestamp": t}),
        )
        .await;
    }
    // 60 occurrences of one name, out of order: total 60, the 50 latest, oldest first.
    let mut props = serde_json::Map::new();
    for k in 0..25 {
        props.insert(format!("p{k:02}"), json!(k));
    }
    props.insert("long".into(), json!("x".repeat(257)));
    for i in (0..60).rev() {
        let t = format!("2026-02-01T00:00:{:02}.000Z", i);
        let mut p = props.clone();
        p.insert("i".into(), json!(i));
        send(
            &ts,
            json!({"type": "track", "userId": "u", "event": "Many",
                         "messageId": next(), "timestamp": t, "properties": p}),
        )
        .await;
    }
    let s = state(&ts, KEY, "u", None).await;
    let events = s.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 100);
    assert_eq!(
        events[0][0], "N6",
        "the least recently tracked kept name first"
    );
    assert_eq!(events[98][0], "N104");
    let many = &events[99];
    assert_eq!(many[0], "Many");
    assert_eq!(many[1], 60);
    let occ = many[2].as_array().unwrap();
    assert_eq!(occ.len(), 50);
    assert_eq!(occ[0][0], 1_769_904_010_000i64, "2026-02-01T00:00:10Z");
    assert_eq!(occ[49][0], 1_769_904_059_000i64);
    for o in occ {
        let p = o[1].as_object().unwrap();
        assert_eq!(p.len(), 20, "{p:?}");
        assert!(!p.contains_key("long"));
    }
}

#[tokio::test]
async fn the_pages_own_events_coming_back_from_segment_are_not_counted_twice() {
    // Segment's Webhooks destination on a source that segflow also sends to would
    // hand segflow's own tracks back; the browser counted those already.
    let ts = TestServer::start(|c| c.with_dev_state(true)).await;
    send(
        &ts,
        json!({"type": "track", "userId": "u", "messageId": "own", "event": "Report Exported",
               "context": {"library": {"name": "segflow", "version": "0.1.0"}}}),
    )
    .await;
    send(
        &ts,
        json!({"type": "track", "userId": "u", "messageId": "backend", "event": "Report Exported",
               "context": {"library": {"name": "analytics-node", "version": "2"}}}),
    )
    .await;
    let r = state(&ts, KEY, "u", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["events"][0][0], "Report Exported");
    assert_eq!(r.json["events"][0][1], 1, "only the back end's: {}", r.text);
}

#[tokio::test]
async fn stats_count_webhook_messages_and_state_reads() {
    let ts = TestServer::start(|c| {
        c.with_webhook_secret(KEY, WEBHOOK_SECRET)
            .with_identity_secret(KEY, SECRET)
    })
    .await;
    assert_eq!(hook(&ts, KEY, SIGNED_BODY, None).await.status, 401);
    assert_eq!(hook(&ts, KEY, SIGNED_BODY, Some("00")).await.status, 401);
    let bad = r#"{"type":"track","userId":"u"}"#;
    let r = hook(
        &ts,
        KEY,
        bad,
        Some(&sha1_sig(WEBHOOK_SECRET, bad.as_bytes())),
    )
    .await;
    assert_eq!(r.status, 400);
    for _ in 0..2 {
        // The second is a duplicate: received, not applied again.
        let r = hook(&ts, KEY, SIGNED_BODY, Some(SIGNED_BODY_SIG)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(
        state(&ts, KEY, "user-42", Some(SIG_USER_42)).await.status,
        200
    );
    assert_eq!(state(&ts, KEY, "user-42", None).await.status, 401);
    let stats = ts.stats().await;
    assert_eq!(
        stats["webhook"],
        json!({
            "accepted": 2,
            "duplicates": 1,
            "rejected": {"missing_signature": 1, "invalid_signature": 1, "missing_event": 1},
        }),
        "{stats}"
    );
    assert_eq!(
        stats["state"],
        json!({"served": 1, "refused": {"missing_signature": 1}}),
        "{stats}"
    );
    // Webhook messages are not counted as ingestion requests or rejections.
    assert_eq!(stats["requests"], 0, "{stats}");
    assert_eq!(stats["rejected"], json!({}), "{stats}");
}

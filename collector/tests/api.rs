//! Read side (`/api/events`, `/api/stats`, `/api/stream`, `/debugger`, `/health`),
//! CORS, static files and fault injection, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{basic, track, TestServer, KEY};
use segflow_collector::FaultConfig;
use serde_json::{json, Value};

const ORIGIN: &str = "http://app.example.test:3000";

#[tokio::test]
async fn cors_preflight_and_headers_on_every_answer() {
    let ts = TestServer::start(|c| c).await;
    let preflight = ts
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/t", ts.url))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-custom",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    let h = preflight.headers();
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(get("access-control-allow-origin"), ORIGIN);
    assert_eq!(get("access-control-allow-credentials"), "true");
    let methods = get("access-control-allow-methods");
    for m in ["POST", "GET", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = get("access-control-allow-headers").to_ascii_lowercase();
    for name in ["authorization", "content-type", "x-custom"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert_eq!(get("access-control-max-age"), "86400");
    assert_eq!(
        ts.stats().await["requests"],
        0,
        "a preflight is not an ingestion request"
    );

    // Real ingestion answers carry the headers too: success, 400, 401, 404.
    let send = |method: reqwest::Method, path: &str, body: Option<Value>, key: Option<&str>| {
        let mut req = ts
            .client
            .request(method, format!("{}{path}", ts.url))
            .header("origin", ORIGIN);
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        if let Some(key) = key {
            req = req.header("authorization", basic(key));
        }
        req.send()
    };
    let answers = vec![
        (
            200,
            send(
                reqwest::Method::POST,
                "/v1/t",
                Some(track("u", "E", "c1")),
                Some(KEY),
            )
            .await
            .unwrap(),
        ),
        (
            400,
            send(
                reqwest::Method::POST,
                "/v1/t",
                Some(json!({"userId": "u"})),
                Some(KEY),
            )
            .await
            .unwrap(),
        ),
        (
            401,
            send(
                reqwest::Method::POST,
                "/v1/t",
                Some(track("u", "E", "c2")),
                Some("bad"),
            )
            .await
            .unwrap(),
        ),
        (
            404,
            send(reqwest::Method::POST, "/v1/nope", None, Some(KEY))
                .await
                .unwrap(),
        ),
    ];
    for (status, response) in answers {
        assert_eq!(response.status().as_u16(), status, "{}", response.url());
        let h = response.headers();
        assert_eq!(
            h["access-control-allow-origin"],
            ORIGIN,
            "{}",
            response.url()
        );
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert!(h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("Retry-After"));
    }
    // Without an Origin (curl, servers): a plain wildcard.
    let r = ts.post("/v1/t", &track("u", "E", "c3"), Some(KEY)).await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    // The read side is not readable cross-origin (it used to carry the same
    // headers): no CORS header at all, with or without an Origin, and its
    // preflights allow nothing.
    for path in ["/api/events", "/api/stats", "/api/duplicates", "/debugger"] {
        let response = send(reqwest::Method::GET, path, None, None).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let cors: Vec<_> = response
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{path}: {cors:?}");
        let preflight = ts
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", ts.url))
            .header("origin", ORIGIN)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        let cors: Vec<_> = preflight
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "preflight {path}: {cors:?}");
    }
}

#[tokio::test]
async fn events_filters_cursor_order_and_limit() {
    let ts = TestServer::start(|c| c.with_write_key("STAGE", "staging")).await;
    let batch = json!({"batch": [
        {"type": "track", "userId": "alice", "event": "Signed Up", "messageId": "m1"},
        {"type": "identify", "userId": "alice", "messageId": "m2", "traits": {"plan": "pro"}},
        {"type": "track", "anonymousId": "anon-9", "event": "Viewed", "messageId": "m3"},
        {"type": "page", "userId": "bob", "name": "Home", "messageId": "m4"},
        {"type": "track", "userId": "bob", "event": "Signed Up", "messageId": "m5"}
    ]});
    assert_eq!(
        ts.post("/v1/b", &batch, Some(KEY)).await.json["accepted"],
        5
    );
    assert_eq!(
        ts.post("/v1/t", &track("carol", "Signed Up", "m6"), Some("STAGE"))
            .await
            .json["accepted"],
        1
    );

    let ids = |events: Vec<Value>| -> Vec<String> {
        events
            .iter()
            .map(|e| e["messageId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(ts.events("").await),
        ["m1", "m2", "m3", "m4", "m5", "m6"],
        "arrival order"
    );
    assert_eq!(ids(ts.events("type=track").await), ["m1", "m3", "m5", "m6"]);
    assert_eq!(ids(ts.events("userId=alice").await), ["m1", "m2"]);
    assert_eq!(ids(ts.events("anonymousId=anon-9").await), ["m3"]);
    assert_eq!(
        ids(ts.events("event=Signed%20Up").await),
        ["m1", "m5", "m6"]
    );
    assert_eq!(ids(ts.events("event=Signed+Up&userId=bob").await), ["m5"]);
    assert_eq!(ids(ts.events("writeKey=STAGE").await), ["m6"]);
    assert_eq!(
        ids(ts.events("environment=default&type=page").await),
        ["m4"]
    );
    assert_eq!(
        ids(ts.events("type=&userId=").await).len(),
        6,
        "empty filters are ignored"
    );
    assert_eq!(ids(ts.events("limit=2").await), ["m1", "m2"]);
    assert_eq!(ids(ts.events("limit=0").await), Vec::<String>::new());
    assert_eq!(ids(ts.events("order=desc&limit=2").await), ["m6", "m5"]);

    // Cursor: `since=<id>` returns rows after it; `next` is the cursor to poll with.
    let page = ts.get("/api/events?limit=4").await.json;
    assert_eq!(page["events"].as_array().unwrap().len(), 4);
    let next = page["next"].as_i64().unwrap();
    assert_eq!(next, page["events"][3]["id"].as_i64().unwrap());
    let rest = ts.get(&format!("/api/events?since={next}")).await.json;
    assert_eq!(
        ids(rest["events"].as_array().unwrap().clone()),
        ["m5", "m6"]
    );
    let last = rest["next"].as_i64().unwrap();
    let empty = ts.get(&format!("/api/events?since={last}")).await.json;
    assert_eq!(
        empty,
        json!({"events": [], "next": last}),
        "nothing new: next stays"
    );
    // since may also be an ISO time (receivedAt >= since).
    assert_eq!(ts.events("since=2000-01-01T00:00:00Z").await.len(), 6);
    assert_eq!(ts.events("since=2999-01-01T00:00:00Z").await.len(), 0);

    // Each event is the stored body plus id, writeKey, environment.
    let e = &ts.events("messageId=m2").await[0];
    assert_eq!(e["traits"], json!({"plan": "pro"}));
    assert!(e["id"].as_i64().unwrap() > 0);
    assert_eq!(e["writeKey"], KEY);
    assert_eq!(e["environment"], "default");
    for field in ["receivedAt", "timestamp", "messageId", "type"] {
        assert!(e[field].is_string(), "{field}");
    }

    for bad in ["limit=ten", "limit=-1", "since=yesterday", "order=sideways"] {
        let r = ts.get(&format!("/api/events?{bad}")).await;
        assert_eq!(
            (r.status, r.error()),
            (400, "invalid_query"),
            "{bad}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn events_limit_defaults_to_100_and_caps_at_10000() {
    let ts = TestServer::start(|c| c).await;
    let messages: Vec<Value> = (0..150)
        .map(|i| track("u", "E", &format!("n{i}")))
        .collect();
    assert_eq!(
        ts.post("/v1/b", &json!({"batch": messages}), Some(KEY))
            .await
            .json["accepted"],
        150
    );
    assert_eq!(ts.events("").await.len(), 100);
    assert_eq!(ts.events("limit=999999").await.len(), 150);
    assert_eq!(ts.events("limit=120").await.len(), 120);
}

#[tokio::test]
async fn stats_count_requests_acceptance_duplicates_and_rejections() {
    let ts = TestServer::start(|c| c).await;
    let batch = json!({"batch": [track("u", "E", "s1"), track("u", "E", "s1"), {"type": "track", "userId": "u"}]});
    ts.post("/v1/b", &batch, Some(KEY)).await;
    ts.post("/v1/t", &track("u", "E", "s2"), Some(KEY)).await;
    ts.post("/v1/t", &track("u", "E", "s3"), Some("wrong"))
        .await;
    ts.post_raw("/v1/t", b"{".to_vec(), Some(KEY), "text/plain")
        .await;
    let stats = ts.stats().await;
    assert_eq!(
        stats,
        json!({
            "accepted": 2,
            "duplicates": 1,
            "rejected": {"missing_event": 1, "unauthorized": 1, "invalid_json": 1},
            "requests": 4,
            "preflights": 0,
            "faults": {"failed": 0, "rateLimited": 0, "dropped": 0, "hung": 0, "delayed": 0},
            "environments": {"default": 2},
            "webhook": {"accepted": 0, "duplicates": 0, "rejected": {}},
            "state": {"served": 0, "refused": {}}
        })
    );
}

#[tokio::test]
async fn debugger_page_and_health() {
    let ts = TestServer::start(|c| c).await;
    let r = ts.get("/debugger").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    for needle in [
        "<!doctype html>",
        // The stream URL gains ?token= when the page was opened with one.
        "EventSource(\"/api/stream\"",
        "\"?token=\" + encodeURIComponent(token)",
        "\"Bearer \" + token",
        "/api/events",
        "<style>",
        "<script>",
    ] {
        assert!(r.text.contains(needle), "debugger lacks {needle}");
    }
    assert!(!r.text.contains("src=\"http"), "no external assets");
    assert!(
        !r.text.contains("innerHTML"),
        "event data is never put in as HTML"
    );
    let r = ts.get("/health").await;
    assert_eq!((r.status, r.text.as_str()), (200, "ok"));
}

/// Reads SSE chunks until one `data:` line holds `needle`; returns that JSON.
async fn next_sse_event(response: &mut reqwest::Response, needle: &str) -> Value {
    let mut buffer = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .expect("an SSE event within 10 s")
            .expect("stream readable")
            .expect("stream open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        for line in buffer.lines() {
            if let Some(data) = line.strip_prefix("data:") {
                if data.contains(needle) {
                    return serde_json::from_str(data.trim()).expect("event JSON");
                }
            }
        }
    }
}

#[tokio::test]
async fn stream_delivers_stored_events_live() {
    let ts = TestServer::start(|c| c.with_write_key("STAGE", "staging")).await;
    let mut stream = ts
        .client
        .get(format!("{}/api/stream", ts.url))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    // The read side carries no CORS headers (it used to echo the origin).
    assert!(stream
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // A rejected message and a duplicate are not streamed; a stored one is.
    ts.post(
        "/v1/t",
        &json!({"userId": "u", "messageId": "bad"}),
        Some(KEY),
    )
    .await;
    ts.post(
        "/v1/t",
        &track("live-user", "Live", "live-1"),
        Some("STAGE"),
    )
    .await;
    let event = next_sse_event(&mut stream, "live-1").await;
    assert_eq!(event["event"], "Live");
    assert_eq!(event["userId"], "live-user");
    assert_eq!(event["environment"], "staging");
    let stored = &ts.events("messageId=live-1").await[0];
    assert_eq!(&event, stored, "same JSON as /api/events");

    ts.post(
        "/v1/t",
        &track("live-user", "Live", "live-1"),
        Some("STAGE"),
    )
    .await;
    ts.post(
        "/v1/b",
        &json!({"batch": [track("u", "Second", "live-2")]}),
        Some(KEY),
    )
    .await;
    let event = next_sse_event(&mut stream, "live-").await;
    assert_eq!(
        event["messageId"], "live-2",
        "the duplicate was not streamed"
    );

    // Stopping the server ends the stream instead of hanging.
    let stopped = tokio::time::timeout(Duration::from_secs(5), ts.stop()).await;
    assert!(stopped.is_ok(), "stop() finished with a stream open");
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "stream ended");
}

#[tokio::test]
async fn static_folders_are_served_under_prefixes() {
    let root = tempfile::tempdir().unwrap();
    let (w, p) = (root.path().join("www"), root.path().join("pkg"));
    std::fs::create_dir_all(&w).unwrap();
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(w.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(w.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(p.join("segflow_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
    let ts = TestServer::start(move |c| c.with_static("/", w).with_static("/pkg", p)).await;

    let r = ts.get("/").await;
    assert_eq!((r.status, r.text.as_str()), (200, "<h1>demo</h1>"));
    let r = ts.get("/app.js").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().contains("javascript"));
    let r = ts.get("/pkg/segflow_bg.wasm").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/wasm"));
    assert_eq!(ts.get("/missing.html").await.status, 404);
    for escape in [
        "/%2e%2e/secret.txt",
        "/pkg/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
    ] {
        let r = ts.get(escape).await;
        assert!(!r.text.contains("secret"), "{escape} escaped the folder");
        assert!(r.status == 404 || r.status == 400, "{escape}: {}", r.status);
    }
    // A POST to a near-miss path (an apiHost without /v1, a trailing slash, the
    // endpoint twice) is the API's JSON 404, not the static folder's empty 405.
    for path in ["/batch", "/v1/batch/", "/v2/batch", "/v1/batch/v1/batch"] {
        let r = ts.post(path, &json!({"batch": []}), Some(KEY)).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        let body: Value = serde_json::from_str(&r.text).unwrap_or(Value::Null);
        assert_eq!(body["error"], "not_found", "{path}: {}", r.text);
    }
    // The API still wins over the static root.
    assert_eq!(ts.get("/health").await.text, "ok");
    assert_eq!(
        ts.post("/v1/t", &track("u", "E", "st"), Some(KEY))
            .await
            .status,
        200
    );

    // A missing folder is a start error.
    let dir = tempfile::tempdir().unwrap();
    let config = segflow_collector::Config::new(dir.path().join("x.db"))
        .with_static("/", dir.path().join("nope"));
    let err = segflow_collector::Server::start(config).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn fail_rate_one_answers_500_and_stores_nothing_but_reads_work() {
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            fail_rate: 1.0,
            ..FaultConfig::default()
        })
    })
    .await;
    for i in 0..5 {
        let r = ts
            .post("/v1/t", &track("u", "E", &format!("f{i}")), Some(KEY))
            .await;
        assert_eq!(
            (r.status, r.error()),
            (500, "injected_failure"),
            "{}",
            r.text
        );
    }
    let r = ts
        .post(
            "/v1/b",
            &json!({"batch": [track("u", "E", "fb")]}),
            Some(KEY),
        )
        .await;
    assert_eq!(r.status, 500);
    // Reads are never faulted.
    assert!(ts.events("").await.is_empty());
    let stats = ts.stats().await;
    assert_eq!(stats["accepted"], 0);
    assert_eq!(stats["requests"], 6);
    assert_eq!(stats["faults"]["failed"], 6);
    assert_eq!(ts.get("/health").await.status, 200);
    assert_eq!(ts.get("/debugger").await.status, 200);
}

#[tokio::test]
async fn rate_limit_every_second_request_answers_429_with_retry_after() {
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            rate_limit_every: 2,
            ..FaultConfig::default()
        })
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let response = ts
            .client
            .post(format!("{}/v1/t", ts.url))
            .header("origin", ORIGIN)
            .header("authorization", basic(KEY))
            .body(track("u", "E", &format!("r{i}")).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        statuses.push(status);
        if status == 429 {
            let h = response.headers();
            assert_eq!(h["retry-after"], "1");
            let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            assert!((now..=now + 2).contains(&reset), "reset {reset} now {now}");
            assert_eq!(h["access-control-allow-origin"], ORIGIN, "CORS on a 429");
            let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            assert_eq!(body["error"], "rate_limited");
        }
    }
    assert_eq!(statuses, [200, 429, 200, 429, 200, 429]);
    let ids: Vec<Value> = ts.message_ids("").await;
    assert_eq!(ids, vec![json!("r0"), json!("r2"), json!("r4")]);
    assert_eq!(ts.stats().await["faults"]["rateLimited"], 3);
}

#[tokio::test]
async fn latency_delays_ingestion_only() {
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            latency_ms: 500,
            ..FaultConfig::default()
        })
    })
    .await;
    let started = Instant::now();
    let r = ts.post("/v1/t", &track("u", "E", "slow"), Some(KEY)).await;
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(took >= Duration::from_millis(500), "took {took:?}");
    let started = Instant::now();
    assert_eq!(ts.events("").await.len(), 1);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "reads are not delayed"
    );
    assert_eq!(ts.stats().await["faults"]["delayed"], 1);
}

#[tokio::test]
async fn drop_rate_one_closes_connections_unanswered_and_stores_nothing() {
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            drop_rate: 1.0,
            ..FaultConfig::default()
        })
    })
    .await;
    for i in 0..3 {
        let result = ts
            .client
            .post(format!("{}/v1/t", ts.url))
            .header("authorization", basic(KEY))
            .body(track("u", "E", &format!("d{i}")).to_string())
            .send()
            .await;
        let err = result.expect_err("the connection is closed without an answer");
        assert!(!err.is_timeout(), "closed at once, not timed out: {err}");
    }
    // Over raw TCP: the socket closes with zero bytes of answer.
    let mut stream = tokio::net::TcpStream::connect(ts.addr()).await.unwrap();
    let body = track("u", "E", "raw").to_string();
    let request = format!(
        "POST /v1/t HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
        basic(KEY),
        body.len()
    );
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "closed within 5 s");
    assert!(
        answer.is_empty(),
        "no answer bytes: {:?}",
        String::from_utf8_lossy(&answer)
    );

    assert!(ts.events("").await.is_empty());
    let stats = ts.stats().await;
    assert_eq!(stats["faults"]["dropped"], 4);
    assert_eq!(stats["accepted"], 0);
}

#[tokio::test]
async fn seeded_faults_are_deterministic_and_only_successes_are_stored() {
    let faults = FaultConfig {
        fail_rate: 0.4,
        drop_rate: 0.2,
        seed: 1234,
        ..FaultConfig::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let f = faults.clone();
        let ts = TestServer::start(move |c| c.with_faults(f)).await;
        let mut outcomes = Vec::new();
        let mut ok_ids = Vec::new();
        for i in 0..30 {
            let id = format!("s{i}");
            let result = ts
                .client
                .post(format!("{}/v1/t", ts.url))
                .header("authorization", basic(KEY))
                .body(track("u", "E", &id).to_string())
                .send()
                .await;
            let outcome = match result {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            if outcome == 200 {
                ok_ids.push(json!(id));
            }
            outcomes.push(outcome);
        }
        let stored: Vec<Value> = ts.message_ids("").await;
        assert_eq!(
            stored, ok_ids,
            "exactly the acknowledged messages are stored"
        );
        runs.push(outcomes);
    }
    assert_eq!(runs[0], runs[1], "same seed, same faults");
    for code in [0, 200, 500] {
        assert!(runs[0].contains(&code), "{code} occurs in {:?}", runs[0]);
    }
}

/// Writes one `POST /v1/t` of `message_id` over a fresh TCP connection, without
/// reading the answer.
async fn raw_track(addr: std::net::SocketAddr, message_id: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = track("u", "E", message_id).to_string();
    let request = format!(
        "POST /v1/t HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
        basic(KEY),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Polls `/api/stats` until `faults.hung` reaches `n` (at most 5 s).
async fn wait_hung(ts: &TestServer, n: u64) {
    let end = Instant::now() + Duration::from_secs(5);
    while ts.stats().await["faults"]["hung"] != n {
        assert!(Instant::now() < end, "{n} hung requests within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn hang_nth_holds_those_requests_open_without_blocking_others_or_the_stop() {
    use tokio::io::AsyncReadExt as _;
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            hang_nth: vec![2, 4],
            rate_limit_every: 2,
            ..FaultConfig::default()
        })
    })
    .await;
    let r = ts.post("/v1/t", &track("u", "E", "h1"), Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Request 2 hangs (before rate limiting, which would answer it 429).
    let mut hung2 = raw_track(ts.addr(), "h2").await;
    wait_hung(&ts, 1).await;
    // Others are served meanwhile: request 3 is answered, request 4 hangs too,
    // request 5 is answered, request 6 is rate limited.
    let r = ts.post("/v1/t", &track("u", "E", "h3"), Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let hung4 = raw_track(ts.addr(), "h4").await;
    wait_hung(&ts, 2).await;
    let r = ts.post("/v1/t", &track("u", "E", "h5"), Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ts.post("/v1/t", &track("u", "E", "h6"), Some(KEY)).await;
    assert_eq!(r.status, 429, "{}", r.text);

    // Never answered: nothing to read after a while.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(300), hung2.read(&mut buf)).await;
    assert!(read.is_err(), "no answer to a hung request: {read:?}");
    assert_eq!(
        ts.message_ids("").await,
        [json!("h1"), json!("h3"), json!("h5")]
    );
    let stats = ts.stats().await;
    assert_eq!(stats["requests"], 6);
    assert_eq!(stats["faults"]["hung"], 2);
    assert_eq!(stats["faults"]["rateLimited"], 1);
    assert_eq!(stats["accepted"], 3);

    // A client giving up does not disturb the server.
    drop(hung4);
    let r = ts.post("/v1/t", &track("u", "E", "h7"), Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A stop does not wait for hung requests: their connections close unanswered.
    let started = Instant::now();
    let _dir = ts.stop().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "stopped in {took:?}");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), hung2.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "closed by the stop");
    assert!(
        answer.is_empty(),
        "no answer bytes: {:?}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn hung_request_over_http_client_times_out_and_stores_nothing() {
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            hang_nth: vec![1],
            ..FaultConfig::default()
        })
    })
    .await;
    let result = ts
        .client
        .post(format!("{}/v1/b", ts.url))
        .header("authorization", basic(KEY))
        .timeout(Duration::from_millis(500))
        .body(json!({"batch": [track("u", "E", "x1"), track("u", "E", "x2")]}).to_string())
        .send()
        .await;
    let err = result.expect_err("a hung request is never answered");
    assert!(err.is_timeout(), "{err}");
    assert!(ts.events("").await.is_empty());
    // The same messages sent again (request 2) are new, not duplicates.
    let r = ts
        .post(
            "/v1/b",
            &json!({"batch": [track("u", "E", "x1"), track("u", "E", "x2")]}),
            Some(KEY),
        )
        .await;
    assert_eq!(
        (r.json["accepted"].clone(), r.json["duplicates"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(ts.stats().await["faults"]["hung"], 1);
}

#[tokio::test]
async fn fail_status_and_retry_after_shape_injected_failures() {
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            fail_rate: 1.0,
            fail_status: 503,
            fail_retry_after: Some(7),
            ..FaultConfig::default()
        })
    })
    .await;
    for i in 0..3 {
        let response = ts
            .client
            .post(format!("{}/v1/t", ts.url))
            .header("origin", ORIGIN)
            .header("authorization", basic(KEY))
            .body(track("u", "E", &format!("f{i}")).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        let h = response.headers();
        assert_eq!(h["retry-after"], "7");
        assert_eq!(h["access-control-allow-origin"], ORIGIN);
        assert!(h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("Retry-After"));
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(body["error"], "injected_failure");
    }
    assert!(ts.events("").await.is_empty());
    let stats = ts.stats().await;
    assert_eq!(stats["faults"]["failed"], 3);
    assert_eq!(stats["requests"], 3);

    // Defaults: 500 without Retry-After.
    let ts = TestServer::start(|c| {
        c.with_faults(FaultConfig {
            fail_rate: 1.0,
            ..FaultConfig::default()
        })
    })
    .await;
    let r = ts.post("/v1/t", &track("u", "E", "d"), Some(KEY)).await;
    assert_eq!((r.status, r.error()), (500, "injected_failure"));
    assert_eq!(r.header("retry-after"), None);

    // Out of range statuses are refused at start.
    for fail_status in [200, 429, 499, 600] {
        let dir = tempfile::tempdir().unwrap();
        let config =
            segflow_collector::Config::new(dir.path().join("x.db")).with_faults(FaultConfig {
                fail_status,
                ..FaultConfig::default()
            });
        let err = segflow_collector::Server::start(config).await.unwrap_err();
        assert!(err.to_string().contains("fail-status"), "{err}");
    }
}

#[tokio::test]
async fn every_options_request_is_counted_as_a_preflight() {
    let ts = TestServer::start(|c| c).await;
    let paths = [
        "/v1/t",
        "/v1/batch",
        "/api/events",
        "/api/stats",
        "/nope",
        "/",
    ];
    for (i, path) in paths.iter().enumerate() {
        let mut request = ts
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", ts.url));
        if i % 2 == 0 {
            request = request
                .header("origin", ORIGIN)
                .header("access-control-request-method", "POST");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 204, "{path}");
    }
    // Over raw HTTP too, including the asterisk form.
    let (status, _) = common::raw_http(
        ts.addr(),
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 204);
    // Other methods are not preflights.
    ts.post("/v1/t", &track("u", "E", "p1"), Some(KEY)).await;
    ts.get("/api/events").await;
    let stats = ts.stats().await;
    assert_eq!(stats["preflights"], 7);
    assert_eq!(
        stats["requests"], 1,
        "a preflight is not an ingestion request"
    );
}

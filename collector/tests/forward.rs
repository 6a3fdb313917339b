//! First-party proxy (`--forward`): two collectors on loopback, one forwarding to
//! the other, over real HTTP. Every wait is bounded.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::{basic, client, track, KEY};
use segflow_collector::{Config, FaultConfig, ForwardConfig, Server};
use serde_json::{json, Value};

const KEY2: &str = "WK2";

/// Fast retries so that the tests take seconds.
fn fast(upstream: &str) -> ForwardConfig {
    ForwardConfig::new(upstream)
        .with_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .with_request_timeout(Duration::from_secs(5))
}

fn keys(config: Config) -> Config {
    config
        .with_write_key(KEY, "staging")
        .with_write_key(KEY2, "production")
}

async fn start(db: &Path, port: u16, f: impl FnOnce(Config) -> Config) -> Server {
    let config = f(keys(Config::new(db).with_port(port)));
    Server::start(config).await.expect("server starts")
}

async fn get_json(url: &str) -> Value {
    let r = client().get(url).send().await.expect("GET");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).expect("json")
}

async fn stats(base: &str) -> Value {
    get_json(&format!("{base}/api/stats")).await
}

async fn duplicates(base: &str) -> Vec<Value> {
    get_json(&format!("{base}/api/duplicates")).await["duplicates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn upstream_message_ids(base: &str) -> Vec<String> {
    let body = get_json(&format!("{base}/api/events?limit=10000")).await;
    body["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["messageId"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `check` every 25 ms until it holds; panics after `secs` seconds.
async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the proxy has nothing pending and upstream stored `n` messages.
async fn drained(proxy: &str, upstream: &str, n: u64, secs: u64) {
    wait_until(secs, "the spool to drain", || async {
        let p = stats(proxy).await;
        let u = stats(upstream).await;
        p["forward"]["pending"] == 0 && u["accepted"].as_u64() == Some(n)
    })
    .await;
}

fn batch_of(prefix: &str, n: usize) -> Value {
    let batch: Vec<Value> = (0..n)
        .map(|i| track("u1", "Clicked", &format!("{prefix}-{i}")))
        .collect();
    json!({ "batch": batch })
}

/// POSTs a batch until a 2xx, as a client with retries does (bounded).
async fn post_until_ok(http: &reqwest::Client, base: &str, key: &str, body: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sent = http
            .post(format!("{base}/v1/batch"))
            .header("authorization", basic(key))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        if let Ok(r) = sent {
            if r.status().is_success() {
                let text = r.text().await.unwrap_or_default();
                return serde_json::from_str(&text).unwrap_or(Value::Null);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the proxy never accepted a batch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Upstream stored every one of `expected` exactly once and saw no resend.
async fn exactly_once(upstream: &str, expected: usize) {
    let mut ids = upstream_message_ids(upstream).await;
    assert_eq!(ids.len(), expected, "stored upstream");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "distinct upstream");
    assert_eq!(duplicates(upstream).await, Vec::<Value>::new(), "resends");
    assert_eq!(stats(upstream).await["duplicates"], 0);
}

struct Pair {
    _dir: tempfile::TempDir,
    up_db: PathBuf,
    proxy_db: PathBuf,
    upstream: Option<Server>,
    proxy: Option<Server>,
    up_url: String,
    proxy_url: String,
}

impl Pair {
    async fn start(up_faults: FaultConfig, forward: impl Fn(&str) -> ForwardConfig) -> Pair {
        let dir = tempfile::tempdir().expect("tempdir");
        let up_db = dir.path().join("upstream.db");
        let proxy_db = dir.path().join("proxy.db");
        let upstream = start(&up_db, 0, |c| c.with_faults(up_faults)).await;
        let up_url = upstream.url();
        let proxy = start(&proxy_db, 0, |c| c.with_forward_config(forward(&up_url))).await;
        Pair {
            _dir: dir,
            up_db,
            proxy_db,
            proxy_url: proxy.url(),
            up_url,
            upstream: Some(upstream),
            proxy: Some(proxy),
        }
    }
}

#[tokio::test]
async fn events_arrive_upstream_exactly_once_with_their_fields() {
    let pair = Pair::start(FaultConfig::default(), fast).await;
    let http = client();
    let (p, u) = (pair.proxy_url.clone(), pair.up_url.clone());
    for i in 0..20 {
        let key = if i % 2 == 0 { KEY } else { KEY2 };
        let r = post_until_ok(&http, &p, key, &batch_of(&format!("b{i}"), 10)).await;
        assert_eq!(r["accepted"], 10);
    }
    // A message with client times, to check what upstream receives.
    let timed = json!({"type": "track", "userId": "u9", "event": "Timed", "messageId": "timed",
        "timestamp": "2020-01-01T00:00:00.000Z", "sentAt": "2020-01-01T00:00:05.000Z",
        "context": {"library": {"name": "segflow"}}});
    post_until_ok(&http, &p, KEY, &json!({"batch": [timed]})).await;
    drained(&p, &u, 201, 10).await;
    exactly_once(&u, 201).await;

    let up = stats(&u).await;
    assert_eq!(up["environments"]["staging"], 101);
    assert_eq!(up["environments"]["production"], 100);
    let forward = stats(&p).await["forward"].clone();
    assert_eq!(forward["upstream"], u.as_str());
    assert_eq!(forward["pending"], 0);
    assert_eq!(forward["inFlight"], 0);
    assert_eq!(forward["forwarded"], 201);
    assert_eq!(forward["failures"], 0);
    assert_eq!(forward["permanentFailures"], 0);
    assert_eq!(forward["lastError"], Value::Null);
    assert_eq!(forward["nextAttemptAt"], Value::Null);
    let attempts = forward["attempts"].as_u64().unwrap_or(0);
    assert!((1..=21).contains(&attempts), "attempts {attempts}");
    assert!(forward["spoolBytes"].as_u64().unwrap_or(0) > 0);

    let events = get_json(&format!("{u}/api/events?messageId=timed")).await;
    let e = &events["events"][0];
    assert_eq!(e["writeKey"], KEY);
    assert_eq!(e["context"]["ip"], "127.0.0.1");
    assert_eq!(e["context"]["library"]["name"], "segflow");
    assert_eq!(e["originalTimestamp"], "2020-01-01T00:00:00.000Z");
    // Upstream's skew correction lands on the proxy's corrected time (within the
    // milliseconds between the proxy's read of the clock and upstream's).
    let at_proxy = get_json(&format!("{p}/api/events?messageId=timed")).await;
    let ours = at_proxy["events"][0]["timestamp"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let theirs = e["timestamp"].as_str().unwrap_or("");
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("time");
    let gap = (parse(theirs) - parse(&ours)).num_milliseconds().abs();
    assert!(gap < 1000, "ours {ours}, upstream {theirs}");
    // A client resend to the proxy is deduped there, not forwarded again.
    post_until_ok(&http, &p, KEY, &batch_of("b0", 10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    exactly_once(&u, 201).await;
    assert_eq!(stats(&p).await["duplicates"], 10);
}

#[tokio::test]
async fn restarting_the_proxy_mid_stream_loses_and_repeats_nothing() {
    let mut pair = Pair::start(
        FaultConfig {
            latency_ms: 30,
            ..FaultConfig::default()
        },
        |up| fast(up).with_max_batch(500_000, 7),
    )
    .await;
    let (p, u) = (pair.proxy_url.clone(), pair.up_url.clone());
    let port = pair.proxy.as_ref().map(|s| s.addr().port()).unwrap_or(0);
    let poster = tokio::spawn({
        let p = p.clone();
        async move {
            let http = client();
            for i in 0..40 {
                post_until_ok(&http, &p, KEY, &batch_of(&format!("r{i}"), 5)).await;
            }
        }
    });
    wait_until(10, "some forwarding", || async {
        stats(&u).await["accepted"].as_u64().unwrap_or(0) >= 20
    })
    .await;
    if let Some(proxy) = pair.proxy.take() {
        proxy.stop().await;
    }
    let proxy = start(&pair.proxy_db, port, |c| c.with_forward_config(fast(&u))).await;
    pair.proxy = Some(proxy);
    tokio::time::timeout(Duration::from_secs(30), poster)
        .await
        .expect("the clients finish")
        .expect("the clients succeed");
    drained(&p, &u, 200, 20).await;
    exactly_once(&u, 200).await;
    assert_eq!(stats(&p).await["forward"]["forwarded"], 200);
}

#[tokio::test]
async fn restarting_the_upstream_holds_the_spool_then_drains_it() {
    let mut pair = Pair::start(FaultConfig::default(), fast).await;
    let (p, u) = (pair.proxy_url.clone(), pair.up_url.clone());
    let port = pair.upstream.as_ref().map(|s| s.addr().port()).unwrap_or(0);
    let http = client();
    post_until_ok(&http, &p, KEY, &batch_of("before", 10)).await;
    drained(&p, &u, 10, 10).await;
    if let Some(upstream) = pair.upstream.take() {
        upstream.stop().await;
    }
    for i in 0..5 {
        post_until_ok(&http, &p, KEY2, &batch_of(&format!("down{i}"), 10)).await;
    }
    wait_until(10, "failed attempts", || async {
        let f = stats(&p).await["forward"].clone();
        f["failures"].as_u64().unwrap_or(0) >= 2 && f["pending"] == 50
    })
    .await;
    let f = stats(&p).await["forward"].clone();
    assert!(f["lastError"].as_str().is_some(), "{f}");
    assert!(f["lastErrorAt"].as_str().is_some(), "{f}");
    assert_eq!(f["forwarded"], 10);
    assert_eq!(f["permanentFailures"], 0);

    let upstream = start(&pair.up_db, port, |c| c).await;
    pair.upstream = Some(upstream);
    drained(&p, &u, 60, 10).await;
    exactly_once(&u, 60).await;
    assert_eq!(stats(&p).await["forward"]["forwarded"], 60);
}

#[tokio::test]
async fn a_failing_upstream_gets_everything_once() {
    let pair = Pair::start(
        FaultConfig {
            fail_rate: 0.5,
            seed: 7,
            ..FaultConfig::default()
        },
        |up| fast(up).with_max_batch(500_000, 10),
    )
    .await;
    let (p, u) = (pair.proxy_url.clone(), pair.up_url.clone());
    let http = client();
    for i in 0..10 {
        post_until_ok(&http, &p, KEY, &batch_of(&format!("f{i}"), 10)).await;
    }
    drained(&p, &u, 100, 20).await;
    exactly_once(&u, 100).await;
    let f = stats(&p).await["forward"].clone();
    let failures = f["failures"].as_u64().unwrap_or(0);
    assert!(failures > 0, "{f}");
    assert_eq!(f["attempts"].as_u64(), Some(10 + failures), "{f}");
    assert!(f["lastError"].as_str().unwrap_or("").contains("500"), "{f}");
    assert_eq!(f["permanentFailures"], 0);
}

#[tokio::test]
async fn a_rate_limiting_upstream_gets_everything_once() {
    let pair = Pair::start(
        FaultConfig {
            rate_limit_every: 2,
            ..FaultConfig::default()
        },
        |up| fast(up).with_max_batch(500_000, 25),
    )
    .await;
    let (p, u) = (pair.proxy_url.clone(), pair.up_url.clone());
    let started = Instant::now();
    post_until_ok(&client(), &p, KEY, &batch_of("rl", 75)).await;
    // Requests 1 (25 ok), 2 (429, Retry-After: 1), 3 (25), 4 (429), 5 (25).
    drained(&p, &u, 75, 10).await;
    let elapsed = started.elapsed();
    exactly_once(&u, 75).await;
    assert!(
        elapsed >= Duration::from_secs(2),
        "{elapsed:?}: Retry-After ignored"
    );
    let f = stats(&p).await["forward"].clone();
    assert_eq!(f["attempts"], 5, "{f}");
    assert_eq!(f["failures"], 2, "{f}");
    assert!(f["lastError"].as_str().unwrap_or("").contains("429"), "{f}");
}

/// A hand-written upstream: records when each request came, answers as `answer`
/// says for the request's number (1-based) and its message ids.
type Answer = Arc<dyn Fn(usize, &[String]) -> (StatusCode, HeaderMap) + Send + Sync>;

/// When each request came and the messageIds it carried.
type Seen = Arc<Mutex<Vec<(Instant, Vec<String>)>>>;

struct Fake {
    url: String,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

async fn fake_upstream(answer: Answer) -> Fake {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let record = seen.clone();
    let router = axum::Router::new().route(
        "/v1/batch",
        axum::routing::post(move |body: String| {
            let record = record.clone();
            let answer = answer.clone();
            async move {
                let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let ids: Vec<String> = parsed["batch"]
                    .as_array()
                    .map(|b| {
                        b.iter()
                            .map(|m| m["messageId"].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                let n = {
                    let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                    seen.push((Instant::now(), ids.clone()));
                    seen.len()
                };
                let (status, headers) = answer(n, &ids);
                (status, headers, "{}").into_response()
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Fake {
        url: format!("http://{addr}"),
        seen,
        task,
    }
}

fn retry_after(secs: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("retry-after", secs.parse().expect("header"));
    h
}

async fn proxy_to(forward: ForwardConfig) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("proxy.db"), 0, |c| {
        c.with_forward_config(forward)
    })
    .await;
    (dir, server)
}

#[tokio::test]
async fn retry_after_is_honoured_on_429_and_503_and_capped() {
    for (status, after, cap, min_gap, max_gap) in [
        (StatusCode::TOO_MANY_REQUESTS, "1", 300, 1000, 3000),
        (StatusCode::SERVICE_UNAVAILABLE, "1", 300, 1000, 3000),
        // An hour is cut to the 1 s cap.
        (StatusCode::TOO_MANY_REQUESTS, "3600", 1, 1000, 3000),
    ] {
        let fake = fake_upstream(Arc::new(move |n, _| {
            if n == 1 {
                (status, retry_after(after))
            } else {
                (StatusCode::OK, HeaderMap::new())
            }
        }))
        .await;
        let config = fast(&fake.url).with_retry_after_cap(Duration::from_secs(cap));
        let (_dir, proxy) = proxy_to(config).await;
        let p = proxy.url();
        post_until_ok(&client(), &p, KEY, &batch_of("ra", 3)).await;
        wait_until(10, "the retry", || async {
            stats(&p).await["forward"]["forwarded"] == 3
        })
        .await;
        let f = stats(&p).await["forward"].clone();
        assert_eq!(f["pending"], 0);
        let seen = fake.seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 2, "{status}: one refusal, one success");
        let gap = seen[1].0.duration_since(seen[0].0).as_millis() as u64;
        assert!(
            (min_gap..max_gap).contains(&gap),
            "{status} Retry-After {after} (cap {cap} s): retried after {gap} ms"
        );
        assert_eq!(seen[0].1, seen[1].1, "the same messages are retried");
        proxy.stop().await;
        fake.task.abort();
    }
}

#[tokio::test]
async fn while_waiting_for_retry_after_next_attempt_at_is_shown() {
    let fake = fake_upstream(Arc::new(|n, _| {
        if n == 1 {
            (StatusCode::TOO_MANY_REQUESTS, retry_after("2"))
        } else {
            (StatusCode::OK, HeaderMap::new())
        }
    }))
    .await;
    let (_dir, proxy) = proxy_to(fast(&fake.url)).await;
    let p = proxy.url();
    post_until_ok(&client(), &p, KEY, &batch_of("n", 2)).await;
    wait_until(5, "the 429", || async {
        stats(&p).await["forward"]["failures"] == 1
    })
    .await;
    let f = stats(&p).await["forward"].clone();
    let next = f["nextAttemptAt"].as_str().unwrap_or("").to_string();
    let next = chrono::DateTime::parse_from_rfc3339(&next).expect("nextAttemptAt");
    let ahead = (next.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    assert!((500..=2100).contains(&ahead), "{ahead} ms ahead: {f}");
    assert_eq!(f["pending"], 2);
    wait_until(5, "the retry", || async {
        stats(&p).await["forward"]["forwarded"] == 2
    })
    .await;
    assert_eq!(stats(&p).await["forward"]["nextAttemptAt"], Value::Null);
    proxy.stop().await;
    fake.task.abort();
}

#[tokio::test]
async fn a_permanently_refused_message_is_isolated_recorded_and_skipped() {
    let fake = fake_upstream(Arc::new(|_, ids| {
        if ids.iter().any(|id| id == "poison") {
            (StatusCode::BAD_REQUEST, HeaderMap::new())
        } else {
            (StatusCode::OK, HeaderMap::new())
        }
    }))
    .await;
    let (dir, proxy) = proxy_to(fast(&fake.url)).await;
    let p = proxy.url();
    let mut batch: Vec<Value> = (0..15)
        .map(|i| track("u", "E", &format!("ok-{i}")))
        .collect();
    batch.insert(6, track("u", "E", "poison"));
    post_until_ok(&client(), &p, KEY, &json!({ "batch": batch })).await;
    wait_until(10, "the spool to move on", || async {
        stats(&p).await["forward"]["pending"] == 0
    })
    .await;
    // Later messages are not blocked.
    post_until_ok(&client(), &p, KEY, &batch_of("later", 3)).await;
    wait_until(10, "later messages", || async {
        stats(&p).await["forward"]["forwarded"] == 18
    })
    .await;
    let f = stats(&p).await["forward"].clone();
    assert_eq!(f["permanentFailures"], 1, "{f}");
    let recent = &f["recentPermanentFailures"][0];
    assert_eq!(recent["messageId"], "poison");
    assert_eq!(recent["writeKey"], KEY);
    assert_eq!(recent["status"], 400);
    assert!(recent["at"].as_str().is_some());
    assert!(f["lastError"].as_str().unwrap_or("").contains("400"), "{f}");
    // Delivered: every other message exactly once (splits resend only refused halves).
    let seen = fake.seen.lock().map(|s| s.clone()).unwrap_or_default();
    let mut delivered: Vec<String> = Vec::new();
    for (_, ids) in &seen {
        if !ids.iter().any(|id| id == "poison") {
            delivered.extend(ids.iter().cloned());
        }
    }
    delivered.sort();
    let before = delivered.len();
    delivered.dedup();
    assert_eq!((before, delivered.len()), (18, 18), "{seen:?}");
    // 16 messages: halves of 8, 4, 2, 1 isolate it: 1 + 2 * 4 requests.
    assert_eq!(seen.len() as u64, 9 + 1, "{seen:?}");
    // A restart does not send it again.
    proxy.stop().await;
    let proxy = start(&dir.path().join("proxy.db"), 0, |c| {
        c.with_forward_config(fast(&fake.url))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.seen.lock().map(|s| s.len()).unwrap_or(0), 10);
    let f = stats(&proxy.url()).await["forward"].clone();
    assert_eq!(
        (f["pending"].clone(), f["permanentFailures"].clone()),
        (json!(0), json!(1))
    );
    proxy.stop().await;
    fake.task.abort();
}

#[tokio::test]
async fn a_write_key_in_backoff_does_not_hold_back_the_others() {
    // Upstream refuses KEY's batches with 503 for a while; KEY2's go through.
    let fake = fake_upstream(Arc::new(|_, ids| {
        if ids.iter().any(|id| id.starts_with("slow")) {
            (StatusCode::SERVICE_UNAVAILABLE, retry_after("30"))
        } else {
            (StatusCode::OK, HeaderMap::new())
        }
    }))
    .await;
    let (_dir, proxy) = proxy_to(fast(&fake.url)).await;
    let p = proxy.url();
    post_until_ok(&client(), &p, KEY, &batch_of("slow", 2)).await;
    post_until_ok(&client(), &p, KEY2, &batch_of("fast", 2)).await;
    wait_until(5, "the other key", || async {
        stats(&p).await["forward"]["forwarded"] == 2
    })
    .await;
    assert_eq!(stats(&p).await["forward"]["pending"], 2);
    proxy.stop().await;
    fake.task.abort();
}

#[tokio::test]
async fn messages_stored_before_forwarding_was_enabled_stay_local() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up_db = dir.path().join("up.db");
    let db = dir.path().join("proxy.db");
    let upstream = start(&up_db, 0, |c| c).await;
    let u = upstream.url();
    let local = start(&db, 0, |c| c).await;
    post_until_ok(&client(), &local.url(), KEY, &batch_of("old", 3)).await;
    local.stop().await;
    let proxy = start(&db, 0, |c| c.with_forward_config(fast(&u))).await;
    let p = proxy.url();
    post_until_ok(&client(), &p, KEY, &batch_of("new", 2)).await;
    drained(&p, &u, 2, 10).await;
    let mut ids = upstream_message_ids(&u).await;
    ids.sort();
    assert_eq!(ids, vec!["new-0", "new-1"]);
    proxy.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn trust_proxy_takes_the_client_ip_from_x_forwarded_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (trust, expected) in [(false, "127.0.0.1"), (true, "203.0.113.7")] {
        let db = dir.path().join(format!("t{trust}.db"));
        let server = start(&db, 0, |c| c.with_trust_proxy(trust)).await;
        let base = server.url();
        let http = client();
        let r = http
            .post(format!("{base}/v1/batch"))
            .header("authorization", basic(KEY))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .header("x-forwarded-for", "10.1.2.3")
            .body(
                json!({"batch": [track("u", "E", "a"),
                    {"type": "track", "userId": "u", "event": "E", "messageId": "b",
                     "context": {"ip": "192.0.2.1"}}]})
                .to_string(),
            )
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        let events = get_json(&format!("{base}/api/events")).await;
        assert_eq!(
            events["events"][0]["context"]["ip"], expected,
            "trust {trust}"
        );
        assert_eq!(events["events"][1]["context"]["ip"], "192.0.2.1");
        server.stop().await;
    }
}

#[tokio::test]
async fn an_invalid_forward_url_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::new(dir.path().join("x.db")).with_forward("ftp://example.com");
    let err = Server::start(config).await.expect_err("refused");
    assert!(err.to_string().contains("forward"), "{err}");
}

#[tokio::test]
async fn stop_does_not_wait_forever_for_a_hung_upstream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = start(&dir.path().join("up.db"), 0, |c| {
        c.with_faults(FaultConfig {
            hang_nth: vec![1],
            ..FaultConfig::default()
        })
    })
    .await;
    let u = upstream.url();
    let db = dir.path().join("proxy.db");
    let proxy = start(&db, 0, |c| {
        c.with_forward_config(fast(&u).with_request_timeout(Duration::from_secs(60)))
    })
    .await;
    let p = proxy.url();
    post_until_ok(&client(), &p, KEY, &batch_of("h", 2)).await;
    wait_until(5, "the request in flight", || async {
        stats(&p).await["forward"]["inFlight"] == 2
    })
    .await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(12), proxy.stop())
        .await
        .expect("stop is bounded");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing was acknowledged: a new start sends it (request 2 is answered).
    let proxy = start(&db, 0, |c| c.with_forward_config(fast(&u))).await;
    drained(&proxy.url(), &u, 2, 10).await;
    proxy.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn the_debugger_shows_the_forwarding_state() {
    let pair = Pair::start(FaultConfig::default(), fast).await;
    let r = client()
        .get(format!("{}/debugger", pair.proxy_url))
        .send()
        .await
        .expect("GET");
    let page = r.text().await.expect("page");
    for needle in [
        "id=\"forward\"",
        "s.forward",
        "\"pending\"",
        "\"nextAttemptAt\"",
        "lastError",
        "recentPermanentFailures",
    ] {
        assert!(page.contains(needle), "{needle}");
    }
    // Without --forward, /api/stats has no forward object (the panel stays hidden).
    assert!(stats(&pair.up_url).await.get("forward").is_none());
    assert!(stats(&pair.proxy_url).await["forward"].is_object());
}

/// A message under 32 KB as sent that the proxy's enrichment (context.ip, its
/// messageId and timestamps) takes over 32 KB as forwarded: refused when it
/// arrives (the client hears it and drops it, reporting), never accepted with a
/// 200 and then refused upstream for good.
#[tokio::test]
async fn a_message_only_enrichment_takes_over_32_kb_is_refused_on_arrival() {
    let pair = Pair::start(FaultConfig::default(), fast).await;
    let http = client();
    let (p, u) = (pair.proxy_url.clone(), pair.up_url.clone());
    let mut big =
        json!({"type": "track", "userId": "u1", "event": "Big", "properties": {"blob": ""}});
    let pad = 32 * 1024 - 40 - big.to_string().len();
    big["properties"]["blob"] = Value::String("x".repeat(pad));
    let raw = big.to_string().len();
    assert!(
        (32 * 1024 - 60..32 * 1024).contains(&raw),
        "{raw} bytes as sent"
    );
    let body = json!({"batch": [track("u1", "Small", "small-1"), big]});
    let r = http
        .post(format!("{p}/v1/batch"))
        .header("authorization", basic(KEY))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let status = r.status();
    let answer: Value =
        serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"], "message_too_large", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or("")
            .contains("as forwarded"),
        "{answer}"
    );
    // Nothing of the refused request was stored; the small one, sent again alone, goes through.
    assert_eq!(stats(&p).await["accepted"], 0);
    post_until_ok(
        &http,
        &p,
        KEY,
        &json!({"batch": [track("u1", "Small", "small-1")]}),
    )
    .await;
    drained(&p, &u, 1, 10).await;
    assert_eq!(stats(&p).await["forward"]["permanentFailures"], 0);
}

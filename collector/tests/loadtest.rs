//! Bounded load test of one forwarding instance (`--forward`) on loopback in front
//! of an upstream collector: concurrent clients post Segment batches, the proxy is
//! restarted mid-way (clients retry), and at the end upstream must hold every
//! accepted event exactly once.
//!
//! `short_load_test` (20 clients, 3 s) runs with the other tests. The full run is
//! `scripts/loadtest.sh` / `make loadtest` (200 clients, 60 s by default):
//! `LOADTEST_CLIENTS=200 LOADTEST_SECS=60 cargo test --release -p segflow-collector
//! --test loadtest -- --ignored --nocapture`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::basic;
use segflow_collector::{Config, ForwardConfig, Server};
use serde_json::{json, Value};

const KEY: &str = "WK";
/// Events per posted batch.
const BATCH: usize = 10;

#[derive(Debug)]
struct Report {
    accepted_events: u64,
    events_per_sec: f64,
    requests: u64,
    retries: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    max_pending: u64,
    max_spool_bytes: u64,
    final_spool_bytes: u64,
    drain_secs: f64,
    upstream_accepted: u64,
    upstream_duplicates: usize,
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    let r = http.get(url).send().await.ok()?;
    serde_json::from_str(&r.text().await.ok()?).ok()
}

fn forward_config(upstream: &str) -> ForwardConfig {
    ForwardConfig::new(upstream)
        .with_backoff(Duration::from_millis(50), Duration::from_secs(1))
        .with_request_timeout(Duration::from_secs(10))
}

async fn run(clients: usize, secs: u64, verbose: bool) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let up_db = dir.path().join("upstream.db");
    let proxy_db = dir.path().join("proxy.db");
    let upstream = Server::start(Config::new(&up_db).with_write_key(KEY, "production"))
        .await
        .expect("upstream");
    let u = upstream.url();
    let start_proxy = |port: u16| {
        let config = Config::new(&proxy_db)
            .with_port(port)
            .with_write_key(KEY, "production")
            .with_forward_config(forward_config(&u));
        Server::start(config)
    };
    let proxy = start_proxy(0).await.expect("proxy");
    let port = proxy.addr().port();
    let p = proxy.url();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let accepted = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, p) = (http.clone(), p.clone());
        let (latencies, accepted, requests, retries) = (
            latencies.clone(),
            accepted.clone(),
            requests.clone(),
            retries.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let batch: Vec<Value> = (0..BATCH)
                    .map(|i| {
                        json!({"type": "track", "userId": format!("user-{c}"), "event": "Load",
                               "messageId": format!("c{c}-{n}-{i}"),
                               "timestamp": "2026-01-01T00:00:00.000Z",
                               "properties": {"client": c, "n": n, "i": i,
                                              "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}})
                    })
                    .collect();
                let body =
                    json!({"batch": batch, "sentAt": "2026-01-01T00:00:01.000Z"}).to_string();
                n += 1;
                // Retry until stored (bounded): the restart makes some attempts fail.
                let give_up = Instant::now() + Duration::from_secs(30);
                loop {
                    let t = Instant::now();
                    requests.fetch_add(1, Ordering::Relaxed);
                    let sent = http
                        .post(format!("{p}/v1/batch"))
                        .header("authorization", basic(KEY))
                        .header("content-type", "text/plain")
                        .body(body.clone())
                        .send()
                        .await;
                    let ok = match sent {
                        Ok(r) if r.status().is_success() => r.text().await.is_ok(),
                        _ => false,
                    };
                    if ok {
                        mine.push(t.elapsed().as_secs_f64() * 1000.0);
                        accepted.fetch_add(BATCH as u64, Ordering::Relaxed);
                        break;
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    assert!(Instant::now() < give_up, "client {c} could not post");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(mine);
            }
        }));
    }

    // Sampler: spool size and pending rows, every second.
    let max_pending = Arc::new(AtomicU64::new(0));
    let max_bytes = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (http, p) = (http.clone(), p.clone());
        let (max_pending, max_bytes, sampling, accepted) = (
            max_pending.clone(),
            max_bytes.clone(),
            sampling.clone(),
            accepted.clone(),
        );
        async move {
            while sampling.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(s) = get_json(&http, &format!("{p}/api/stats")).await else {
                    continue;
                };
                let pending = s["forward"]["pending"].as_u64().unwrap_or(0);
                let bytes = s["forward"]["spoolBytes"].as_u64().unwrap_or(0);
                max_pending.fetch_max(pending, Ordering::Relaxed);
                max_bytes.fetch_max(bytes, Ordering::Relaxed);
                if verbose {
                    println!(
                        "t={:>5.1}s accepted={} pending={} spool={} KiB forwarded={} attempts={}",
                        started.elapsed().as_secs_f64(),
                        accepted.load(Ordering::Relaxed),
                        pending,
                        bytes / 1024,
                        s["forward"]["forwarded"],
                        s["forward"]["attempts"],
                    );
                }
            }
        }
    });

    // Restart of the proxy mid-way, on the same port and database.
    tokio::time::sleep(Duration::from_millis(secs * 1000 / 2)).await;
    let down = Instant::now();
    proxy.stop().await;
    let proxy = start_proxy(port).await.expect("proxy restarts");
    if verbose {
        println!(
            "proxy restarted at t={:.1}s (down {} ms)",
            started.elapsed().as_secs_f64(),
            down.elapsed().as_millis()
        );
    }

    for task in tasks {
        task.await.expect("client task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let clients_done = Instant::now();
    let total = accepted.load(Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = get_json(&http, &format!("{p}/api/stats")).await;
        let pending = s.as_ref().and_then(|s| s["forward"]["pending"].as_u64());
        if pending == Some(0) {
            break;
        }
        assert!(Instant::now() < drain_deadline, "the spool did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_secs = clients_done.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let final_stats = get_json(&http, &format!("{p}/api/stats"))
        .await
        .unwrap_or(Value::Null);
    let up_stats = get_json(&http, &format!("{u}/api/stats"))
        .await
        .unwrap_or(Value::Null);
    let up_dups = get_json(&http, &format!("{u}/api/duplicates"))
        .await
        .and_then(|d| d["duplicates"].as_array().map(Vec::len))
        .unwrap_or(usize::MAX);
    proxy.stop().await;
    upstream.stop().await;

    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * q).round() as usize]
        }
    };
    Report {
        accepted_events: total,
        events_per_sec: total as f64 / elapsed,
        requests: requests.load(Ordering::Relaxed),
        retries: retries.load(Ordering::Relaxed),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        max_pending: max_pending.load(Ordering::Relaxed),
        max_spool_bytes: max_bytes.load(Ordering::Relaxed),
        final_spool_bytes: final_stats["forward"]["spoolBytes"].as_u64().unwrap_or(0),
        drain_secs,
        upstream_accepted: up_stats["accepted"].as_u64().unwrap_or(0),
        upstream_duplicates: up_dups,
    }
}

fn check(report: &Report) {
    assert!(report.accepted_events > 0, "{report:?}");
    assert_eq!(
        report.upstream_accepted, report.accepted_events,
        "every accepted event upstream: {report:?}"
    );
    assert_eq!(report.upstream_duplicates, 0, "no resend: {report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn short_load_test() {
    let report = tokio::time::timeout(Duration::from_secs(60), run(20, 3, false))
        .await
        .expect("bounded");
    check(&report);
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes long: run with scripts/loadtest.sh or make loadtest"]
async fn full_load_test() {
    let clients = env_or("LOADTEST_CLIENTS", 200) as usize;
    let secs = env_or("LOADTEST_SECS", 60);
    println!(
        "load test: {clients} clients, {secs} s, {BATCH} events per batch, proxy restart at {} s",
        secs / 2
    );
    let report = tokio::time::timeout(Duration::from_secs(secs + 300), run(clients, secs, true))
        .await
        .expect("bounded");
    println!("accepted events:      {}", report.accepted_events);
    println!("accepted events/s:    {:.0}", report.events_per_sec);
    println!(
        "requests:             {} ({} retried after a failure)",
        report.requests, report.retries
    );
    println!(
        "latency (accepted):   p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report.p50_ms, report.p99_ms, report.max_ms
    );
    println!(
        "spool:                max {} pending rows, max {:.1} MiB, {:.1} MiB at the end",
        report.max_pending,
        report.max_spool_bytes as f64 / 1048576.0,
        report.final_spool_bytes as f64 / 1048576.0
    );
    println!("drained after clients stopped: {:.1} s", report.drain_secs);
    println!(
        "upstream:             {} stored, {} resent messageIds",
        report.upstream_accepted, report.upstream_duplicates
    );
    check(&report);
    println!("OK: every accepted event arrived upstream exactly once");
}

//! Nothing acknowledged is lost: restarts in-process, SIGKILL of the real binary
//! right after a 200, and the command line itself.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{basic, client, reply, track, TestServer, KEY};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_segflow-collector");

#[tokio::test]
async fn restart_in_process_keeps_messages_and_dedupe() {
    let ts = TestServer::start(|c| c.with_write_key("STAGE", "staging")).await;
    let messages: Vec<Value> = (0..20).map(|i| track("u", "E", &format!("r{i}"))).collect();
    let r = ts
        .post("/v1/b", &json!({"batch": messages}), Some(KEY))
        .await;
    assert_eq!(r.json["accepted"], 20);
    let r = ts.post("/v1/t", &track("u", "E", "r0"), Some(KEY)).await;
    assert_eq!(r.json["duplicates"], 1);
    ts.post("/v1/t", &track("u", "E", "s0"), Some("STAGE"))
        .await;
    let before = ts.events("limit=1000").await;
    let dir = ts.stop().await;

    let ts = TestServer::start_in(dir, |c| c.with_write_key("STAGE", "staging")).await;
    let after = ts.events("limit=1000").await;
    assert_eq!(after, before, "same rows, ids and bodies after a restart");
    let stats = ts.stats().await;
    assert_eq!(stats["accepted"], 21);
    assert_eq!(
        stats["duplicates"], 1,
        "the duplicate counter is persistent"
    );
    assert_eq!(stats["requests"], 0, "request counters are per process");
    let r = ts.post("/v1/t", &track("u", "E", "r5"), Some(KEY)).await;
    assert_eq!(
        (r.json["accepted"].clone(), r.json["duplicates"].clone()),
        (json!(0), json!(1))
    );
    let r = ts.post("/v1/t", &track("u", "E", "new"), Some(KEY)).await;
    assert_eq!(r.json["accepted"], 1);
    // The per-messageId list of duplicates survives too, and grows on.
    let r = ts.get("/api/duplicates").await;
    assert_eq!(
        r.json,
        json!({"duplicates": [
            {"writeKey": KEY, "messageId": "r0", "count": 1},
            {"writeKey": KEY, "messageId": "r5", "count": 1},
        ]})
    );
    assert_eq!(ts.stats().await["duplicates"], 2);
    let newest = ts.events("messageId=new").await;
    let last_before = before.last().unwrap()["id"].as_i64().unwrap();
    assert!(newest[0]["id"].as_i64().unwrap() > last_before);
}

/// Starts the binary with `args`, reads its startup line and returns it with the
/// base URL.
async fn spawn(args: &[&str]) -> (Child, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("startup line within 10 s")
        .expect("stdout readable")
        .expect("a line");
    let url = line
        .strip_prefix("segflow-collector listening on ")
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .to_string();
    // Keep reading stdout so the child never blocks on a full pipe; it must stay
    // silent after the startup line.
    let extra = tokio::spawn(async move {
        let mut more = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            more.push(l);
        }
        more
    });
    drop(extra);
    (child, line, url)
}

async fn post(url: &str, path: &str, body: &Value, key: &str) -> common::Reply {
    let response = client()
        .post(format!("{url}{path}"))
        .header("authorization", basic(key))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    reply(response).await
}

#[tokio::test]
async fn sigkill_right_after_200_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("killed.db");
    let (mut child, line, url) = spawn(&[
        "--port",
        "0",
        "--db",
        db.to_str().unwrap(),
        "--write-key",
        "WK",
    ])
    .await;
    let port: u16 = line
        .strip_prefix("segflow-collector listening on http://127.0.0.1:")
        .expect("exact startup line")
        .parse()
        .expect("port number");
    assert_ne!(port, 0);

    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let id = format!("k{i}");
        let r = post(&url, "/v1/t", &track("u", "E", &id), KEY).await;
        assert_eq!(r.status, 200, "{}", r.text);
        acknowledged.push(id);
    }
    let batch: Vec<Value> = (0..200)
        .map(|i| track("u", "E", &format!("kb{i}")))
        .collect();
    let r = post(&url, "/v1/batch", &json!({"batch": batch}), KEY).await;
    assert_eq!(r.json["accepted"], 200);
    // SIGKILL at once: no shutdown code runs.
    child.start_kill().expect("kill");
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    acknowledged.extend((0..200).map(|i| format!("kb{i}")));

    // A new server on the killed process's database file.
    let server = segflow_collector::Server::start(segflow_collector::Config::new(&db))
        .await
        .unwrap();
    let response = client()
        .get(format!("{}/api/events?limit=10000", server.url()))
        .send()
        .await
        .unwrap();
    let events = reply(response).await.json["events"]
        .as_array()
        .unwrap()
        .clone();
    let stored: Vec<String> = events
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, acknowledged);
    server.stop().await;
    let rows = common::db_rows(&db);
    assert_eq!(rows.len(), 210);
    assert!(rows
        .iter()
        .all(|r| r.write_key == "WK" && r.kind == "track"));
}

#[tokio::test]
async fn cli_flags_labels_faults_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello").unwrap();
    let (mut child, line, url) = spawn(&[
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--db",
        db.to_str().unwrap(),
        "--write-key",
        "PK=production",
        "--write-key",
        "SK=staging",
        "--write-key",
        "DK",
        "--static",
        &format!("/={}", www.display()),
        "--rate-limit-every",
        "3",
        "--seed",
        "9",
    ])
    .await;
    assert!(
        line.starts_with("segflow-collector listening on http://127.0.0.1:"),
        "{line}"
    );
    let statuses = [
        post(&url, "/v1/t", &track("u", "E", "p"), "PK")
            .await
            .status,
        post(&url, "/v1/t", &track("u", "E", "s"), "SK")
            .await
            .status,
        post(&url, "/v1/t", &track("u", "E", "x"), "PK")
            .await
            .status,
        post(&url, "/v1/t", &track("u", "E", "d"), "DK")
            .await
            .status,
        post(&url, "/v1/t", &track("u", "E", "n"), "NOPE")
            .await
            .status,
    ];
    assert_eq!(statuses, [200, 200, 429, 200, 401]);
    let events = reply(
        client()
            .get(format!("{url}/api/events"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .json;
    let envs: Vec<(Value, Value)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["messageId"].clone(), e["environment"].clone()))
        .collect();
    assert_eq!(
        envs,
        vec![
            (json!("p"), json!("production")),
            (json!("s"), json!("staging")),
            (json!("d"), json!("default")),
        ]
    );
    let index = client()
        .get(format!("{url}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(index, "hello");

    // SIGTERM: a clean exit with status 0.
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn cli_rejects_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let db = db.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--port", "0", "--db", db, "--fail-rate", "2"],
            "fail-rate",
        ),
        (
            vec!["--port", "0", "--db", db, "--drop-rate", "-1"],
            "drop-rate",
        ),
        (
            vec!["--port", "0", "--db", db, "--fail-status", "404"],
            "fail-status",
        ),
        (
            vec!["--port", "0", "--db", db, "--fail-status", "600"],
            "fail-status",
        ),
        (
            vec!["--port", "0", "--db", db, "--hang-nth", "3,0"],
            "hang-nth",
        ),
        (
            vec!["--port", "0", "--db", db, "--hang-nth", "x"],
            "hang-nth",
        ),
        (
            vec!["--port", "0", "--db", db, "--fail-retry-after", "soon"],
            "fail-retry-after",
        ),
        (vec!["--port", "0", "--db", db, "--port", "x"], "port"),
        (
            vec!["--port", "0", "--db", db, "--static", "pkg=pkg"],
            "prefix",
        ),
        (
            vec![
                "--port",
                "0",
                "--db",
                db,
                "--static-dir",
                "/definitely/not/here",
            ],
            "/definitely/not/here",
        ),
        (
            vec!["--port", "0", "--db", "/definitely/not/here/x.db"],
            "database",
        ),
    ];
    for (args, needle) in cases {
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            Command::new(BIN).args(&args).output(),
        )
        .await
        .expect("exits")
        .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?}: no startup line");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let help = Command::new(BIN).arg("--help").output().await.unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--port",
        "--host",
        "--write-key",
        "--db",
        "--static",
        "--static-dir",
        "--fail-rate",
        "--rate-limit-every",
        "--latency-ms",
        "--drop-rate",
        "--seed",
        "--hang-nth",
        "--fail-status",
        "--fail-retry-after",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[tokio::test]
async fn cli_hang_nth_fail_status_retry_after_and_prompt_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hang.db");
    let (mut child, _line, url) = spawn(&[
        "--port",
        "0",
        "--db",
        db.to_str().unwrap(),
        "--write-key",
        "WK",
        "--hang-nth",
        "2",
        "--hang-nth",
        "4,5,7",
        "--fail-rate",
        "1",
        "--fail-status",
        "503",
        "--fail-retry-after",
        "3",
    ])
    .await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let mut outcomes = Vec::new();
    for i in 1..=6 {
        let result = quick
            .post(format!("{url}/v1/t"))
            .header("authorization", basic(KEY))
            .body(track("u", "E", &format!("c{i}")).to_string())
            .send()
            .await;
        outcomes.push(match result {
            Ok(r) => {
                assert_eq!(r.headers()["retry-after"], "3");
                r.status().as_u16().to_string()
            }
            Err(e) if e.is_timeout() => "hung".to_string(),
            Err(e) => panic!("request {i}: {e}"),
        });
    }
    assert_eq!(outcomes, ["503", "hung", "503", "hung", "hung", "503"]);
    let stats = reply(
        client()
            .get(format!("{url}/api/stats"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .json;
    assert_eq!(stats["faults"]["hung"], 3);
    assert_eq!(stats["faults"]["failed"], 3);
    assert_eq!(stats["accepted"], 0);

    // SIGTERM with a request still held open (request 7): a prompt, clean exit,
    // the held connection closed unanswered.
    let addr = url.trim_start_matches("http://").to_string();
    let mut held = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = track("u", "E", "c7").to_string();
    let request = format!(
        "POST /v1/t HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
        basic(KEY),
        body.len()
    );
    held.write_all(request.as_bytes()).await.unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats = reply(
            client()
                .get(format!("{url}/api/stats"))
                .send()
                .await
                .unwrap(),
        )
        .await
        .json;
        if stats["faults"]["hung"] == 4 {
            break;
        }
        assert!(std::time::Instant::now() < end, "request 7 hangs: {stats}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id().expect("running").to_string();
    let started = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "exited in {took:?}");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), held.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the held connection is closed");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
}

//! The read side's protection, over real HTTP: the admin token (configured or
//! generated when binding beyond loopback), the loopback `Host` check against DNS
//! rebinding, and that ingestion and public routes are not affected.

mod common;

use std::time::Duration;

use common::{raw_http, reply, track, TestServer, KEY};
use tokio::io::AsyncBufReadExt as _;

const READ_SIDE: [&str; 5] = [
    "/api/events",
    "/api/stats",
    "/api/duplicates",
    "/api/stream",
    "/debugger",
];

async fn get_with(ts: &TestServer, path: &str, auth: Option<&str>) -> common::Reply {
    let mut req = ts.client.get(format!("{}{path}", ts.url));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 && path.starts_with("/api/stream") {
        // An open event stream never ends: look at the head only.
        return common::Reply {
            status,
            headers: response.headers().clone(),
            text: String::new(),
            json: serde_json::Value::Null,
        };
    }
    reply(response).await
}

#[tokio::test]
async fn admin_token_gates_the_read_side() {
    let ts = TestServer::start(|c| c.with_admin_token("T0ken/+=")).await;
    assert_eq!(ts.server.as_ref().unwrap().admin_token(), Some("T0ken/+="));
    ts.post("/v1/t", &track("u", "E", "a1"), Some(KEY)).await;
    for path in READ_SIDE {
        let r = get_with(&ts, path, None).await;
        assert_eq!(
            (r.status, r.error()),
            (401, "admin_token_required"),
            "{path}"
        );
        assert!(r.header("access-control-allow-origin").is_none());
        let r = get_with(&ts, path, Some("Bearer wrong")).await;
        assert_eq!(
            (r.status, r.error()),
            (401, "invalid_admin_token"),
            "{path}"
        );
        let r = get_with(&ts, path, Some("Bearer T0ken/+=")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        // The debugger page and its event stream pass it as ?token= (encoded).
        let r = get_with(&ts, &format!("{path}?token=T0ken%2F%2B%3D"), None).await;
        assert_eq!(r.status, 200, "{path}?token=: {}", r.text);
        let r = get_with(&ts, &format!("{path}?token=T0ken"), None).await;
        assert_eq!(r.status, 401, "{path}");
    }
    let r = get_with(&ts, "/api/events?token=T0ken%2F%2B%3D&limit=5", None).await;
    assert_eq!(r.json["events"].as_array().map(Vec::len), Some(1));
    // A token does not need a loopback Host.
    let request = "GET /api/stats HTTP/1.1\r\nHost: collector.example\r\nAuthorization: Bearer T0ken/+=\r\nConnection: close\r\n\r\n";
    let (status, _) = raw_http(ts.addr(), request.as_bytes()).await;
    assert_eq!(status, 200);
    // Ingestion and health are not gated.
    let r = ts.post("/v1/t", &track("u", "E", "a2"), Some(KEY)).await;
    assert_eq!(r.status, 200);
    assert_eq!(ts.get("/health").await.status, 200);
}

#[tokio::test]
async fn loopback_without_a_token_refuses_foreign_host_names() {
    let ts = TestServer::start(|c| c).await;
    assert_eq!(ts.server.as_ref().unwrap().admin_token(), None);
    for host in [
        "evil.example",
        "evil.example:8787",
        "127.0.0.1.evil.example",
    ] {
        for path in ["/api/events", "/api/stats", "/debugger", "/api/stream"] {
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            let (status, body) = raw_http(ts.addr(), request.as_bytes()).await;
            assert_eq!(status, 403, "{host}{path}: {body}");
            assert!(body.contains("forbidden_host"), "{body}");
            assert!(body.contains("DNS rebinding"), "{body}");
        }
    }
    // No Host at all (HTTP/1.0) is refused too.
    let (status, _) = raw_http(ts.addr(), b"GET /api/stats HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 403);
    for host in [
        format!("127.0.0.1:{}", ts.addr().port()),
        format!("localhost:{}", ts.addr().port()),
        "localhost".to_string(),
        "[::1]:1".to_string(),
    ] {
        let request =
            format!("GET /api/stats HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let (status, body) = raw_http(ts.addr(), request.as_bytes()).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // Ingestion does not care about the Host (a first-party proxy rewrites it).
    let request = format!(
        "POST /v1/t HTTP/1.1\r\nHost: evil.example\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        common::basic(KEY),
        track("u", "E", "h1").to_string().len(),
        track("u", "E", "h1")
    );
    let (status, body) = raw_http(ts.addr(), request.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn binding_beyond_loopback_generates_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = segflow_collector::Config::new(dir.path().join("x.db"))
        .with_host("0.0.0.0")
        .with_write_key(KEY, "default");
    let server = segflow_collector::Server::start(config).await.unwrap();
    let token = server.admin_token().expect("generated").to_string();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let url = format!("http://127.0.0.1:{}", server.addr().port());
    let client = common::client();
    let r = reply(client.get(format!("{url}/api/stats")).send().await.unwrap()).await;
    assert_eq!((r.status, r.error()), (401, "admin_token_required"));
    let r = reply(
        client
            .get(format!("{url}/api/stats"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    server.stop().await;

    // Another start, another token.
    let config = segflow_collector::Config::new(dir.path().join("y.db")).with_host("0.0.0.0");
    let server = segflow_collector::Server::start(config).await.unwrap();
    assert_ne!(server.admin_token(), Some(token.as_str()));
    server.stop().await;
}

/// The binary bound beyond loopback prints the generated token on stderr while
/// stdout keeps its one startup line.
#[tokio::test]
async fn cli_prints_a_generated_token_to_stderr() {
    let bin = env!("CARGO_BIN_EXE_segflow-collector");
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(bin)
        .args(["--host", "0.0.0.0", "--port", "0", "--db"])
        .arg(dir.path().join("a.db"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let wait = Duration::from_secs(10);
    let line = tokio::time::timeout(wait, out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        line.starts_with("segflow-collector listening on http://0.0.0.0:"),
        "{line}"
    );
    let port = line.rsplit(':').next().unwrap().to_string();
    let note = tokio::time::timeout(wait, err.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let token = note
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("token in the note")
        .to_string();
    let client = common::client();
    let r = client
        .get(format!("http://127.0.0.1:{port}/api/stats"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let _ = child.start_kill();
    let _ = child.wait().await;
    // Nothing more on stdout.
    assert_eq!(out.next_line().await.unwrap(), None);

    // An empty --admin-token is refused at start.
    let out = tokio::process::Command::new(bin)
        .args([
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--admin-token",
            "",
            "--db",
        ])
        .arg(dir.path().join("b.db"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "an empty token is refused");
}

#[tokio::test]
async fn only_listed_read_origins_may_read_the_read_side_cross_origin() {
    let allowed = "http://127.0.0.1:4567";
    let ts = TestServer::start(|c| c.with_read_origin(allowed).with_admin_token("T")).await;
    for (origin, ok) in [
        (allowed, true),
        ("http://127.0.0.1:4568", false),
        ("https://evil.example", false),
    ] {
        let pre = ts
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/api/events", ts.url))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        let allow = pre
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            allow.as_deref(),
            ok.then_some(origin),
            "preflight from {origin}"
        );
        if ok {
            let h = pre
                .headers()
                .get("access-control-allow-headers")
                .unwrap()
                .to_str()
                .unwrap()
                .to_ascii_lowercase();
            assert!(h.contains("authorization"), "{h}");
            assert!(
                pre.headers()
                    .get("access-control-allow-credentials")
                    .is_none(),
                "never with credentials"
            );
        }
        let r = ts
            .client
            .get(format!("{}/api/stats", ts.url))
            .header("origin", origin)
            .header("authorization", "Bearer T")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let allow = r
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(allow.as_deref(), ok.then_some(origin), "answer to {origin}");
        if ok {
            assert_eq!(
                r.headers().get("vary").map(|v| v.to_str().unwrap()),
                Some("Origin")
            );
        }
    }
    // The token is still required from a listed origin.
    let r = ts
        .client
        .get(format!("{}/api/stats", ts.url))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

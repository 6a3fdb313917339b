//! Connection limits over real sockets, so that a hostile client cannot stall the
//! collector: concurrent connections, header size, slow headers, slow bodies and
//! idle keep-alive connections.

mod common;

use std::time::{Duration, Instant};

use common::{basic, raw_http, TestServer, KEY};
use segflow_collector::Limits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `max` passes); returns what
/// was read and how long it took.
async fn read_until_closed(stream: &mut TcpStream, max: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = max.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection was still open after {max:?}; read so far: {:?}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        start.elapsed(),
    )
}

fn quick(limits: Limits) -> Limits {
    Limits {
        header_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(400),
        ..limits
    }
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let ts = TestServer::start(|c| c).await;
    assert_eq!(Limits::default().max_header_bytes, 32 * 1024);
    let ok = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let (status, _) = raw_http(ts.addr(), ok.as_bytes()).await;
    assert_eq!(status, 200);
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    stream.write_all(big.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    // Configurable.
    let small = TestServer::start(|c| c.with_max_header_bytes(9000)).await;
    let mid = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(10 * 1024)
    );
    let mut stream = TcpStream::connect(small.addr()).await.unwrap();
    stream.write_all(mid.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    // And the server still serves others.
    assert_eq!(small.get("/health").await.status, 200);
}

#[tokio::test]
async fn a_client_dripping_its_headers_is_cut_off() {
    let ts = TestServer::start(|c| c.with_limits(quick(Limits::default()))).await;
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let drip = tokio::spawn(async move {
        let start = Instant::now();
        // One header line every 100 ms for 5 s, unless the server hangs up.
        while start.elapsed() < Duration::from_secs(5) {
            if stream.write_all(b"X-Drip: 1\r\n").await.is_err() {
                return (start.elapsed(), true);
            }
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (start.elapsed(), true),
                Ok(Ok(_)) => return (start.elapsed(), true),
                Err(_) => {}
            }
        }
        (start.elapsed(), false)
    });
    let (elapsed, cut) = drip.await.unwrap();
    assert!(cut, "still connected after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(ts.get("/health").await.status, 200);
}

#[tokio::test]
async fn a_client_dripping_its_body_gets_408() {
    let ts = TestServer::start(|c| c.with_limits(quick(Limits::default()))).await;
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    let head = format!(
        "POST /v1/t HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nContent-Length: 200\r\n\r\n{{\"type\":",
        basic(KEY)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    // Keep dripping one byte every 100 ms while waiting for the answer.
    let (text, elapsed) = read_until_closed_or_answer(&mut stream, &mut answer).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains("request_timeout"), "{text:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "{elapsed:?}");
    assert!(ts.events("").await.is_empty());
}

/// Drips a byte every 100 ms while waiting for a whole answer; returns it.
async fn read_until_closed_or_answer(
    stream: &mut TcpStream,
    answer: &mut Vec<u8>,
) -> (String, Duration) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(5) {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(answer);
                if text.contains("\r\n\r\n") && text.ends_with('}') {
                    break;
                }
            }
            Err(_) => {
                let _ = stream.write_all(b" ").await;
            }
        }
    }
    (
        String::from_utf8_lossy(answer).into_owned(),
        start.elapsed(),
    )
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let ts = TestServer::start(|c| c.with_limits(quick(Limits::default()))).await;
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive, then idle: closed after the header timeout.
    let (rest, elapsed) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert_eq!(rest, "");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
}

#[tokio::test]
async fn excess_connections_wait_briefly_then_are_closed() {
    let limits = Limits {
        max_connections: 2,
        queue_timeout: Duration::from_millis(300),
        header_timeout: Duration::from_secs(8),
        ..Limits::default()
    };
    let ts = TestServer::start(|c| c.with_limits(limits)).await;
    let request = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    // Two silent clients hold both slots.
    let hold1 = TcpStream::connect(ts.addr()).await.unwrap();
    let hold2 = TcpStream::connect(ts.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(ts.addr()).await.unwrap();
    third.write_all(request).await.unwrap();
    let (answer, elapsed) = read_until_closed(&mut third, Duration::from_secs(3)).await;
    assert_eq!(answer, "", "closed unanswered");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    // A slot freed while a connection waits: it is served.
    let mut fourth = TcpStream::connect(ts.addr()).await.unwrap();
    fourth.write_all(request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(hold1);
    let (answer, _) = read_until_closed(&mut fourth, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    drop(hold2);
    let (status, _) = raw_http(ts.addr(), request).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn limits_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (limits, needle) in [
        (
            Limits {
                max_connections: 0,
                ..Limits::default()
            },
            "max-connections",
        ),
        (
            Limits {
                max_header_bytes: 100,
                ..Limits::default()
            },
            "max-header-bytes",
        ),
        (
            Limits {
                body_timeout: Duration::ZERO,
                ..Limits::default()
            },
            "body-timeout",
        ),
    ] {
        let config = segflow_collector::Config::new(dir.path().join("x.db")).with_limits(limits);
        let err = segflow_collector::Server::start(config).await.unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}

/// The binary refuses unusable limits and keyed settings at start, on stderr.
#[tokio::test]
async fn cli_refuses_bad_limits_and_settings() {
    let bin = env!("CARGO_BIN_EXE_segflow-collector");
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--header-timeout", "0"], "header-timeout"),
        (&["--body-timeout", "0"], "body-timeout"),
        (&["--max-connections", "0"], "max-connections"),
        (&["--max-header-bytes", "100"], "max-header-bytes"),
        (
            &["--write-key", "WK", "--webhook-secret", "NOPE=x"],
            "webhook-secret",
        ),
        (
            &["--write-key", "WK", "--company-event-property", "WK="],
            "company-event-property",
        ),
    ];
    for (args, needle) in cases {
        let out = tokio::process::Command::new(bin)
            .args(["--port", "0", "--db"])
            .arg(dir.path().join("x.db"))
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

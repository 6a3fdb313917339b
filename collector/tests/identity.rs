//! Identity verification on ingestion (`--identity-secret`), over real HTTP, with
//! signatures computed independently of the crate.

mod common;

use common::{db_rows, track, TestServer, KEY};
use serde_json::{json, Value};

/// The identity secret of [`KEY`] in these tests.
const SECRET: &str = "s3cr3t";
/// hex HMAC-SHA256(key "s3cr3t", "user-42"), computed with
/// `printf %s 'user-42' | openssl dgst -sha256 -hmac 's3cr3t'` (Python's
/// `hmac.new(b's3cr3t', b'user-42', 'sha256').hexdigest()` agrees).
const SIG_USER_42: &str = "f2e37bafa5a4ae2a003079df38783a7dac61ff94426135625d002f61e1942b30";
/// hex HMAC-SHA256(key "s3cr3t", "42"):
/// `printf %s 42 | openssl dgst -sha256 -hmac 's3cr3t'`.
const SIG_42: &str = "7b25340b646377b8707a55deb0f09149bfd93b074f7fadbf7316f978f236fb53";

fn signed(mut message: Value, signature: &str) -> Value {
    message["segflowSignature"] = json!(signature);
    message
}

#[tokio::test]
async fn signed_messages_are_stored_without_their_signature() {
    let ts = TestServer::start(|c| c.with_identity_secret(KEY, SECRET)).await;
    let batch = json!({"batch": [
        signed(track("user-42", "Signed", "s1"), SIG_USER_42),
        // Either hex case.
        signed(track("user-42", "Upper", "s2"), &SIG_USER_42.to_ascii_uppercase()),
        // Anonymous messages need no signature.
        {"type": "page", "anonymousId": "anon-1", "messageId": "s3"},
        // A numeric userId is signed as its text.
        signed(json!({"type": "identify", "userId": 42, "messageId": "s4"}), SIG_42),
    ]});
    let r = ts.post("/v1/batch", &batch, Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], 4, "{}", r.text);
    let rows = db_rows(&ts.db);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert!(!row.body.contains("segflowSignature"), "{}", row.body);
        assert!(!row.body.contains(SIG_USER_42), "{}", row.body);
    }
    for event in ts.events("").await {
        assert!(event.get("segflowSignature").is_none(), "{event}");
    }
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_requests_store_nothing() {
    let ts = TestServer::start(|c| c.with_identity_secret(KEY, SECRET)).await;
    // The second message of the batch lacks its signature: 401, index 1, and the
    // first (valid) message is not stored either.
    let batch = json!({"batch": [
        signed(track("user-42", "E", "b1"), SIG_USER_42),
        track("user-42", "E", "b2"),
    ]});
    let r = ts.post("/v1/batch", &batch, Some(KEY)).await;
    assert_eq!(
        (r.status, r.error()),
        (401, "missing_signature"),
        "{}",
        r.text
    );
    assert_eq!(r.json["index"], 1);
    assert_eq!(r.json["success"], false);
    assert!(r.json["message"].as_str().is_some_and(|m| !m.is_empty()));

    // Another user's signature.
    let r = ts
        .post(
            "/v1/track",
            &signed(track("user-43", "E", "t1"), SIG_USER_42),
            Some(KEY),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (401, "invalid_signature"),
        "{}",
        r.text
    );
    assert_eq!(r.json["index"], 0);

    // One flipped hex digit, a truncated signature, a non-string, an empty one.
    let mut flipped = SIG_USER_42.to_string();
    flipped.replace_range(0..1, "e");
    for bad in [
        json!(flipped),
        json!(&SIG_USER_42[..63]),
        json!(7),
        json!(""),
    ] {
        let mut m = track("user-42", "E", "t2");
        m["segflowSignature"] = bad.clone();
        let r = ts.post("/v1/t", &m, Some(KEY)).await;
        assert_eq!((r.status, r.error()), (401, "invalid_signature"), "{bad}");
    }
    // A null signature counts as missing.
    let mut m = track("user-42", "E", "t3");
    m["segflowSignature"] = Value::Null;
    let r = ts.post("/v1/t", &m, Some(KEY)).await;
    assert_eq!((r.status, r.error()), (401, "missing_signature"));

    assert!(db_rows(&ts.db).is_empty(), "nothing stored");
    let stats = ts.stats().await;
    assert_eq!(stats["rejected"]["missing_signature"], 2, "{stats}");
    assert_eq!(stats["rejected"]["invalid_signature"], 5, "{stats}");
}

#[tokio::test]
async fn only_the_configured_key_is_verified_and_the_field_is_always_stripped() {
    let ts = TestServer::start(|c| {
        c.with_write_key("OTHER", "production")
            .with_identity_secret(KEY, SECRET)
    })
    .await;
    // OTHER has no secret: unsigned is fine, and a (bogus) signature is removed.
    let r = ts
        .post(
            "/v1/t",
            &signed(track("user-42", "E", "o1"), "not-checked"),
            Some("OTHER"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ts
        .post("/v1/t", &track("user-42", "E", "o2"), Some("OTHER"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows = db_rows(&ts.db);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| !r.body.contains("segflowSignature")));

    // Open mode (no keys, no secrets): stripped too.
    let open = TestServer::start_open().await;
    let r = open
        .post("/v1/t", &signed(track("u", "E", "x1"), "abc"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!db_rows(&open.db)[0].body.contains("segflowSignature"));
}

#[tokio::test]
async fn a_secret_for_an_unconfigured_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = segflow_collector::Config::new(dir.path().join("x.db"))
        .with_write_key(KEY, "default")
        .with_identity_secret("NOPE", SECRET);
    let err = segflow_collector::Server::start(config).await.unwrap_err();
    assert!(err.to_string().contains("--write-key"), "{err}");
    // Open mode cannot verify identities either.
    let config =
        segflow_collector::Config::new(dir.path().join("y.db")).with_identity_secret(KEY, SECRET);
    assert!(segflow_collector::Server::start(config).await.is_err());
}

#[test]
fn the_crate_computes_the_same_vectors() {
    // The constants above come from openssl; the crate must agree with them.
    assert_eq!(
        segflow_collector::identity_signature(SECRET, "user-42"),
        SIG_USER_42
    );
    assert_eq!(segflow_collector::identity_signature(SECRET, "42"), SIG_42);
}

/// The binary: a key containing `=` splits at the configured key, and a secret
/// for an unknown key is a startup error on stderr with a non-zero exit.
#[tokio::test]
async fn cli_identity_secret_splitting() {
    let bin = env!("CARGO_BIN_EXE_segflow-collector");
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(bin)
        .args(["--port", "0", "--db"])
        .arg(dir.path().join("a.db"))
        .args(["--write-key", "WK", "--identity-secret", "NOPE=x"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--write-key"), "{stderr}");

    // Key "k=1" (environment "prod"), secret "a=b": "k=1=a=b" splits after "k=1".
    let mut child = tokio::process::Command::new(bin)
        .args(["--port", "0", "--db"])
        .arg(dir.path().join("b.db"))
        .args(["--write-key", "k=1=prod", "--identity-secret", "k=1=a=b"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line.rsplit(' ').next().unwrap().to_string();
    let client = common::client();
    // printf %s 'u' | openssl dgst -sha256 -hmac 'a=b'
    let sig = "6175a26e6377fd9968febc43212934d0568b30720d602d6418cc0cb7efe14866";
    let send = |m: Value| {
        client
            .post(format!("{url}/v1/t"))
            .header("authorization", common::basic("k=1"))
            .body(m.to_string())
            .send()
    };
    let ok = common::reply(send(signed(track("u", "E", "c1"), sig)).await.unwrap()).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let bad = common::reply(send(track("u", "E", "c2")).await.unwrap()).await;
    assert_eq!((bad.status, bad.error()), (401, "missing_signature"));
    let _ = child.start_kill();
    let _ = child.wait().await;
}

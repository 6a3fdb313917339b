//! Browser tests of the shell, in headless Chromium (`wasm-pack test --headless --chrome`).
//!
//! `scripts/test.sh` starts a `segflow-collector` on a free loopback port and passes its
//! URL at build time in `SEGFLOW_COLLECTOR_URL`; these tests send to it from wasm and
//! read what it stored back from `/api/events` (the collector lets exactly the test
//! runner's origin read it: `--read-origin`, with the runner on a port chosen there).
#![cfg(all(target_arch = "wasm32", feature = "analytics"))]

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const COLLECTOR: Option<&str> = option_env!("SEGFLOW_COLLECTOR_URL");
const WRITE_KEY: &str = "browser-test-key";

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn code_of(err: &JsValue) -> String {
    Reflect::get(err, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default()
}

async fn events(query: &str) -> serde_json::Value {
    let url = format!(
        "{}/api/events?writeKey={WRITE_KEY}&{query}",
        COLLECTOR.unwrap()
    );
    let res = gloo_net::http::Request::get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap()
}

/// One page, one `init`: the whole life of a visitor, checked against the collector.
#[wasm_bindgen_test]
async fn sends_a_batch_from_wasm_and_reads_it_back_from_the_collector() {
    let collector = COLLECTOR.expect("SEGFLOW_COLLECTOR_URL must be set (scripts/test.sh does)");
    web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .clear()
        .unwrap();

    // Before init, every call fails with a coded error.
    let err = segflow::web::track("x".into(), JsValue::UNDEFINED).unwrap_err();
    assert_eq!(code_of(&err), "not_initialized");

    segflow::web::init(obj(&[
        ("writeKey", WRITE_KEY.into()),
        ("apiHost", format!("{collector}/v1").into()),
        ("flushAt", 50.into()),
        ("companyEventProperty", "company_id".into()),
    ]))
    .unwrap();
    let again = segflow::web::init(obj(&[("writeKey", "k".into())])).unwrap_err();
    assert_eq!(code_of(&again), "already_initialized");

    // Bad input is rejected with invalid_argument and changes nothing.
    let bad =
        segflow::web::identify("".into(), JsValue::UNDEFINED, JsValue::UNDEFINED).unwrap_err();
    assert_eq!(code_of(&bad), "invalid_argument");
    assert!(!segflow::web::is_identified().unwrap());
    let nan = obj(&[("n", f64::NAN.into())]);
    assert_eq!(
        code_of(&segflow::web::track("e".into(), nan).unwrap_err()),
        "invalid_argument"
    );
    let f = js_sys::Function::new_no_args("return 1");
    let with_fn = obj(&[("f", f.into())]);
    assert_eq!(
        code_of(&segflow::web::track("e".into(), with_fn).unwrap_err()),
        "invalid_argument"
    );
    let cyclic = Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    assert_eq!(
        code_of(&segflow::web::track("e".into(), cyclic.into()).unwrap_err()),
        "invalid_argument"
    );
    let huge = obj(&[("blob", "x".repeat(40 * 1024).into())]);
    assert_eq!(
        code_of(&segflow::web::track("e".into(), huge).unwrap_err()),
        "payload_too_large"
    );

    segflow::web::identify(
        "user-42".into(),
        obj(&[
            ("email", "a@example.com".into()),
            ("logins", obj(&[("add", 1.into())])),
        ]),
        JsValue::UNDEFINED,
    )
    .unwrap();
    segflow::web::group(
        "company-7".into(),
        obj(&[("name", "Acme".into())]),
        JsValue::UNDEFINED,
    )
    .unwrap();
    segflow::web::track("Button Clicked".into(), obj(&[("button", "save".into())])).unwrap();
    segflow::web::page("Home".into(), JsValue::UNDEFINED).unwrap();
    assert!(segflow::web::is_identified().unwrap());

    // The anonymous id is shared with analytics.js: localStorage (JSON-encoded) and cookie.
    let user = segflow::web::user().unwrap();
    let anon = Reflect::get(&user, &"anonymousId".into())
        .unwrap()
        .as_string()
        .unwrap();
    let stored = web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item("ajs_anonymous_id")
        .unwrap()
        .unwrap();
    assert_eq!(stored, format!("\"{anon}\""));
    let doc: web_sys::HtmlDocument = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .unchecked_into();
    assert!(doc
        .cookie()
        .unwrap()
        .contains(&format!("ajs_anonymous_id={anon}")));

    JsFuture::from(segflow::web::flush().unwrap())
        .await
        .unwrap();

    let all = events("limit=100").await;
    let list = all["events"].as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // The automatic page view (as Userflow's `page_viewed`) comes first.
    assert_eq!(kinds, ["track", "identify", "group", "track", "page"]);
    assert_eq!(list[0]["event"], "Page Viewed");
    assert_eq!(
        list[0]["properties"]["page_url"],
        web_sys::window()
            .unwrap()
            .location()
            .href()
            .unwrap()
            .as_str()
    );
    let list = &list[1..];
    for e in list {
        assert_eq!(e["userId"], "user-42");
        assert_eq!(e["anonymousId"], anon.as_str());
        assert_eq!(e["context"]["library"]["name"], "segflow");
        assert!(e["messageId"].as_str().unwrap().starts_with("segflow-"));
    }
    assert_eq!(list[0]["traits"]["logins"], 1);
    assert_eq!(list[2]["event"], "Button Clicked");
    assert_eq!(list[2]["properties"]["company_id"], "company-7");
    assert_eq!(list[3]["name"], "Home");

    // Delivered events are gone from storage.
    let ls = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    for i in 0..ls.length().unwrap() {
        let k = ls.key(i).unwrap().unwrap();
        assert!(!k.contains(":q:"), "left in storage: {k}");
    }
}

//! Calls heard from analytics.js (`heard.rs`): they change the identity as the
//! API calls do, are persisted, and never queue a message.

use super::tests::{body_events, config, Origin, Page, T0};
use super::*;
use serde_json::Value;

/// A client that would send any queued message at once (`flushAt: 1`).
fn eager(o: &mut Origin) -> Page {
    o.open(0, config("WK", &[("flushAt", Raw::Num(1.0))]), T0)
}

fn msg(text: &str) -> Json {
    json::parse(text).expect("test JSON")
}

/// Hears `kind` with `message` and carries out the effects.
fn hear(o: &mut Origin, p: &mut Page, kind: &str, message: &str) -> Result<Heard, Error> {
    let out = p.c.heard(T0, kind, &msg(message));
    o.run(p);
    out
}

/// Nothing was queued, stored or sent for Segment.
fn nothing_queued(o: &Origin, p: &Page) {
    assert!(p.c.delivery().is_empty(), "no message queued");
    assert!(p.out.is_empty(), "no request");
    assert!(o.chunk_keys().is_empty(), "nothing stored for sending");
}

#[test]
fn a_heard_identify_sets_the_user_and_traits_persists_them_and_queues_nothing() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    let out = hear(
        &mut o,
        &mut p,
        "identify",
        r#"{"type":"identify","messageId":"ajs-1","userId":"u1","anonymousId":"anon-1","traits":{"plan":"pro"}}"#,
    );
    assert_eq!(out, Ok(Heard::User));
    nothing_queued(&o, &p);
    let id = p.c.identity();
    assert_eq!(id.user_id.as_deref(), Some("u1"));
    assert_eq!(id.user_traits.to_json(), r#"{"plan":"pro"}"#);
    assert_eq!(
        id.anonymous_id, "anon-1",
        "identify from anonymous keeps it"
    );
    assert!(p.c.is_identified());
    assert_eq!(p.saved_identity, 1, "persisted under analytics.js's keys");
    assert_eq!(p.user_changes, 1, "the flow side switches to u1's progress");
    assert_eq!(p.c.flow_state_key(), "segflow:v1:WK:flows:u:u1");
    assert!(
        p.warnings.is_empty(),
        "no switch: identified from anonymous"
    );

    // The same message again (the plugin registered twice) changes nothing.
    let again = hear(
        &mut o,
        &mut p,
        "identify",
        r#"{"messageId":"ajs-1","userId":"u1","traits":{"plan":"free"}}"#,
    );
    assert_eq!(again, Ok(Heard::Nothing));
    assert_eq!(p.c.identity().user_traits.to_json(), r#"{"plan":"pro"}"#);
    assert_eq!(p.saved_identity, 1);

    // segflow's own messages (flow events) now carry the heard user.
    p.c.track(T0, "Flow Started", "{}").unwrap();
    o.run(&mut p);
    assert_eq!(p.out.len(), 1);
    let body: Value = serde_json::from_str(&p.out[0].body).unwrap();
    assert_eq!(body["batch"][0]["userId"], "u1");
    assert_eq!(body["batch"][0]["anonymousId"], "anon-1");
    assert_eq!(body_events(&p.out[0]).len(), 1, "only segflow's own track");
}

#[test]
fn heard_traits_merge_for_the_same_user_as_identify_resolves_them() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    p.c.heard_identify(T0, Some("u1"), &msg(r#"{"a":1,"b":2}"#), None)
        .unwrap();
    let out =
        p.c.heard_identify(T0, Some("u1"), &msg(r#"{"b":3,"logins":{"add":1}}"#), None);
    o.run(&mut p);
    assert_eq!(out, Ok(Heard::User));
    assert_eq!(
        p.c.identity().user_traits.to_json(),
        r#"{"a":1,"b":3,"logins":1}"#,
        "the same rules as identify"
    );
    nothing_queued(&o, &p);
}

#[test]
fn a_different_heard_user_switches_segflow_and_warns_once_per_page() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    p.c.identify(T0, "u1", &msg(r#"{"plan":"pro"}"#)).unwrap();
    p.c.group(T0, "g1", &msg(r#"{"name":"Acme"}"#), None)
        .unwrap();
    o.run(&mut p);
    p.ok(&mut o, T0);
    let changes = p.user_changes;

    let out = hear(
        &mut o,
        &mut p,
        "identify",
        r#"{"messageId":"m2","userId":"u2","anonymousId":"ajs-anon-2","traits":{"seat":3}}"#,
    );
    assert_eq!(out, Ok(Heard::User));
    nothing_queued(&o, &p);
    let id = p.c.identity().clone();
    assert_eq!(id.user_id.as_deref(), Some("u2"));
    assert_eq!(
        id.user_traits.to_json(),
        r#"{"seat":3}"#,
        "u1's traits forgotten"
    );
    assert_eq!(id.group_id, None, "u1's group forgotten");
    assert_eq!(id.group_traits.to_json(), "{}");
    assert_eq!(
        id.anonymous_id, "ajs-anon-2",
        "analytics.js's new anonymous id, not one of segflow's own"
    );
    assert_eq!(p.user_changes, changes + 1);
    assert_eq!(p.warnings, vec![USER_SWITCH_WARNING]);
    assert!(USER_SWITCH_WARNING.starts_with("segflow: "));

    // Another switch, without an anonymous id in the message: a fresh one, no
    // second warning on this page.
    hear(
        &mut o,
        &mut p,
        "identify",
        r#"{"messageId":"m3","userId":"u3"}"#,
    )
    .unwrap();
    let id = p.c.identity();
    assert_eq!(id.user_id.as_deref(), Some("u3"));
    assert_ne!(
        id.anonymous_id, "ajs-anon-2",
        "a new user, a new anonymous id"
    );
    assert_eq!(p.warnings.len(), 1, "once per page");

    // The next page warns again, once.
    let mut q = eager(&mut o);
    q.c.heard_identify(T0, Some("a"), &msg("{}"), None).unwrap();
    q.c.heard_identify(T0, Some("b"), &msg("{}"), None).unwrap();
    q.c.heard_identify(T0, Some("c"), &msg("{}"), None).unwrap();
    o.run(&mut q);
    assert_eq!(q.warnings.len(), 1);
}

#[test]
fn heard_ids_are_validated_like_identify_and_a_refused_call_changes_nothing() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    p.c.heard_identify(T0, Some("u1"), &msg(r#"{"n":1}"#), None)
        .unwrap();
    o.run(&mut p);
    let before = p.c.identity().clone();
    let saved = p.saved_identity;
    let long = "x".repeat(256);
    let bad = [
        ("identify", String::from(r#"{"userId":""}"#)),
        ("identify", format!(r#"{{"userId":"{long}"}}"#)),
        ("identify", String::from(r#"{"userId":"u2","traits":[1]}"#)),
        ("identify", String::from(r#"{"userId":{"id":1}}"#)),
        ("group", String::from(r#"{"groupId":""}"#)),
        ("group", String::from(r#"{"traits":{}}"#)),
        ("alias", String::from(r#"{"previousId":"u1"}"#)),
        ("track", String::from(r#"{"event":""}"#)),
        ("track", String::from(r#"{"properties":{}}"#)),
        ("track", String::from(r#"{"event":"E","properties":"x"}"#)),
    ];
    for (kind, message) in &bad {
        let e = hear(&mut o, &mut p, kind, message).expect_err(message);
        assert_eq!(e.code.as_str(), "invalid_argument", "{message}");
    }
    assert!(p.c.heard(T0, "identify", &msg("[1]")).is_err());
    assert_eq!(p.c.identity(), &before);
    assert_eq!(p.saved_identity, saved);
    assert!(p.warnings.is_empty(), "no switch happened");
    // A number id is taken as JSON wrote it; a bad anonymous id is ignored.
    hear(
        &mut o,
        &mut p,
        "identify",
        r#"{"userId":42,"anonymousId":""}"#,
    )
    .unwrap();
    assert_eq!(p.c.identity().user_id.as_deref(), Some("42"));
    assert!(!p.c.identity().anonymous_id.is_empty());
    nothing_queued(&o, &p);
}

#[test]
fn a_heard_identify_without_a_user_id_updates_the_visitors_traits() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    assert!(!p.c.is_identified());
    let out = hear(
        &mut o,
        &mut p,
        "identify",
        r#"{"userId":null,"anonymousId":"anon-1","traits":{"lang":"nb"}}"#,
    );
    assert_eq!(out, Ok(Heard::User));
    assert!(p.c.is_identified(), "as identifyAnonymous");
    assert_eq!(p.c.identity().user_id, None);
    assert_eq!(p.c.identity().user_traits.to_json(), r#"{"lang":"nb"}"#);
    assert_eq!(p.user_changes, 0, "same visitor, same anonymous id");
    nothing_queued(&o, &p);
}

#[test]
fn a_heard_group_sets_the_group_and_its_traits_without_a_message() {
    let mut o = Origin::default();
    let mut p = o.open(
        0,
        config(
            "WK",
            &[
                ("flushAt", Raw::Num(1.0)),
                ("companyEventProperty", Raw::Str("company_id".into())),
            ],
        ),
        T0,
    );
    let out = hear(
        &mut o,
        &mut p,
        "group",
        r#"{"messageId":"g-1","groupId":"co-7","traits":{"name":"Acme","seats":5}}"#,
    );
    assert_eq!(out, Ok(Heard::User));
    nothing_queued(&o, &p);
    assert_eq!(p.c.identity().group_id.as_deref(), Some("co-7"));
    assert_eq!(
        p.c.identity().group_traits.to_json(),
        r#"{"name":"Acme","seats":5}"#
    );
    assert_eq!(p.saved_identity, 1);
    assert_eq!(p.user_changes, 0, "same user");
    hear(
        &mut o,
        &mut p,
        "group",
        r#"{"groupId":"co-7","traits":{"seats":6}}"#,
    )
    .unwrap();
    assert_eq!(
        p.c.identity().group_traits.to_json(),
        r#"{"name":"Acme","seats":6}"#,
        "the same group merges"
    );
    hear(
        &mut o,
        &mut p,
        "group",
        r#"{"groupId":"co-8","traits":{"x":1}}"#,
    )
    .unwrap();
    assert_eq!(
        p.c.identity().group_traits.to_json(),
        r#"{"x":1}"#,
        "another group starts over"
    );
    nothing_queued(&o, &p);
    // segflow's own events carry the heard group as the company property.
    p.c.track(T0, "E", "{}").unwrap();
    o.run(&mut p);
    let body: Value = serde_json::from_str(&p.out[0].body).unwrap();
    assert_eq!(body["batch"][0]["properties"]["company_id"], "co-8");
}

#[test]
fn a_heard_alias_makes_the_new_id_current_without_a_message() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    p.c.heard_identify(T0, Some("old"), &msg("{}"), None)
        .unwrap();
    o.run(&mut p);
    let changes = p.user_changes;
    let out = hear(
        &mut o,
        &mut p,
        "alias",
        r#"{"type":"alias","userId":"new","previousId":"old"}"#,
    );
    assert_eq!(out, Ok(Heard::User));
    assert_eq!(p.c.identity().user_id.as_deref(), Some("new"));
    assert_eq!(p.user_changes, changes + 1);
    assert_eq!(p.c.flow_state_key(), "segflow:v1:WK:flows:u:new");
    assert!(p.warnings.is_empty(), "an alias is not a switch");
    nothing_queued(&o, &p);
}

#[test]
fn a_heard_track_is_only_told_to_the_content_module_once() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    let track = r#"{"type":"track","messageId":"t-1","event":"Report Exported","properties":{"format":"csv"}}"#;
    let out = hear(&mut o, &mut p, "track", track);
    assert_eq!(
        out,
        Ok(Heard::Event {
            event: "Report Exported".into(),
            properties: r#"{"format":"csv"}"#.into(),
        })
    );
    assert_eq!(
        hear(&mut o, &mut p, "track", track),
        Ok(Heard::Nothing),
        "heard twice: counted once"
    );
    assert_eq!(
        hear(&mut o, &mut p, "track", r#"{"event":"Bare"}"#),
        Ok(Heard::Event {
            event: "Bare".into(),
            properties: "{}".into(),
        })
    );
    assert_eq!(p.saved_identity, 0, "a track changes no identity");
    nothing_queued(&o, &p);
}

#[test]
fn heard_pages_and_other_calls_do_nothing() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    for kind in ["page", "screen", "unknown"] {
        let out = hear(&mut o, &mut p, kind, r#"{"name":"Home","properties":{}}"#);
        assert_eq!(out, Ok(Heard::Nothing), "{kind}");
    }
    assert_eq!(p.saved_identity, 0);
    nothing_queued(&o, &p);
}

#[test]
fn only_the_last_heard_message_ids_are_remembered() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    for i in 0..200 {
        let m = format!(r#"{{"messageId":"m-{i}","event":"E"}}"#);
        assert!(matches!(
            p.c.heard(T0, "track", &msg(&m)),
            Ok(Heard::Event { .. })
        ));
    }
    assert!(p.c.heard_ids.len() <= 16);
    let recent = r#"{"messageId":"m-199","event":"E"}"#;
    assert_eq!(p.c.heard(T0, "track", &msg(recent)), Ok(Heard::Nothing));
    o.run(&mut p);
    nothing_queued(&o, &p);
}

#[test]
fn a_heard_reset_signs_out_with_a_new_anonymous_id_and_queues_nothing() {
    let mut o = Origin::default();
    let mut p = eager(&mut o);
    hear(
        &mut o,
        &mut p,
        "identify",
        r#"{"type":"identify","messageId":"ajs-r1","userId":"u1","anonymousId":"anon-1","traits":{"plan":"pro"}}"#,
    )
    .expect("identify heard");
    hear(
        &mut o,
        &mut p,
        "group",
        r#"{"type":"group","messageId":"ajs-r2","groupId":"co","traits":{"size":3}}"#,
    )
    .expect("group heard");
    let (saved, changes) = (p.saved_identity, p.user_changes);
    assert_eq!(hear(&mut o, &mut p, "reset", "{}"), Ok(Heard::User));
    nothing_queued(&o, &p);
    let id = p.c.identity();
    assert_eq!(id.user_id, None);
    assert_eq!(id.user_traits.to_json(), "{}");
    assert_eq!(id.group_id, None);
    assert_eq!(id.group_traits.to_json(), "{}");
    assert_ne!(id.anonymous_id, "anon-1", "a new anonymous id");
    assert!(!p.c.is_identified());
    assert_eq!(
        p.saved_identity,
        saved + 1,
        "persisted for analytics.js to read"
    );
    assert_eq!(
        p.user_changes,
        changes + 1,
        "the content module leaves u1's progress"
    );
    assert_eq!(
        p.analytics_resets, 0,
        "analytics.js's own reset is not handed back to it (that would never end)"
    );
    let first = p.c.identity().anonymous_id.clone();
    // Each reset is a sign-out of its own (they carry no messageId).
    hear(&mut o, &mut p, "reset", "{}").expect("reset heard");
    assert_ne!(p.c.identity().anonymous_id, first);
}

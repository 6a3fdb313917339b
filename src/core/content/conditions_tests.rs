//! Condition tests: every operator (true and false, missing, null, wrong
//! types), both combinators and nesting, URL, event, content and element
//! conditions, dates, every kind of parse mistake with its exact path and
//! message, and the event log's bounds, eviction order and persistence.

use super::conditions::*;
use super::test_world::{status, World};
use crate::core::error::ErrorCode;
use crate::core::json::{self, Json, Number};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z
const DAY: u64 = 86_400_000;

fn world() -> World {
    World::new("https://app.example/dashboard?tab=home#top", NOW)
}

fn j(text: &str) -> Json {
    json::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

fn cond(text: &str) -> Condition {
    parse_condition(&j(text), "c").unwrap_or_else(|e| panic!("{text}: {}", e.message))
}

fn error(text: &str) -> String {
    let e = parse_condition(&j(text), "c").expect_err(text);
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    e.message
}

fn holds(text: &str, w: &World) -> bool {
    cond(text).eval(w)
}

fn no_props() -> Json {
    Json::Object(Vec::new())
}

/// The user attribute `a` (`None`: not set) against `op`/`value` (`value`
/// JSON text, or empty for none).
fn attr(op: &str, value: &str, attribute: Option<&str>) -> bool {
    let mut w = world();
    if let Some(a) = attribute {
        w.user = j(&format!(r#"{{"a":{a}}}"#));
    }
    let value = if value.is_empty() {
        String::new()
    } else {
        format!(r#","value":{value}"#)
    };
    holds(&format!(r#"{{"user":"a","op":"{op}"{value}}}"#), &w)
}

/// Runs a table of (op, value, attribute, expected).
fn table(cases: &[(&str, &str, Option<&str>, bool)]) {
    for &(op, value, attribute, want) in cases {
        assert_eq!(
            attr(op, value, attribute),
            want,
            "{attribute:?} {op} {value}"
        );
    }
}

// --- Parsing into the model -------------------------------------------------

#[test]
fn parses_every_kind() {
    assert_eq!(
        cond(r#"{"url":"/dashboard*"}"#),
        Condition::Url("/dashboard*".into())
    );
    assert_eq!(
        cond(r#"{"user":"plan","op":"equals","value":"pro"}"#),
        Condition::Attribute {
            scope: Scope::User,
            name: "plan".into(),
            test: Test::Equals(Json::String("pro".into())),
        }
    );
    assert_eq!(
        cond(r#"{"company":"size","op":"greater_than","value":10}"#),
        Condition::Attribute {
            scope: Scope::Company,
            name: "size".into(),
            test: Test::GreaterThan(10.0),
        }
    );
    assert_eq!(
        cond(r#"{"event":"signed_up"}"#),
        Condition::Event {
            name: "signed_up".into(),
            filters: vec![],
            count: 1,
            within_days: None,
        }
    );
    assert_eq!(
        cond(
            r#"{"event":"invited","count":3,"within_days":7,"where":[{"property":"role","op":"equals","value":"admin"},{"property":"n","op":"between","value":[1,2.5]}]}"#
        ),
        Condition::Event {
            name: "invited".into(),
            filters: vec![
                ("role".into(), Test::Equals(Json::String("admin".into()))),
                ("n".into(), Test::Between(1.0, 2.5)),
            ],
            count: 3,
            within_days: Some(7),
        }
    );
    assert_eq!(
        cond(r#"{"flow":"onboarding","state":"completed"}"#),
        Condition::Content {
            kind: ContentKind::Flow,
            id: "onboarding".into(),
            state: ContentState::Completed,
        }
    );
    assert_eq!(
        cond(r#"{"checklist":"setup","state":"seen"}"#),
        Condition::Content {
            kind: ContentKind::Checklist,
            id: "setup".into(),
            state: ContentState::Seen,
        }
    );
    assert_eq!(
        cond(r##"{"element":"#save"}"##),
        Condition::Element("#save".into())
    );
    assert_eq!(
        cond(r#"{"all":[{"url":"/a"},{"any":[]}]}"#),
        Condition::All(vec![Condition::Url("/a".into()), Condition::Any(vec![])])
    );
}

#[test]
fn parses_every_operator_with_its_operand() {
    let t = |op: &str, value: &str| -> Test {
        let v = if value.is_empty() {
            String::new()
        } else {
            format!(r#","value":{value}"#)
        };
        match cond(&format!(r#"{{"user":"a","op":"{op}"{v}}}"#)) {
            Condition::Attribute { test, .. } => test,
            other => panic!("{other:?}"),
        }
    };
    let num = |n: f64| Json::Number(Number::from_f64(n).unwrap());
    assert_eq!(t("equals", "5"), Test::Equals(num(5.0)));
    assert_eq!(t("equals", "true"), Test::Equals(Json::Bool(true)));
    assert_eq!(
        t("not_equals", r#""x""#),
        Test::NotEquals(Json::String("x".into()))
    );
    assert_eq!(t("contains", r#""x""#), Test::Contains("x".into()));
    assert_eq!(t("contains", r#""""#), Test::Contains("".into()));
    assert_eq!(t("not_contains", r#""x""#), Test::NotContains("x".into()));
    assert_eq!(t("starts_with", r#""x""#), Test::StartsWith("x".into()));
    assert_eq!(t("ends_with", r#""x""#), Test::EndsWith("x".into()));
    match t("matches", r#""^a+$""#) {
        Test::Matches(re) => assert_eq!(re.as_str(), "^a+$"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t("greater_than", "-1.5"), Test::GreaterThan(-1.5));
    assert_eq!(t("less_than", "1e3"), Test::LessThan(1000.0));
    assert_eq!(t("between", "[2,2]"), Test::Between(2.0, 2.0));
    assert_eq!(t("is_set", ""), Test::IsSet);
    assert_eq!(t("is_not_set", ""), Test::IsNotSet);
    assert_eq!(t("is_true", ""), Test::IsTrue);
    assert_eq!(t("is_false", ""), Test::IsFalse);
    assert_eq!(
        t("before", r#""2024-01-01""#),
        Test::Before(1_704_067_200_000)
    );
    assert_eq!(t("after", r#""1970-01-01T00:00Z""#), Test::After(0));
    assert_eq!(t("within_last_days", "0"), Test::WithinLastDays(0));
    assert_eq!(t("within_last_days", "30"), Test::WithinLastDays(30));
    assert_eq!(t("list_contains", "null"), Test::ListContains(Json::Null));
    assert_eq!(
        t("list_contains", r#""b""#),
        Test::ListContains(Json::String("b".into()))
    );
}

// --- Operators ---------------------------------------------------------------

#[test]
fn equals_and_not_equals_compare_json_values() {
    table(&[
        ("equals", r#""pro""#, Some(r#""pro""#), true),
        ("equals", r#""pro""#, Some(r#""Pro""#), false),
        ("equals", r#""pro""#, Some(r#""pro ""#), false),
        ("equals", "5", Some("5"), true),
        ("equals", "5", Some("5.0"), true),
        ("equals", "5", Some("5e0"), true),
        ("equals", "0.5", Some("5e-1"), true),
        ("equals", "5", Some("5.1"), false),
        ("equals", "5", Some(r#""5""#), false),
        ("equals", r#""5""#, Some("5"), false),
        ("equals", "true", Some("true"), true),
        ("equals", "true", Some("false"), false),
        ("equals", "true", Some(r#""true""#), false),
        ("equals", "1", Some("true"), false),
        ("equals", r#""pro""#, Some(r#"["pro"]"#), false),
        ("equals", r#""pro""#, Some(r#"{"pro":1}"#), false),
        ("equals", r#""pro""#, Some("null"), false),
        ("equals", r#""pro""#, None, false),
        ("not_equals", r#""pro""#, Some(r#""pro""#), false),
        ("not_equals", r#""pro""#, Some(r#""free""#), true),
        ("not_equals", "5", Some("5.0"), false),
        ("not_equals", "5", Some(r#""5""#), true),
        ("not_equals", r#""pro""#, Some(r#"["pro"]"#), true),
        ("not_equals", r#""pro""#, Some("null"), true),
        ("not_equals", r#""pro""#, None, true),
    ]);
}

#[test]
fn string_operators_are_case_sensitive_and_use_json_text_of_numbers_and_booleans() {
    table(&[
        ("contains", r#""pro""#, Some(r#""professional""#), true),
        ("contains", r#""pro""#, Some(r#""Professional""#), false),
        ("contains", r#""""#, Some(r#""""#), true),
        ("contains", r#""234""#, Some("12345"), true),
        ("contains", r#""ru""#, Some("true"), true),
        ("contains", r#""5.0""#, Some("5.0"), true),
        ("contains", r#""pro""#, Some(r#"["pro"]"#), false),
        ("contains", r#""pro""#, Some(r#"{"pro":1}"#), false),
        ("contains", r#""pro""#, Some("null"), false),
        ("contains", r#""pro""#, None, false),
        ("not_contains", r#""pro""#, Some(r#""professional""#), false),
        ("not_contains", r#""pro""#, Some(r#""basic""#), true),
        ("not_contains", r#""pro""#, Some(r#"["pro"]"#), true),
        ("not_contains", r#""pro""#, Some("null"), true),
        ("not_contains", r#""pro""#, None, true),
        ("starts_with", r#""pro""#, Some(r#""professional""#), true),
        ("starts_with", r#""pro""#, Some(r#""a pro""#), false),
        ("starts_with", r#""PRO""#, Some(r#""professional""#), false),
        ("starts_with", r#""12""#, Some("123"), true),
        ("starts_with", r#""fa""#, Some("false"), true),
        ("starts_with", r#""pro""#, Some(r#"["pro"]"#), false),
        ("starts_with", r#""pro""#, None, false),
        (
            "ends_with",
            r#""@acme.com""#,
            Some(r#""ada@acme.com""#),
            true,
        ),
        (
            "ends_with",
            r#""@acme.com""#,
            Some(r#""ada@acme.co""#),
            false,
        ),
        ("ends_with", r#""23""#, Some("123"), true),
        ("ends_with", r#""x""#, Some("null"), false),
        ("ends_with", r#""x""#, None, false),
        ("matches", r#""^pro""#, Some(r#""professional""#), true),
        ("matches", r#""^pro""#, Some(r#""a pro""#), false),
        ("matches", r#""pro""#, Some(r#""a pro""#), true),
        ("matches", r#""^PRO""#, Some(r#""professional""#), false),
        ("matches", r#""^\\d+$""#, Some("12345"), true),
        ("matches", r#""^\\d+$""#, Some("1.5"), false),
        ("matches", r#""^t""#, Some("true"), true),
        (
            "matches",
            r#""^(?:a|b)@acme\\.com$""#,
            Some(r#""b@acme.com""#),
            true,
        ),
        (
            "matches",
            r#""^(?:a|b)@acme\\.com$""#,
            Some(r#""b@acmexcom""#),
            false,
        ),
        ("matches", r#""""#, Some(r#"["x"]"#), false),
        ("matches", r#""""#, Some("null"), false),
        ("matches", r#""""#, None, false),
    ]);
}

#[test]
fn numeric_operators_take_numbers_and_numeric_strings() {
    table(&[
        ("greater_than", "10", Some("11"), true),
        ("greater_than", "10", Some("10"), false),
        ("greater_than", "10", Some("10.000001"), true),
        ("greater_than", "10", Some("9"), false),
        ("greater_than", "10", Some(r#""11""#), true),
        ("greater_than", "10", Some(r#"" 11 ""#), true),
        ("greater_than", "10", Some(r#""1e2""#), true),
        ("greater_than", "10", Some(r#""11 apples""#), false),
        ("greater_than", "10", Some(r#""""#), false),
        ("greater_than", "10", Some(r#""Infinity""#), false),
        ("greater_than", "10", Some(r#""NaN""#), false),
        ("greater_than", "0", Some("true"), false),
        ("greater_than", "0", Some("[1]"), false),
        ("greater_than", "0", Some("null"), false),
        ("greater_than", "0", None, false),
        ("greater_than", "-5", Some("-4"), true),
        ("less_than", "10", Some("9.5"), true),
        ("less_than", "10", Some("10"), false),
        ("less_than", "10", Some(r#""-3""#), true),
        ("less_than", "10", Some(r#""ten""#), false),
        ("less_than", "10", Some("false"), false),
        ("less_than", "10", None, false),
        ("between", "[1,10]", Some("1"), true),
        ("between", "[1,10]", Some("10"), true),
        ("between", "[1,10]", Some("5.5"), true),
        ("between", "[1,10]", Some("0.999"), false),
        ("between", "[1,10]", Some("10.001"), false),
        ("between", "[1,10]", Some(r#""7""#), true),
        ("between", "[1,10]", Some(r#""x""#), false),
        ("between", "[3,3]", Some("3"), true),
        ("between", "[-2,-1]", Some("-1.5"), true),
        ("between", "[1,10]", Some("null"), false),
        ("between", "[1,10]", None, false),
    ]);
}

#[test]
fn presence_and_boolean_operators() {
    table(&[
        ("is_set", "", Some(r#""""#), true),
        ("is_set", "", Some("0"), true),
        ("is_set", "", Some("false"), true),
        ("is_set", "", Some("[]"), true),
        ("is_set", "", Some("{}"), true),
        ("is_set", "", Some("null"), false),
        ("is_set", "", None, false),
        ("is_not_set", "", Some(r#""""#), false),
        ("is_not_set", "", Some("false"), false),
        ("is_not_set", "", Some("null"), true),
        ("is_not_set", "", None, true),
        ("is_true", "", Some("true"), true),
        ("is_true", "", Some("false"), false),
        ("is_true", "", Some(r#""true""#), false),
        ("is_true", "", Some("1"), false),
        ("is_true", "", Some("null"), false),
        ("is_true", "", None, false),
        ("is_false", "", Some("false"), true),
        ("is_false", "", Some("true"), false),
        ("is_false", "", Some(r#""false""#), false),
        ("is_false", "", Some("0"), false),
        ("is_false", "", Some("null"), false),
        ("is_false", "", None, false),
    ]);
}

#[test]
fn date_operators_take_iso_strings_and_unix_times() {
    table(&[
        ("before", r#""2024-01-01""#, Some(r#""2023-12-31""#), true),
        (
            "before",
            r#""2024-01-01""#,
            Some(r#""2023-12-31T23:59:59.999Z""#),
            true,
        ),
        ("before", r#""2024-01-01""#, Some(r#""2024-01-01""#), false),
        (
            "before",
            r#""2024-01-01""#,
            Some(r#""2024-01-01T00:00:00Z""#),
            false,
        ),
        (
            "before",
            r#""2024-01-01""#,
            Some(r#""2024-01-01T00:30+01:00""#),
            true,
        ),
        (
            "before",
            r#""2024-01-01""#,
            Some(r#""2023-12-31T23:30-01:00""#),
            false,
        ),
        ("before", r#""2024-01-01""#, Some(r#""1965-06-01""#), true),
        ("before", r#""2024-01-01""#, Some("1704067199"), true),
        ("before", r#""2024-01-01""#, Some("1704067200"), false),
        ("before", r#""2024-01-01""#, Some("1704067199999"), true),
        ("before", r#""2024-01-01""#, Some("1704067200000"), false),
        ("before", r#""2024-01-01""#, Some("-1"), true),
        ("before", r#""2024-01-01""#, Some(r#""1704067199""#), false),
        ("before", r#""2024-01-01""#, Some(r#""yesterday""#), false),
        ("before", r#""2024-01-01""#, Some(r#""2023-02-30""#), false),
        ("before", r#""2024-01-01""#, Some("true"), false),
        ("before", r#""2024-01-01""#, Some("null"), false),
        ("before", r#""2024-01-01""#, None, false),
        (
            "after",
            r#""2024-01-01""#,
            Some(r#""2024-01-01T00:00:00.001Z""#),
            true,
        ),
        ("after", r#""2024-01-01""#, Some(r#""2024-01-01""#), false),
        (
            "after",
            r#""2024-01-01""#,
            Some(r#""2023-12-31T23:30-01:00""#),
            true,
        ),
        ("after", r#""2024-01-01""#, Some("1704067201"), true),
        ("after", r#""2024-01-01""#, Some("1704067200"), false),
        ("after", r#""2024-01-01""#, Some("1704067200001"), true),
        ("after", r#""1970-01-01""#, Some(r#""1969-12-31""#), false),
        ("after", r#""1970-01-01""#, Some("0.5"), true),
        ("after", r#""2024-01-01""#, Some(r#""soon""#), false),
        ("after", r#""2024-01-01""#, None, false),
    ]);
}

#[test]
fn within_last_days_counts_back_from_now_both_ends_included() {
    let iso = |ms: u64| -> String {
        // As Unix milliseconds (numbers ≥ 1e11 are milliseconds).
        ms.to_string()
    };
    table(&[
        ("within_last_days", "7", Some(&iso(NOW)), true),
        ("within_last_days", "7", Some(&iso(NOW - 7 * DAY)), true),
        (
            "within_last_days",
            "7",
            Some(&iso(NOW - 7 * DAY - 1)),
            false,
        ),
        ("within_last_days", "7", Some(&iso(NOW + 1)), false),
        ("within_last_days", "0", Some(&iso(NOW)), true),
        ("within_last_days", "0", Some(&iso(NOW - 1)), false),
        (
            "within_last_days",
            "7",
            Some(r#""2023-11-07T22:13:20Z""#),
            true,
        ),
        (
            "within_last_days",
            "7",
            Some(r#""2023-11-07T22:13:19Z""#),
            false,
        ),
        ("within_last_days", "7", Some(r#""2023-11-10""#), true),
        ("within_last_days", "7", Some(r#""2023-11-20""#), false),
        ("within_last_days", "7", Some("1699999999"), true),
        ("within_last_days", "36500", Some(r#""1965-06-01""#), true),
        ("within_last_days", "7", Some(r#""last week""#), false),
        ("within_last_days", "7", Some("false"), false),
        ("within_last_days", "7", Some("null"), false),
        ("within_last_days", "7", None, false),
    ]);
}

#[test]
fn list_contains_looks_in_arrays() {
    table(&[
        (
            "list_contains",
            r#""admin""#,
            Some(r#"["user","admin"]"#),
            true,
        ),
        ("list_contains", r#""admin""#, Some(r#"["user"]"#), false),
        ("list_contains", r#""admin""#, Some("[]"), false),
        ("list_contains", r#""admin""#, Some(r#"["Admin"]"#), false),
        ("list_contains", r#""admin""#, Some(r#"[["admin"]]"#), false),
        ("list_contains", "2", Some("[1,2.0,3]"), true),
        ("list_contains", "2", Some(r#"["2"]"#), false),
        ("list_contains", r#""2""#, Some("[2]"), false),
        ("list_contains", "true", Some("[false,true]"), true),
        ("list_contains", "null", Some("[1,null]"), true),
        ("list_contains", "null", Some("[1]"), false),
        ("list_contains", r#""admin""#, Some(r#""admin""#), false),
        (
            "list_contains",
            r#""admin""#,
            Some(r#"{"admin":true}"#),
            false,
        ),
        ("list_contains", r#""admin""#, Some("null"), false),
        ("list_contains", r#""admin""#, None, false),
    ]);
}

#[test]
fn every_operator_on_a_missing_attribute() {
    for op in OPERATORS {
        let value = match *op {
            "is_set" | "is_not_set" | "is_true" | "is_false" => "",
            "greater_than" | "less_than" | "within_last_days" => "1",
            "between" => "[1,2]",
            "before" | "after" => r#""2024-01-01""#,
            _ => r#""x""#,
        };
        let want = matches!(*op, "not_equals" | "not_contains" | "is_not_set");
        assert_eq!(attr(op, value, None), want, "missing, {op}");
        assert_eq!(attr(op, value, Some("null")), want, "null, {op}");
    }
}

#[test]
fn company_attributes_are_separate_from_user_attributes() {
    let mut w = world();
    w.user = j(r#"{"plan":"free"}"#);
    w.company = j(r#"{"plan":"enterprise","size":50}"#);
    assert!(holds(r#"{"user":"plan","op":"equals","value":"free"}"#, &w));
    assert!(holds(
        r#"{"company":"plan","op":"equals","value":"enterprise"}"#,
        &w
    ));
    assert!(!holds(
        r#"{"company":"plan","op":"equals","value":"free"}"#,
        &w
    ));
    assert!(holds(
        r#"{"company":"size","op":"greater_than","value":10}"#,
        &w
    ));
    assert!(!holds(r#"{"user":"size","op":"is_set"}"#, &w));
}

// --- Dates -------------------------------------------------------------------

#[test]
fn parses_the_documented_date_forms() {
    for (text, ms) in [
        ("1970-01-01", 0),
        ("1969-12-31", -86_400_000),
        ("1965-06-01", -144_720_000_000),
        ("2024-01-01", 1_704_067_200_000),
        ("2000-02-29", 951_782_400_000),
        ("2024-03-10T12:30", 1_710_073_800_000),
        ("2024-03-10T12:30Z", 1_710_073_800_000),
        ("2024-03-10T12:30:00", 1_710_073_800_000),
        ("2024-03-10T12:30:00Z", 1_710_073_800_000),
        ("2024-03-10T12:30:00+00:00", 1_710_073_800_000),
        ("2024-03-10T12:30:00-00:00", 1_710_073_800_000),
        ("2024-03-10T12:30+02:00", 1_710_066_600_000),
        ("2024-03-10T12:30:00-05:30", 1_710_093_600_000),
        ("2024-03-10T12:30:45.123Z", 1_710_073_845_123),
        ("2024-03-10T12:30:45.1Z", 1_710_073_845_100),
        ("2024-03-10T12:30:45.123456789Z", 1_710_073_845_123),
        ("2023-11-14T22:13:20Z", NOW as i64),
        ("9999-12-31T23:59:59Z", 253_402_300_799_000),
    ] {
        assert_eq!(parse_date(text), Some(ms), "{text}");
    }
    for bad in [
        "",
        "2024",
        "2024-1-01",
        "2024-01-1",
        "2024/01/01",
        "2024-13-01",
        "2024-00-01",
        "2024-01-00",
        "2024-01-32",
        "2023-02-29",
        "1900-02-29",
        "2024-04-31",
        "2024-01-01T",
        "2024-01-01 12:30",
        "2024-01-01t12:30",
        "2024-01-01T12",
        "2024-01-01T12:3",
        "2024-01-01T24:00",
        "2024-01-01T12:60",
        "2024-01-01T12:30:60",
        "2024-01-01T12:30:5",
        "2024-01-01T12:30:00.",
        "2024-01-01T12:30:00.Z",
        "2024-01-01T12:30z",
        "2024-01-01T12:30ZZ",
        "2024-01-01T12:30+02",
        "2024-01-01T12:30+0200",
        "2024-01-01T12:30+24:00",
        "2024-01-01T12:30+02:60",
        "2024-01-01T12:30+02:00x",
        "2024-01-01Z",
        "+2024-01-01",
        "２０２４-01-01",
        "2024-01-01T12:30:00.123+",
    ] {
        assert_eq!(parse_date(bad), None, "{bad:?}");
    }
    assert_eq!(parse_date("2000-02-29"), Some(951_782_400_000));
}

#[test]
fn attribute_dates_as_numbers_are_seconds_below_1e11_else_milliseconds() {
    let n = |t: &str| as_date(&j(t));
    assert_eq!(n("0"), Some(0));
    assert_eq!(n("1700000000"), Some(1_700_000_000_000));
    assert_eq!(n("1700000000.5"), Some(1_700_000_000_500));
    assert_eq!(n("99999999999"), Some(99_999_999_999_000));
    assert_eq!(n("100000000000"), Some(100_000_000_000));
    assert_eq!(n("1700000000000"), Some(1_700_000_000_000));
    assert_eq!(n("-86400"), Some(-86_400_000));
    assert_eq!(n("1e300"), None);
    assert_eq!(n(r#""2024-01-01""#), Some(1_704_067_200_000));
    assert_eq!(n(r#""1700000000""#), None);
    assert_eq!(n("true"), None);
    assert_eq!(n("[0]"), None);
}

// --- Combinators, URL, content, elements ---------------------------------------

#[test]
fn all_and_any_combine_and_nest() {
    let mut w = world();
    w.user = j(r#"{"plan":"pro","seats":3}"#);
    let yes = r#"{"user":"plan","op":"equals","value":"pro"}"#;
    let no = r#"{"user":"plan","op":"equals","value":"free"}"#;
    assert!(holds(r#"{"all":[]}"#, &w), "empty all holds");
    assert!(!holds(r#"{"any":[]}"#, &w), "empty any does not");
    for (items, all, any) in [
        (format!("[{yes}]"), true, true),
        (format!("[{no}]"), false, false),
        (format!("[{yes},{yes}]"), true, true),
        (format!("[{yes},{no}]"), false, true),
        (format!("[{no},{yes}]"), false, true),
        (format!("[{no},{no}]"), false, false),
    ] {
        assert_eq!(
            holds(&format!(r#"{{"all":{items}}}"#), &w),
            all,
            "all {items}"
        );
        assert_eq!(
            holds(&format!(r#"{{"any":{items}}}"#), &w),
            any,
            "any {items}"
        );
    }
    let nested =
        format!(r#"{{"any":[{no},{{"all":[{yes},{{"any":[{no},{{"url":"/dashboard*"}}]}}]}}]}}"#);
    assert!(holds(&nested, &w));
    w.url = "https://app.example/settings".into();
    assert!(!holds(&nested, &w));
    assert!(holds(r#"{"all":[{"all":[{"all":[]}]}]}"#, &w));
    assert!(!holds(
        r#"{"all":[{"any":[{"all":[]},{"any":[]}]},{"any":[]}]}"#,
        &w
    ));
}

#[test]
fn url_conditions_match_path_and_search() {
    let mut w = world();
    assert!(holds(r#"{"url":"/dashboard*"}"#, &w));
    assert!(holds(r#"{"url":"/dashboard?tab=home"}"#, &w));
    assert!(
        !holds(r#"{"url":"/dashboard"}"#, &w),
        "whole path and search"
    );
    assert!(!holds(r#"{"url":"*top*"}"#, &w), "not the fragment");
    assert!(!holds(r#"{"url":"*app.example*"}"#, &w), "not the host");
    assert!(holds(r#"{"url":"*tab=home*"}"#, &w));
    w.url = "https://app.example/settings/billing".into();
    assert!(holds(r#"{"url":"/settings/*"}"#, &w));
    assert!(!holds(r#"{"url":"/dashboard*"}"#, &w));
}

#[test]
fn content_conditions_cover_every_state() {
    let mut w = world();
    w.content = vec![
        (ContentKind::Flow, "tour".into(), status(true, false, true)),
        (
            ContentKind::Checklist,
            "setup".into(),
            status(true, true, false),
        ),
    ];
    let expect = [
        ("flow", "tour", [true, false, false, true, true, false]),
        (
            "checklist",
            "setup",
            [true, false, true, false, false, true],
        ),
        // Same id, other kind: unknown.
        ("checklist", "tour", [false, true, false, true, false, true]),
        ("flow", "never", [false, true, false, true, false, true]),
    ];
    for (kind, id, wants) in expect {
        for (state, want) in CONTENT_STATES.iter().zip(wants) {
            let c = format!(r#"{{"{kind}":"{id}","state":"{state}"}}"#);
            assert_eq!(holds(&c, &w), want, "{c}");
        }
    }
}

#[test]
fn element_conditions_ask_the_page() {
    let mut w = world();
    assert!(!holds(r##"{"element":"#save"}"##, &w));
    w.elements = vec!["#save".into(), ".banner > a".into()];
    assert!(holds(r##"{"element":"#save"}"##, &w));
    assert!(holds(r#"{"element":".banner > a"}"#, &w));
    assert!(!holds(r#"{"element":".banner"}"#, &w));
}

#[test]
fn lists_the_selectors_events_and_content_inside() {
    let c = cond(
        r##"{"any":[{"element":"#a"},{"all":[{"event":"e1"},{"flow":"f","state":"seen"},{"element":".b"},{"any":[{"event":"e2","count":2},{"checklist":"k","state":"active"},{"element":"#a"}]}]},{"url":"/x"},{"user":"u","op":"is_set"}]}"##,
    );
    let mut selectors = Vec::new();
    c.selectors(&mut selectors);
    assert_eq!(selectors, vec!["#a", ".b", "#a"]);
    let mut events = Vec::new();
    c.event_names(&mut events);
    assert_eq!(events, vec!["e1", "e2"]);
    let mut refs = Vec::new();
    c.content_refs(&mut refs);
    assert_eq!(
        refs,
        vec![(ContentKind::Flow, "f"), (ContentKind::Checklist, "k")]
    );
    let (url, user) = (
        cond(r#"{"url":"/x"}"#),
        cond(r#"{"user":"x","op":"is_set"}"#),
    );
    let mut none = Vec::new();
    url.selectors(&mut none);
    user.event_names(&mut none);
    let mut no_refs = Vec::new();
    url.content_refs(&mut no_refs);
    assert!(none.is_empty() && no_refs.is_empty());
    let (event, element) = (
        cond(r#"{"event":"solo"}"#),
        cond(r##"{"element":"#solo"}"##),
    );
    let mut single = Vec::new();
    event.event_names(&mut single);
    element.selectors(&mut single);
    assert_eq!(single, vec!["solo", "#solo"]);
}

// --- Event conditions ----------------------------------------------------------

#[test]
fn event_conditions_count_at_least() {
    let mut w = world();
    assert!(!holds(r#"{"event":"invited"}"#, &w));
    w.log.record("invited", &no_props(), NOW - 1000);
    assert!(holds(r#"{"event":"invited"}"#, &w));
    assert!(holds(r#"{"event":"invited","count":1}"#, &w));
    assert!(!holds(r#"{"event":"invited","count":2}"#, &w));
    w.log.record("invited", &no_props(), NOW);
    assert!(holds(r#"{"event":"invited","count":2}"#, &w));
    assert!(
        !holds(r#"{"event":"Invited"}"#, &w),
        "names are case-sensitive"
    );
    assert!(!holds(r#"{"event":"other"}"#, &w));
}

#[test]
fn event_conditions_with_a_window_use_the_clock() {
    let mut w = world();
    w.log.record("login", &no_props(), NOW - 10 * DAY);
    w.log.record("login", &no_props(), NOW - 7 * DAY);
    w.log.record("login", &no_props(), NOW - DAY);
    assert!(holds(r#"{"event":"login","count":3}"#, &w));
    assert!(
        holds(r#"{"event":"login","count":2,"within_days":7}"#, &w),
        "the start is included"
    );
    assert!(!holds(r#"{"event":"login","count":3,"within_days":7}"#, &w));
    assert!(holds(r#"{"event":"login","within_days":1}"#, &w));
    assert!(!holds(r#"{"event":"login","count":2,"within_days":6}"#, &w));
    w.now += 1;
    assert!(!holds(r#"{"event":"login","count":2,"within_days":7}"#, &w));
    w.now = NOW + 30 * DAY;
    assert!(!holds(r#"{"event":"login","within_days":7}"#, &w));
    assert!(
        holds(r#"{"event":"login","count":3}"#, &w),
        "the total has no window"
    );
    w.now = 0;
    assert!(
        holds(r#"{"event":"login","count":3,"within_days":1}"#, &w),
        "later than now counts"
    );
}

#[test]
fn event_conditions_filter_on_properties() {
    let mut w = world();
    w.log.record(
        "invited",
        &j(r#"{"role":"admin","seats":5,"sso":true}"#),
        NOW - 2 * DAY,
    );
    w.log.record(
        "invited",
        &j(r#"{"role":"member","seats":"12"}"#),
        NOW - DAY,
    );
    w.log
        .record("invited", &j(r#"{"role":"admin","nested":{"a":1}}"#), NOW);
    let c = |filters: &str, count: u64| -> String {
        format!(r#"{{"event":"invited","count":{count},"where":{filters}}}"#)
    };
    let admin = r#"{"property":"role","op":"equals","value":"admin"}"#;
    assert!(holds(&c(&format!("[{admin}]"), 2), &w));
    assert!(!holds(&c(&format!("[{admin}]"), 3), &w));
    let many = r#"{"property":"seats","op":"greater_than","value":4}"#;
    assert!(
        holds(&c(&format!("[{many}]"), 2), &w),
        "numeric strings too"
    );
    assert!(
        holds(&c(&format!("[{admin},{many}]"), 1), &w),
        "every filter"
    );
    assert!(!holds(&c(&format!("[{admin},{many}]"), 2), &w));
    let sso = r#"{"property":"sso","op":"is_true"}"#;
    assert!(holds(&c(&format!("[{sso}]"), 1), &w));
    let unset = r#"{"property":"seats","op":"is_not_set"}"#;
    assert!(holds(&c(&format!("[{unset}]"), 1), &w));
    assert!(!holds(&c(&format!("[{unset}]"), 2), &w));
    let nested = r#"{"property":"nested","op":"is_set"}"#;
    assert!(
        !holds(&c(&format!("[{nested}]"), 1), &w),
        "objects are not kept"
    );
    assert!(holds(&c("[]", 3), &w), "an empty where filters nothing");
    let windowed = format!(r#"{{"event":"invited","within_days":1,"where":[{admin}]}}"#);
    assert!(holds(&windowed, &w));
    w.now = NOW + 1;
    assert!(holds(&windowed, &w));
    let old_admin = format!(r#"{{"event":"invited","count":2,"within_days":1,"where":[{admin}]}}"#);
    assert!(!holds(&old_admin, &w));
    // Date filters on properties use the facts' clock.
    w.log.record("renewed", &j(r#"{"on":"2023-11-10"}"#), NOW);
    let recent =
        r#"{"event":"renewed","where":[{"property":"on","op":"within_last_days","value":7}]}"#;
    assert!(holds(recent, &w));
    w.now = NOW + 30 * DAY;
    assert!(!holds(recent, &w));
}

// --- Parse errors ----------------------------------------------------------------

#[test]
fn kind_mistakes_name_the_path_and_the_kinds() {
    let kinds = "all, any, url, user, company, event, flow, checklist, element";
    assert_eq!(error(r#""url""#), "c: expected an object");
    assert_eq!(error("[]"), "c: expected an object");
    assert_eq!(error("{}"), format!("c: expected exactly one of {kinds}"));
    assert_eq!(
        error(r#"{"op":"equals"}"#),
        format!("c: expected exactly one of {kinds}")
    );
    assert_eq!(
        error(r#"{"url":"/a","event":"e"}"#),
        format!("c: expected exactly one of {kinds}; found url and event")
    );
    assert_eq!(
        error(r##"{"element":"#a","flow":"f","user":"u"}"##),
        format!("c: expected exactly one of {kinds}; found user, flow and element")
    );
    assert_eq!(
        error(r#"{"all":[],"any":[]}"#),
        format!("c: expected exactly one of {kinds}; found all and any")
    );
    let e = parse_condition(&j("{}"), "").expect_err("root");
    assert_eq!(
        e.message,
        format!("content: expected exactly one of {kinds}")
    );
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    for (text, want) in [
        (
            r#"{"url":"/a","x":1}"#,
            "c.x: unknown field (expected one of url)",
        ),
        (
            r#"{"all":[],"x":1}"#,
            "c.x: unknown field (expected one of all)",
        ),
        (
            r#"{"any":[],"count":1}"#,
            "c.count: unknown field (expected one of any)",
        ),
        (
            r#"{"user":"a","op":"is_set","scope":"x"}"#,
            "c.scope: unknown field (expected one of user, op, value)",
        ),
        (
            r#"{"company":"a","op":"is_set","where":[]}"#,
            "c.where: unknown field (expected one of company, op, value)",
        ),
        (
            r#"{"event":"e","op":"is_set"}"#,
            "c.op: unknown field (expected one of event, count, within_days, where)",
        ),
        (
            r#"{"flow":"f","state":"seen","op":"x"}"#,
            "c.op: unknown field (expected one of flow, state)",
        ),
        (
            r#"{"checklist":"f","state":"seen","count":1}"#,
            "c.count: unknown field (expected one of checklist, state)",
        ),
        (
            r##"{"element":"#a","timeout":5}"##,
            "c.timeout: unknown field (expected one of element)",
        ),
        (
            r#"{"event":"e","where":[{"property":"p","op":"is_set","x":1}]}"#,
            "c.where[0].x: unknown field (expected one of property, op, value)",
        ),
    ] {
        assert_eq!(error(text), want, "{text}");
    }
}

#[test]
fn nested_mistakes_name_the_full_path() {
    assert_eq!(
        error(r#"{"all":[{"url":"/a"},{"any":[{"url":"/b"},{"url":""}]}]}"#),
        "c.all[1].any[1].url: must not be empty"
    );
    assert_eq!(
        error(
            r#"{"any":[{"event":"e","where":[{"property":"p","op":"is_set"},{"property":"q","op":"nope"}]}]}"#
        ),
        format!(
            "c.any[0].where[1].op: expected one of {}",
            OPERATORS.join(", ")
        )
    );
    assert_eq!(error(r#"{"all":{}}"#), "c.all: expected an array");
    assert_eq!(error(r#"{"any":"x"}"#), "c.any: expected an array");
    assert_eq!(error(r#"{"all":[1]}"#), "c.all[0]: expected an object");
    let e = parse_condition(&j(r#"{"all":[{"url":3}]}"#), "flows[2].start[0]").expect_err("");
    assert_eq!(e.message, "flows[2].start[0].all[0].url: expected a string");
}

#[test]
fn nesting_is_bounded() {
    let nest = |levels: usize| -> String {
        let mut s = r#"{"url":"/dashboard*"}"#.to_string();
        for _ in 0..levels {
            s = format!(r#"{{"all":[{s}]}}"#);
        }
        s
    };
    assert!(holds(&nest(32), &world()));
    let msg = error(&nest(33));
    assert!(
        msg.starts_with("c.all[0]")
            && msg.ends_with(".all: conditions nested too deeply (all and any at most 32 levels)"),
        "{msg}"
    );
    assert_eq!(msg.matches("all[0]").count(), 32, "{msg}");
    // An empty list at the limit holds no deeper condition.
    let mut s = r#"{"any":[]}"#.to_string();
    for _ in 0..32 {
        s = format!(r#"{{"all":[{s}]}}"#);
    }
    assert!(!holds(&s, &world()));
}

#[test]
fn value_kind_mistakes() {
    for (text, want) in [
        (r#"{"url":3}"#, "c.url: expected a string"),
        (r#"{"url":""}"#, "c.url: must not be empty"),
        (r#"{"url":"  "}"#, "c.url: must not be empty"),
        (r#"{"user":"","op":"is_set"}"#, "c.user: must not be empty"),
        (r#"{"user":1,"op":"is_set"}"#, "c.user: expected a string"),
        (
            r#"{"company":null,"op":"is_set"}"#,
            "c.company: expected a string",
        ),
        (r#"{"event":""}"#, "c.event: must not be empty"),
        (r#"{"event":["a"]}"#, "c.event: expected a string"),
        (r#"{"flow":"","state":"seen"}"#, "c.flow: must not be empty"),
        (
            r#"{"flow":" f","state":"seen"}"#,
            "c.flow: must not start or end with whitespace",
        ),
        (
            r#"{"checklist":"f "," state":"seen"}"#,
            "c. state: unknown field (expected one of checklist, state)",
        ),
        (r#"{"checklist":"f"}"#, "c.state: required"),
        (
            r#"{"flow":"f","state":"done"}"#,
            "c.state: expected one of seen, not_seen, completed, not_completed, active, not_active",
        ),
        (
            r#"{"flow":"f","state":true}"#,
            "c.state: expected one of seen, not_seen, completed, not_completed, active, not_active",
        ),
        (r#"{"element":""}"#, "c.element: must not be empty"),
        (r#"{"element":5}"#, "c.element: expected a string"),
    ] {
        assert_eq!(error(text), want, "{text}");
    }
    let long = "x".repeat(64 * 1024 + 1);
    assert_eq!(
        error(&format!(r#"{{"url":"{long}"}}"#)),
        "c.url: longer than 65536 bytes"
    );
    assert_eq!(
        error(&format!(
            r#"{{"user":"a","op":"contains","value":"{long}"}}"#
        )),
        "c.value: longer than 65536 bytes"
    );
    assert_eq!(
        error(&format!(r#"{{"user":"a","op":"equals","value":"{long}"}}"#)),
        "c.value: longer than 65536 bytes"
    );
}

#[test]
fn operator_and_operand_mistakes() {
    let ops = OPERATORS.join(", ");
    let any_date = "c.value: expected a date: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff]] with Z, ±HH:MM or nothing (UTC)";
    let no_null = "c.value: expected a string, number or boolean (a null attribute counts as not set: use is_set or is_not_set)";
    for (rest, want) in [
        ("", "c.op: required".to_string()),
        (r#","op":"eq""#, format!("c.op: expected one of {ops}")),
        (r#","op":5"#, format!("c.op: expected one of {ops}")),
        (r#","op":"equals""#, "c.value: required".into()),
        (r#","op":"equals","value":null"#, no_null.into()),
        (r#","op":"not_equals","value":null"#, no_null.into()),
        (
            r#","op":"equals","value":[1]"#,
            "c.value: expected a string, number or boolean".into(),
        ),
        (
            r#","op":"not_equals","value":{}"#,
            "c.value: expected a string, number or boolean".into(),
        ),
        (
            r#","op":"contains","value":5"#,
            "c.value: expected a string".into(),
        ),
        (
            r#","op":"not_contains","value":true"#,
            "c.value: expected a string".into(),
        ),
        (
            r#","op":"starts_with","value":null"#,
            "c.value: expected a string".into(),
        ),
        (r#","op":"ends_with""#, "c.value: required".into()),
        (
            r#","op":"matches","value":1"#,
            "c.value: expected a string".into(),
        ),
        (
            r#","op":"matches","value":"(a""#,
            "c.value: invalid pattern: missing ) for this ( (character 1)".into(),
        ),
        (
            r#","op":"matches","value":"(?=a)""#,
            "c.value: invalid pattern: lookahead is not supported (character 1)".into(),
        ),
        (
            r#","op":"matches","value":"a+?""#,
            "c.value: invalid pattern: lazy quantifiers are not supported (character 3)".into(),
        ),
        (
            r#","op":"greater_than","value":"10""#,
            "c.value: expected a number".into(),
        ),
        (
            r#","op":"less_than","value":null"#,
            "c.value: expected a number".into(),
        ),
        (r#","op":"less_than""#, "c.value: required".into()),
        (
            r#","op":"between","value":5"#,
            "c.value: expected [min, max]".into(),
        ),
        (
            r#","op":"between","value":[1]"#,
            "c.value: expected [min, max]".into(),
        ),
        (
            r#","op":"between","value":[1,2,3]"#,
            "c.value: expected [min, max]".into(),
        ),
        (
            r#","op":"between","value":["1",2]"#,
            "c.value[0]: expected a number".into(),
        ),
        (
            r#","op":"between","value":[1,null]"#,
            "c.value[1]: expected a number".into(),
        ),
        (
            r#","op":"between","value":[3,2]"#,
            "c.value: min is greater than max".into(),
        ),
        (
            r#","op":"is_set","value":true"#,
            "c.value: not allowed: is_set takes no value".into(),
        ),
        (
            r#","op":"is_not_set","value":null"#,
            "c.value: not allowed: is_not_set takes no value".into(),
        ),
        (
            r#","op":"is_true","value":true"#,
            "c.value: not allowed: is_true takes no value".into(),
        ),
        (
            r#","op":"is_false","value":false"#,
            "c.value: not allowed: is_false takes no value".into(),
        ),
        (r#","op":"before""#, "c.value: required".into()),
        (r#","op":"before","value":1700000000"#, any_date.into()),
        (r#","op":"before","value":"2024-02-30""#, any_date.into()),
        (
            r#","op":"after","value":"2024-01-01 10:00""#,
            any_date.into(),
        ),
        (r#","op":"after","value":"tomorrow""#, any_date.into()),
        (
            r#","op":"after","value":"1969-12-31T23:59:59Z""#,
            "c.value: dates before 1970 are not supported".into(),
        ),
        (
            r#","op":"within_last_days","value":-1"#,
            "c.value: expected a whole number of days from 0 to 36500".into(),
        ),
        (
            r#","op":"within_last_days","value":1.5"#,
            "c.value: expected a whole number of days from 0 to 36500".into(),
        ),
        (
            r#","op":"within_last_days","value":36501"#,
            "c.value: expected a whole number of days from 0 to 36500".into(),
        ),
        (
            r#","op":"within_last_days","value":"7""#,
            "c.value: expected a whole number of days from 0 to 36500".into(),
        ),
        (r#","op":"list_contains""#, "c.value: required".into()),
        (
            r#","op":"list_contains","value":["a"]"#,
            "c.value: expected a string, number, boolean or null".into(),
        ),
        (
            r#","op":"list_contains","value":{"a":1}"#,
            "c.value: expected a string, number, boolean or null".into(),
        ),
    ] {
        let text = format!(r#"{{"user":"a"{rest}}}"#);
        assert_eq!(error(&text), want, "{text}");
    }
    assert_eq!(
        error(r#"{"event":"e","where":[{"property":"p","op":"between","value":[2,1]}]}"#),
        "c.where[0].value: min is greater than max"
    );
    assert_eq!(
        error(r#"{"event":"e","where":[{"property":"p","op":"is_set","value":1}]}"#),
        "c.where[0].value: not allowed: is_set takes no value"
    );
    assert_eq!(
        error(r#"{"event":"e","where":[{"property":"p","op":"matches","value":"\\1"}]}"#),
        "c.where[0].value: invalid pattern: backreferences are not supported (character 1)"
    );
}

#[test]
fn event_mistakes() {
    for (text, want) in [
        (
            r#"{"event":"e","count":0}"#,
            "c.count: expected a whole number from 1 to 1000000",
        ),
        (
            r#"{"event":"e","count":1.5}"#,
            "c.count: expected a whole number from 1 to 1000000",
        ),
        (
            r#"{"event":"e","count":-1}"#,
            "c.count: expected a whole number from 1 to 1000000",
        ),
        (
            r#"{"event":"e","count":"2"}"#,
            "c.count: expected a whole number from 1 to 1000000",
        ),
        (
            r#"{"event":"e","count":1000001}"#,
            "c.count: expected a whole number from 1 to 1000000",
        ),
        (
            r#"{"event":"e","count":51,"within_days":3}"#,
            "c.count: expected a whole number from 1 to 50",
        ),
        (
            r#"{"event":"e","count":51,"where":[{"property":"p","op":"is_set"}]}"#,
            "c.count: expected a whole number from 1 to 50",
        ),
        (
            r#"{"event":"e","count":0,"within_days":3}"#,
            "c.count: expected a whole number from 1 to 50",
        ),
        (
            r#"{"event":"e","within_days":0}"#,
            "c.within_days: expected a whole number from 1 to 36500",
        ),
        (
            r#"{"event":"e","within_days":36501}"#,
            "c.within_days: expected a whole number from 1 to 36500",
        ),
        (
            r#"{"event":"e","within_days":0.5}"#,
            "c.within_days: expected a whole number from 1 to 36500",
        ),
        (r#"{"event":"e","where":{}}"#, "c.where: expected an array"),
        (
            r#"{"event":"e","where":[1]}"#,
            "c.where[0]: expected an object",
        ),
        (
            r#"{"event":"e","where":[{"op":"is_set"}]}"#,
            "c.where[0].property: required",
        ),
        (
            r#"{"event":"e","where":[{"property":"","op":"is_set"}]}"#,
            "c.where[0].property: must not be empty",
        ),
        (
            r#"{"event":"e","where":[{"property":"p"}]}"#,
            "c.where[0].op: required",
        ),
        (
            r#"{"event":"e","where":[{"property":"p","op":"equals"}]}"#,
            "c.where[0].value: required",
        ),
    ] {
        assert_eq!(error(text), want, "{text}");
    }
    // The limits themselves are accepted.
    cond(r#"{"event":"e","count":1000000}"#);
    cond(r#"{"event":"e","count":50,"within_days":36500}"#);
    cond(r#"{"event":"e","count":50,"where":[]}"#);
}

// --- The event log --------------------------------------------------------------

fn count(log: &EventLog, name: &str) -> u64 {
    log.count(name, &[], None)
}

fn filter(property: &str, op: &str, value: &str) -> (String, Test) {
    let v = if value.is_empty() {
        String::new()
    } else {
        format!(r#","value":{value}"#)
    };
    match cond(&format!(r#"{{"user":"x","op":"{op}"{v}}}"#)) {
        Condition::Attribute { test, .. } => (property.to_string(), test),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_log_counts_totals_and_kept_occurrences() {
    let mut log = EventLog::new();
    assert_eq!(count(&log, "a"), 0);
    for i in 0..60u64 {
        log.record("a", &j(&format!(r#"{{"i":{i}}}"#)), 1000 + i);
    }
    assert_eq!(
        count(&log, "a"),
        60,
        "the total is not bounded by what is kept"
    );
    assert_eq!(
        log.count("a", &[filter("i", "is_set", "")], None),
        50,
        "the last 50 are kept"
    );
    assert_eq!(
        log.count("a", &[filter("i", "less_than", "10")], None),
        0,
        "the first 10 are gone"
    );
    assert_eq!(
        log.count("a", &[filter("i", "greater_than", "54.5")], None),
        5
    );
    assert_eq!(log.count("a", &[], Some(1055)), 5, "at or after");
    assert_eq!(
        log.count("a", &[], Some(0)),
        50,
        "a window looks at the kept ones"
    );
    assert_eq!(log.count("a", &[], Some(2000)), 0);
    assert_eq!(
        log.count(
            "a",
            &[
                filter("i", "greater_than", "10"),
                filter("i", "less_than", "20")
            ],
            Some(1015)
        ),
        5
    );
    assert_eq!(log.count("b", &[], None), 0);
}

#[test]
fn count_judges_relative_dates_at_the_latest_occurrence_and_count_at_at_now() {
    let mut log = EventLog::new();
    log.record("paid", &j(r#"{"on":"2023-11-10"}"#), NOW);
    let f = [filter("on", "within_last_days", "7")];
    assert_eq!(log.count("paid", &f, None), 1);
    assert_eq!(log.count_at("paid", &f, None, NOW), 1);
    assert_eq!(log.count_at("paid", &f, None, NOW + 30 * DAY), 0);
    assert_eq!(log.count_at("paid", &[], None, 0), 1);
}

#[test]
fn the_log_keeps_only_small_scalar_properties() {
    let mut log = EventLog::new();
    let ok = "x".repeat(256);
    let long = "x".repeat(257);
    let key_ok = "k".repeat(256);
    let key_long = "k".repeat(257);
    log.record(
        "e",
        &j(&format!(
            r#"{{"s":"{ok}","long":"{long}","n":1.5,"b":false,"null":null,"arr":[1],"obj":{{"a":1}},"{key_ok}":1,"{key_long}":1}}"#
        )),
        1,
    );
    let has = |p: &str| log.count("e", &[filter(p, "is_set", "")], None) == 1;
    assert!(has("s") && has("n") && has("b") && has(&key_ok));
    assert!(!has("long") && !has("null") && !has("arr") && !has("obj") && !has(&key_long));
    assert_eq!(
        log.to_json(),
        format!(
            r#"{{"v":1,"events":[["e",1,[[1,{{"s":"{ok}","n":1.5,"b":false,"{key_ok}":1}}]]]]}}"#
        )
    );
    // At most 20 per occurrence: the first 20 kept ones.
    let mut fields = vec![r#""skip":{}"#.to_string()];
    fields.extend((0..30).map(|i| format!(r#""p{i}":{i}"#)));
    let mut log = EventLog::new();
    log.record("e", &j(&format!("{{{}}}", fields.join(","))), 1);
    let has = |p: &str| log.count("e", &[filter(p, "is_set", "")], None) == 1;
    assert!(has("p0") && has("p19"));
    assert!(!has("p20") && !has("p29"));
    // Properties that are not an object count as none.
    let mut log = EventLog::new();
    log.record("e", &j("[1,2]"), 1);
    log.record("e", &Json::Null, 2);
    assert_eq!(
        log.to_json(),
        r#"{"v":1,"events":[["e",2,[[1,{}],[2,{}]]]]}"#
    );
}

#[test]
fn a_full_log_forgets_the_name_tracked_least_recently() {
    let mut log = EventLog::new();
    for i in 0..100 {
        log.record(&format!("e{i}"), &no_props(), i);
    }
    assert_eq!(log.names().count(), 100);
    // Tracking e0 again makes it the most recent; e1 is now the oldest.
    log.record("e0", &no_props(), 5);
    assert_eq!(log.names().next(), Some("e1"));
    assert_eq!(log.names().last(), Some("e0"));
    log.record("new", &no_props(), 6);
    assert_eq!(log.names().count(), 100);
    assert_eq!(count(&log, "e1"), 0, "forgotten");
    assert_eq!(count(&log, "e0"), 2);
    assert_eq!(count(&log, "new"), 1);
    assert_eq!(log.names().next(), Some("e2"));
    // Recency is the order of recording, not the times given.
    log.record("e2", &no_props(), 0);
    log.record("newer", &no_props(), 0);
    assert_eq!(count(&log, "e2"), 2);
    assert_eq!(count(&log, "e3"), 0);
    let names: Vec<&str> = log.names().collect();
    assert_eq!(&names[names.len() - 3..], ["new", "e2", "newer"]);
    // A forgotten name starts again from zero.
    log.record("e1", &no_props(), 7);
    assert_eq!(count(&log, "e1"), 1);
}

#[test]
fn totals_saturate() {
    let text = format!(r#"{{"v":1,"events":[["e",{},[[1,{{}}]]]]}}"#, u64::MAX);
    let mut log = EventLog::from_json(&text);
    assert_eq!(count(&log, "e"), u64::MAX);
    log.record("e", &no_props(), 2);
    assert_eq!(count(&log, "e"), u64::MAX);
    assert_eq!(
        log.to_json(),
        format!(
            r#"{{"v":1,"events":[["e",{},[[1,{{}}],[2,{{}}]]]]}}"#,
            u64::MAX
        )
    );
    let beyond = r#"{"v":1,"events":[["e",99999999999999999999999,[]]]}"#;
    assert_eq!(count(&EventLog::from_json(beyond), "e"), u64::MAX);
}

#[test]
fn the_log_persists_as_compact_json() {
    let mut log = EventLog::new();
    assert_eq!(log.to_json(), r#"{"v":1,"events":[]}"#);
    log.record(
        "signed_up",
        &j(r#"{"plan":"pro","n":1.50,"q":"a\"b\n"}"#),
        1_700_000_000_000,
    );
    log.record("ping", &no_props(), 5);
    log.record("signed_up", &no_props(), 1_700_000_000_001);
    let text = log.to_json();
    assert_eq!(
        text,
        r#"{"v":1,"events":[["ping",1,[[5,{}]]],["signed_up",2,[[1700000000000,{"plan":"pro","n":1.50,"q":"a\"b\n"}],[1700000000001,{}]]]]}"#
    );
    let back = EventLog::from_json(&text);
    assert_eq!(back, log);
    assert_eq!(back.to_json(), text);
}

#[test]
fn reading_a_log_is_tolerant() {
    for garbage in [
        "",
        "not json",
        "null",
        "[]",
        "{}",
        r#"{"events":[["e",1,[]]]}"#,
        r#"{"v":2,"events":[["e",1,[]]]}"#,
        r#"{"v":"1","events":[["e",1,[]]]}"#,
        r#"{"v":1}"#,
        r#"{"v":1,"events":{}}"#,
        r#"{"v":1,"events":[1,"x",null,{},[],["e"],["e",1],[1,1,[]],["e","1",[]],["e",-1,[]],["e",1.5,[]],["e",1,{}],["e",1,[],4]]}"#,
    ] {
        assert_eq!(EventLog::from_json(garbage), EventLog::new(), "{garbage}");
    }
    // Bad occurrences are skipped, the rest kept; properties held to the bounds;
    // a total below what is kept is raised.
    let long = "x".repeat(300);
    let text = format!(
        r#"{{"v":1,"x":true,"events":[["a",0,[[1,{{"p":1,"q":[1],"r":"{long}","s":null}}],[2],[-1,{{}}],"x",[3,[]],[4,{{}},5],[1e3,{{}}]]],["b",7,[]]]}}"#
    );
    let log = EventLog::from_json(&text);
    assert_eq!(
        log.to_json(),
        r#"{"v":1,"events":[["a",2,[[1,{"p":1}],[1000,{}]]],["b",7,[]]]}"#
    );
    // Duplicates: the most recent (last) entry wins and keeps its place.
    let log = EventLog::from_json(r#"{"v":1,"events":[["a",1,[]],["b",2,[]],["a",3,[]]]}"#);
    assert_eq!(log.to_json(), r#"{"v":1,"events":[["b",2,[]],["a",3,[]]]}"#);
    // Too many names or occurrences: the most recent are kept.
    let names: Vec<String> = (0..120).map(|i| format!(r#"["e{i}",1,[]]"#)).collect();
    let log = EventLog::from_json(&format!(r#"{{"v":1,"events":[{}]}}"#, names.join(",")));
    assert_eq!(log.names().count(), 100);
    assert_eq!(log.names().next(), Some("e20"));
    assert_eq!(log.names().last(), Some("e119"));
    let occ: Vec<String> = (0..70).map(|i| format!(r#"[{i},{{"i":{i}}}]"#)).collect();
    let log = EventLog::from_json(&format!(
        r#"{{"v":1,"events":[["e",70,[{}]]]}}"#,
        occ.join(",")
    ));
    assert_eq!(log.count("e", &[], Some(0)), 50);
    assert_eq!(log.count("e", &[filter("i", "less_than", "20")], None), 0);
    assert_eq!(count(&log, "e"), 70);
    let props: Vec<String> = (0..30).map(|i| format!(r#""p{i}":{i}"#)).collect();
    let log = EventLog::from_json(&format!(
        r#"{{"v":1,"events":[["e",1,[[0,{{{}}}]]]]}}"#,
        props.join(",")
    ));
    assert_eq!(log.count("e", &[filter("p19", "is_set", "")], None), 1);
    assert_eq!(log.count("e", &[filter("p20", "is_set", "")], None), 0);
}

// --- Properties -------------------------------------------------------------------

fn arb_scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-1e6f64..1e6).prop_map(|n| Json::Number(Number::from_f64(n).unwrap())),
        any::<i64>().prop_map(|n| j(&n.to_string())),
        Just(j("1.50")),
        Just(j("1e3")),
        prop::sample::select(vec![
            "",
            "a",
            "pro",
            "é😀",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "\u{0}",
            " "
        ])
        .prop_map(|s| Json::String(s.into())),
        (250usize..260).prop_map(|n| Json::String("y".repeat(n))),
        Just(Json::String("2023-11-10".into())),
    ]
}

fn arb_value() -> impl Strategy<Value = Json> {
    arb_scalar().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec(("[a-c]", inner), 0..3).prop_map(|kv| {
                let mut o = Json::Object(Vec::new());
                for (k, v) in kv {
                    o.set(&k, v);
                }
                o
            }),
        ]
    })
}

/// An event name: one of many (so that the log fills up), or an odd one.
fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u32..150).prop_map(|i| format!("e{i}")),
        1 => prop::sample::select(vec!["a", "\"", "é😀", "", "x\\y"]).prop_map(String::from),
    ]
}

/// A property value: mostly scalars (what the log keeps), sometimes not.
fn arb_property() -> impl Strategy<Value = Json> {
    prop_oneof![
        12 => arb_scalar(),
        1 => Just(j("[1,\"a\"]")),
        1 => Just(j(r#"{"a":{"b":null}}"#)),
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => prop::sample::select(vec!["a", "b", "c", "plan", "n", "é", "x y", "\""]).prop_map(String::from),
        1 => (255usize..259).prop_map(|n| "k".repeat(n)),
    ]
}

fn arb_properties() -> impl Strategy<Value = Json> {
    prop_oneof![
        1 => arb_property(),
        3 => Just(Json::Object(Vec::new())),
        6 => prop::collection::vec((arb_key(), arb_property()), 0..5).prop_map(obj),
        1 => prop::collection::vec((arb_key(), arb_scalar()), 18..26).prop_map(obj),
    ]
}

fn obj(kv: Vec<(String, Json)>) -> Json {
    let mut o = Json::Object(Vec::new());
    for (k, v) in kv {
        o.set(&k, v);
    }
    o
}

fn arb_test() -> impl Strategy<Value = (String, String)> {
    let value = prop_oneof![
        Just(r#""a""#.to_string()),
        Just("1".to_string()),
        Just("1.0".to_string()),
        Just("true".to_string()),
        Just(r#""2023-11-10""#.to_string()),
        Just(r#""^a""#.to_string()),
        Just("[0,10]".to_string()),
        Just("7".to_string()),
    ];
    (prop::sample::select(OPERATORS), value).prop_map(|(op, v)| (op.to_string(), v))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn logs_round_trip_exactly(
        ops in prop::collection::vec((arb_name(), arb_properties(), any::<u64>()), 0..250)
    ) {
        let mut log = EventLog::new();
        for (name, props, at) in &ops {
            log.record(name, props, *at);
        }
        prop_assert!(log.names().count() <= MAX_EVENT_NAMES);
        let text = log.to_json();
        let back = EventLog::from_json(&text);
        prop_assert_eq!(&back, &log);
        prop_assert_eq!(back.to_json(), text.clone());
        // Compact: what the JSON writer would write for the same value.
        prop_assert_eq!(json::parse(&text).unwrap().to_json(), text.clone());
        let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert!(reference.is_object());
    }

    #[test]
    fn reading_any_text_never_panics_and_respects_the_bounds(text in ".{0,200}") {
        let log = EventLog::from_json(&text);
        prop_assert!(log.names().count() <= MAX_EVENT_NAMES);
        prop_assert_eq!(EventLog::from_json(&log.to_json()), log);
    }

    #[test]
    fn reading_damaged_logs_never_panics_and_is_a_fixed_point(
        ops in prop::collection::vec(("[a-c]", arb_properties(), 0u64..100), 1..20),
        cut in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec!["", "[", "]", "{", "}", ",", "\"", "1", "-", "null", "[1,{}]"])), 0..4),
    ) {
        let mut log = EventLog::new();
        for (name, props, at) in &ops {
            log.record(name, props, *at);
        }
        let text = log.to_json();
        let mut damaged: Vec<char> = text.chars().collect();
        for (at, insert) in edits {
            let i = at.index(damaged.len() + 1);
            damaged.splice(i..i, insert.chars());
        }
        let edited: String = damaged.iter().collect();
        let truncated: String = damaged[..cut.index(damaged.len() + 1)].iter().collect();
        for t in [edited, truncated] {
            let read = EventLog::from_json(&t);
            prop_assert!(read.names().count() <= MAX_EVENT_NAMES);
            prop_assert_eq!(EventLog::from_json(&read.to_json()), read);
        }
    }

    #[test]
    fn negated_operators_are_complements_on_present_values(v in arb_value(), (op, value) in arb_test()) {
        let t = |op: &str| -> Option<Test> {
            let value = if (10..=13).contains(&OPERATORS.iter().position(|o| *o == op).unwrap_or(0)) {
                String::new()
            } else {
                format!(r#","value":{value}"#)
            };
            let text = format!(r#"{{"user":"a","op":"{op}"{value}}}"#);
            match parse_condition(&j(&text), "c") {
                Ok(Condition::Attribute { test, .. }) => Some(test),
                _ => None,
            }
        };
        let present = !matches!(v, Json::Null);
        for (pos, neg) in [("equals", "not_equals"), ("contains", "not_contains"), ("is_set", "is_not_set")] {
            if let (Some(pos), Some(neg)) = (t(pos), t(neg)) {
                if present {
                    prop_assert_eq!(pos.eval(Some(&v), NOW), !neg.eval(Some(&v), NOW));
                } else {
                    prop_assert!(!pos.eval(Some(&v), NOW) && neg.eval(Some(&v), NOW));
                }
            }
        }
        // Every operator on every value: no panic; missing and null agree.
        if let Some(any) = t(&op) {
            let _ = any.eval(Some(&v), NOW);
            prop_assert_eq!(any.eval(None, NOW), any.eval(Some(&Json::Null), NOW));
        }
    }

    #[test]
    fn parsing_any_json_never_panics(v in arb_value(), kind in prop::sample::select(CONDITION_KINDS)) {
        let _ = parse_condition(&v, "c");
        let mut o = Json::Object(Vec::new());
        o.set(kind, v.clone());
        o.set("op", Json::String("equals".into()));
        o.set("state", v.clone());
        o.set("value", v);
        if let Ok(c) = parse_condition(&o, "c") {
            let _ = c.eval(&world());
        }
    }
}

#[test]
fn the_log_stays_within_its_byte_budget_keeping_totals() {
    let mut log = EventLog::new();
    let big = Json::Object(
        (0..20)
            .map(|i| {
                (
                    format!("property_{i:02}_{}", "k".repeat(200)),
                    Json::String("v".repeat(250)),
                )
            })
            .collect(),
    );
    for n in 0..30u64 {
        for i in 0..20u64 {
            log.record(&format!("event-{n}"), &big, n * 1000 + i);
        }
    }
    let text = log.to_json();
    assert!(text.len() <= MAX_LOG_BYTES, "{} bytes", text.len());
    assert!(
        text.len() > MAX_LOG_BYTES / 2,
        "the budget is used, not wasted: {}",
        text.len()
    );
    // Totals survive; the oldest occurrences went first.
    assert_eq!(log.count("event-0", &[], None), 20);
    assert_eq!(log.count("event-29", &[], None), 20);
    assert_eq!(
        log.count("event-0", &[], Some(0)),
        0,
        "the oldest occurrences were dropped"
    );
    assert!(
        log.count("event-29", &[], Some(0)) > 0,
        "the newest are kept"
    );
    assert_eq!(EventLog::from_json(&text).to_json(), text);
}

#[test]
fn server_state_is_read_for_its_user_and_merged_with_the_page_log() {
    let text = r#"{"userId":"u1","traits":{"plan":"pro","seats":4},
      "company":{"id":"c1","traits":{"tier":"gold"}},
      "events":[["Report Exported",3,[[1000,{"format":"csv"}],[3000,{"format":"pdf"}]]],
                ["Server Only",1,[[2000,{}]]]]}"#;
    assert_eq!(ServerState::parse(text, "u2"), None, "another user's");
    assert_eq!(ServerState::parse("nope", "u1"), None);
    let s = ServerState::parse(text, "u1").unwrap();
    assert_eq!(s.traits.get("plan").and_then(Json::as_str), Some("pro"));
    assert_eq!(s.company.get("tier").and_then(Json::as_str), Some("gold"));
    assert_eq!(s.events.count("Report Exported", &[], None), 3);
    // No company: an empty object.
    let bare = ServerState::parse(r#"{"userId":"u1","company":null}"#, "u1").unwrap();
    assert_eq!(bare.company, Json::Object(Vec::new()));
    assert_eq!(bare.events, EventLog::new());

    let mut page = EventLog::new();
    page.record(
        "Report Exported",
        &json::parse(r#"{"format":"pdf"}"#).unwrap(),
        2000,
    );
    page.record("Page Only", &Json::Null, 4000);
    let m = page.merged(&s.events);
    assert_eq!(m.count("Report Exported", &[], None), 4, "totals add up");
    assert_eq!(m.count("Server Only", &[], None), 1);
    assert_eq!(m.count("Page Only", &[], None), 1);
    let pdf = vec![(
        "format".to_string(),
        Test::Equals(Json::String("pdf".into())),
    )];
    assert_eq!(
        m.count("Report Exported", &pdf, None),
        2,
        "occurrences of both"
    );
    assert_eq!(m.count("Report Exported", &[], Some(1500)), 2, "by time");
    // Bounds hold: 50 occurrences per name, 100 names, the most recent kept.
    let mut a = EventLog::new();
    let mut b = EventLog::new();
    for i in 0..60u64 {
        a.record("x", &Json::Null, i * 2);
        b.record("x", &Json::Null, i * 2 + 1);
    }
    let m = a.merged(&b);
    assert_eq!(m.count("x", &[], None), 120);
    assert_eq!(m.count("x", &[], Some(0)), MAX_OCCURRENCES as u64);
    assert_eq!(m.count("x", &[], Some(70)), 50, "the latest 50: 70..=119");
    for i in 0..100u64 {
        b.record(&format!("n{i}"), &Json::Null, 1000 + i);
    }
    let m = a.merged(&b);
    assert_eq!(m.names().count(), MAX_EVENT_NAMES);
    assert!(!m.names().any(|n| n == "x"), "x is the least recent name");
}

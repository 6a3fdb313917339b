//! Schema tests: the sample and the documented example parse, every kind of
//! mistake is reported with its JSON path, and `docs/content-schema.json` agrees
//! with the parser.

use super::engine_tests::{sample, SAMPLE};
use super::model::*;
use crate::core::error::ErrorCode;
use serde_json::Value;

fn docs(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/").to_string() + name;
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The error message for `text`, which must not parse.
fn error(text: &str) -> String {
    let e = parse_content(text).expect_err(text);
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    e.message
}

/// A document with one flow whose single step is `step`.
fn with_step(step: &str) -> String {
    format!(r#"{{"version":1,"flows":[{{"id":"f","name":"F","steps":[{step}]}}]}}"#)
}

#[test]
fn sample_parses_with_defaults() {
    let c = sample();
    assert_eq!(c.flows.len(), 2);
    let f = &c.flows[0];
    assert_eq!(f.version_id.as_deref(), Some("v-123"));
    assert_eq!(f.version_number, Some(3));
    assert!(f.show_progress && f.dismissible);
    assert_eq!(
        f.start.conditions,
        vec![super::conditions::Condition::Url("/dashboard*".into())]
    );
    assert_eq!(f.start.frequency, super::start::Frequency::Once);
    assert_eq!((f.start.priority, f.start.delay_ms), (0, 0));
    assert_eq!(f.steps[0].name.as_deref(), Some("Welcome"));
    assert_eq!(
        f.steps[1].kind,
        StepKind::Tooltip(Tooltip {
            target: "#save".into(),
            placement: Placement::Right,
            target_timeout_ms: 3000,
            on_target_missing: OnTargetMissing::End,
        })
    );
    assert_eq!(f.steps[2].kind, StepKind::Bubble(Corner::TopLeft));
    let t = &c.flows[1];
    assert!(!t.dismissible && !t.show_progress);
    assert_eq!(t.steps[0].kind, StepKind::Bubble(Corner::BottomRight));
    assert_eq!(t.steps[0].triggers[0].when, Condition::Wait(5000));
    assert_eq!(t.steps[1].triggers[0].when, Condition::Wait(1500));
    assert_eq!(t.steps[1].kind, StepKind::Hidden);
    assert_eq!(
        t.steps[2].kind,
        StepKind::Tooltip(Tooltip {
            target: ".missing".into(),
            placement: Placement::Bottom,
            target_timeout_ms: DEFAULT_TARGET_TIMEOUT_MS,
            on_target_missing: OnTargetMissing::Bubble,
        })
    );
    let buttons: Vec<_> = c.flows[0].steps[0].buttons().collect();
    assert_eq!(
        buttons,
        vec![("Skip", &Action::End, false), ("Next", &Action::Next, true)]
    );
    // The same through serde_json (the sample is plain JSON).
    let _: Value = serde_json::from_str(SAMPLE).unwrap();
}

/// The first ```json block after the "Full example" heading of docs/CONTENT.md.
fn docs_example() -> String {
    let md = docs("CONTENT.md");
    let at = md
        .find("## Full example")
        .expect("a 'Full example' section");
    let rest = &md[at..];
    let start = rest.find("```json\n").expect("a json block") + 8;
    let end = rest[start..].find("```").expect("closed block");
    rest[start..start + end].to_string()
}

#[test]
fn docs_example_parses() {
    let text = docs_example();
    let c = parse_content(&text).unwrap_or_else(|e| panic!("{}", e.message));
    assert!(!c.flows.is_empty());
    // It uses every step type, block type, condition and action.
    let v: Value = serde_json::from_str(&text).unwrap();
    let all = v.to_string();
    for ty in STEP_TYPES
        .iter()
        .chain(BLOCK_TYPES)
        .chain(CONDITION_TYPES)
        .chain(ACTION_TYPES)
    {
        assert!(
            all.contains(&format!("\"type\":\"{ty}\"")),
            "example lacks type {ty}"
        );
    }
}

fn enum_of(v: &Value) -> Vec<String> {
    v["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum in {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The `const` of `properties.type` of each `oneOf` branch of a definition.
fn consts_of(def: &Value) -> Vec<String> {
    def["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("no oneOf in {def}"))
        .iter()
        .map(|b| {
            b["properties"]["type"]["const"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn json_schema_agrees_with_the_parser() {
    let schema: Value = serde_json::from_str(&docs("content-schema.json")).expect("valid JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let defs = &schema["$defs"];
    assert_eq!(schema["properties"]["version"]["const"], 1);
    assert_eq!(
        enum_of(&defs["step"]["properties"]["type"]),
        strs(STEP_TYPES)
    );
    assert_eq!(consts_of(&defs["step"]), strs(STEP_TYPES));
    assert_eq!(consts_of(&defs["block"]), strs(BLOCK_TYPES));
    assert_eq!(consts_of(&defs["condition"]), strs(CONDITION_TYPES));
    assert_eq!(consts_of(&defs["action"]), strs(ACTION_TYPES));
    assert_eq!(enum_of(&defs["placement"]), strs(PLACEMENTS));
    assert_eq!(enum_of(&defs["corner"]), strs(CORNERS));
    assert_eq!(enum_of(&defs["on_target_missing"]), strs(ON_TARGET_MISSING));
    // Flows and checklists start by the same conditions and options.
    for def in ["flow", "checklist"] {
        let p = &defs[def]["properties"];
        assert_eq!(p["start"]["items"]["$ref"], "#/$defs/start_condition");
        assert_eq!(
            enum_of(&p["frequency"]),
            strs(super::start::FREQUENCIES),
            "{def}"
        );
        assert_eq!(p["priority"]["maximum"], 1_000_000);
        assert_eq!(p["start_delay_seconds"]["maximum"], 86_400);
    }
    assert_eq!(
        defs["tooltip_step"]["properties"]["target_timeout_ms"]["default"],
        DEFAULT_TARGET_TIMEOUT_MS
    );
    // Every object in the schema is closed, as the parser is strict.
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Object(m) => {
                if m.get("type") == Some(&Value::String("object".into())) {
                    assert!(
                        m.contains_key("additionalProperties")
                            || m.contains_key("unevaluatedProperties"),
                        "{path} is open"
                    );
                }
                for (k, v) in m {
                    walk(v, &format!("{path}/{k}"));
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &format!("{path}/{i}"))),
            _ => {}
        }
    }
    walk(&schema, "#");
    // Every `$ref` resolves.
    let text = schema.to_string();
    for part in text.split("\"$ref\":\"#/$defs/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(defs.get(name).is_some(), "dangling $ref {name}");
    }
}

#[test]
fn errors_name_the_json_path() {
    let cases: Vec<(String, &str)> = vec![
        ("nope".into(), "content is not valid JSON (at byte 0)"),
        ("[]".into(), "content: expected an object"),
        (r#"{"flows":[]}"#.into(), "version: required"),
        (r#"{"version":2,"flows":[]}"#.into(), "version: unsupported schema version (expected 1)"),
        (r#"{"version":"1","flows":[]}"#.into(), "version: expected a whole number"),
        (r#"{"version":1,"flows":{}}"#.into(), "flows: expected an array"),
        (r#"{"version":1,"checklists":{}}"#.into(), "checklists: expected an array"),
        (r#"{"version":1,"flows":{}}"#.into(), "flows: expected an array"),
        (r#"{"version":1,"flows":[],"extra":1}"#.into(), "extra: unknown field (expected one of $schema, version, flows, checklists)"),
        (r#"{"version":1,"flows":[1]}"#.into(), "flows[0]: expected an object"),
        (r#"{"version":1,"flows":[{"name":"F","steps":[]}]}"#.into(), "flows[0].id: required"),
        (r#"{"version":1,"flows":[{"id":"","name":"F","steps":[]}]}"#.into(), "flows[0].id: must not be empty"),
        (r#"{"version":1,"flows":[{"id":" f","name":"F","steps":[]}]}"#.into(), "flows[0].id: must not start or end with whitespace"),
        (r#"{"version":1,"flows":[{"id":"f","steps":[]}]}"#.into(), "flows[0].name: required"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","steps":[]}]}"#.into(), "flows[0].steps: a flow needs at least one step"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","version_number":-1,"steps":[]}]}"#.into(), "flows[0].version_number: expected a whole number"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","version_number":1.5,"steps":[]}]}"#.into(), "flows[0].version_number: expected a whole number"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","dismissible":"yes","steps":[]}]}"#.into(), "flows[0].dismissible: expected true or false"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","start":[{}],"steps":[]}]}"#.into(), "flows[0].start[0]: expected exactly one of all, any, url, user, company, event, flow, checklist, element"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","start":[{"url":"/a","event":"b"}],"steps":[]}]}"#.into(), "flows[0].start[0]: expected exactly one of all, any, url, user, company, event, flow, checklist, element; found url and event"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","repeat":true,"frequency":"once","steps":[{"id":"s","type":"modal"}]}]}"#.into(), "flows[0].repeat: give frequency or repeat, not both"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","priority":1.5,"steps":[{"id":"s","type":"modal"}]}]}"#.into(), "flows[0].priority: expected a whole number"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","start_delay_seconds":-1,"steps":[{"id":"s","type":"modal"}]}]}"#.into(), "flows[0].start_delay_seconds: expected a number of seconds"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","start":[{"checklist":"nope","state":"seen"}],"steps":[{"id":"s","type":"modal"}]}]}"#.into(), "flows[0]: a condition names checklist \"nope\", which is not in the document nor loaded before"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","start":[{"url":""}],"steps":[]}]}"#.into(), "flows[0].start[0].url: must not be empty"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","start":[{"path":"/"}],"steps":[]}]}"#.into(), "flows[0].start[0]: expected exactly one of all, any, url, user, company, event, flow, checklist, element"),
        (r#"{"version":1,"flows":[{"id":"f","name":"F","steps":[{"id":"a","type":"modal"}]},{"id":"f","name":"G","steps":[{"id":"a","type":"modal"}]}]}"#.into(), "flows[1].id: duplicate flow id"),
        (with_step(r#"{"id":"a","type":"modal"},{"id":"a","type":"modal"}"#), "flows[0].steps[1].id: duplicate step id in this flow"),
        (with_step(r#"{"id":"a","type":"popup"}"#), "flows[0].steps[0].type: expected one of modal, tooltip, bubble, hidden"),
        (with_step(r#"{"id":"a","type":3}"#), "flows[0].steps[0].type: expected one of modal, tooltip, bubble, hidden"),
        (with_step(r#"{"id":"a"}"#), "flows[0].steps[0].type: required"),
        (with_step(r#"{"type":"modal"}"#), "flows[0].steps[0].id: required"),
        (with_step(r#"{"id":"a","type":"tooltip"}"#), "flows[0].steps[0].target: required"),
        (with_step(r#"{"id":"a","type":"tooltip","target":"  "}"#), "flows[0].steps[0].target: must not be empty"),
        (with_step(r#"{"id":"a","type":"modal","target":".x"}"#), "flows[0].steps[0].target: not allowed for type modal (allowed: id, name, type, blocks, triggers)"),
        (with_step(r#"{"id":"a","type":"bubble","placement":"top"}"#), "flows[0].steps[0].placement: not allowed for type bubble"),
        (with_step(r#"{"id":"a","type":"tooltip","target":".x","corner":"top-left"}"#), "flows[0].steps[0].corner: not allowed for type tooltip"),
        (with_step(r#"{"id":"a","type":"tooltip","target":".x","placement":"middle"}"#), "flows[0].steps[0].placement: expected one of top, bottom, left, right"),
        (with_step(r#"{"id":"a","type":"tooltip","target":".x","on_target_missing":"skip"}"#), "flows[0].steps[0].on_target_missing: expected one of end, bubble"),
        (with_step(r#"{"id":"a","type":"tooltip","target":".x","target_timeout_ms":86400001}"#), "flows[0].steps[0].target_timeout_ms: expected a whole number from 0 to 86400000"),
        (with_step(r#"{"id":"a","type":"bubble","corner":"middle"}"#), "flows[0].steps[0].corner: expected one of bottom-right, bottom-left, top-right, top-left"),
        (with_step(r#"{"id":"a","type":"hidden","blocks":[{"type":"title","text":"x"}]}"#), "flows[0].steps[0].blocks: hidden steps show nothing"),
        (with_step(r#"{"id":"a","type":"modal","blocks":{}}"#), "flows[0].steps[0].blocks: expected an array"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"video"}]}"#), "flows[0].steps[0].blocks[0].type: expected one of title, text, image, button"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"title"}]}"#), "flows[0].steps[0].blocks[0].text: required"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"text","text":"x"}]}"#), "flows[0].steps[0].blocks[0].text: not allowed for type text (allowed: type, markdown)"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"image","src":"javascript:alert(1)"}]}"#), "flows[0].steps[0].blocks[0].src: only http(s) and relative URLs are allowed"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"image","src":"data:image/png;base64,AAAA"}]}"#), "flows[0].steps[0].blocks[0].src: only http(s)"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"x"}]}"#), "flows[0].steps[0].blocks[0].action: required"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"","action":{"type":"next"}}]}"#), "flows[0].steps[0].blocks[0].label: must not be empty"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"x","action":{"type":"jump"}}]}"#), "flows[0].steps[0].blocks[0].action.type: expected one of next, back, go_to_step, end, start_flow, navigate, track"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"x","action":{"type":"go_to_step","step":"b"}}]}"#), "flows[0].steps[0].blocks[0].action.step: no step with this id in the flow"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"x","action":{"type":"start_flow","flow":"g"}}]}"#), "flows[0].steps[0].blocks[0].action.flow: no flow with this id in the document nor loaded before"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"x","action":{"type":"navigate","url":"java\tscript:alert(1)"}}]}"#), "flows[0].steps[0].blocks[0].action.url: only http(s)"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"x","action":{"type":"next","step":"a"}}]}"#), "flows[0].steps[0].blocks[0].action.step: not allowed for type next"),
        (with_step(r#"{"id":"a","type":"modal","blocks":[{"type":"button","label":"x","action":{"type":"track","event":""}}]}"#), "flows[0].steps[0].blocks[0].action.event: must not be empty"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"target_clicked"},"action":{"type":"next"}}]}"#), "flows[0].steps[0].triggers[0].when.type: target_clicked needs a tooltip step"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"hover"},"action":{"type":"next"}}]}"#), "flows[0].steps[0].triggers[0].when.type: expected one of target_clicked, element_appears, url_matches, event_tracked, wait"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"element_appears","selector":""},"action":{"type":"next"}}]}"#), "flows[0].steps[0].triggers[0].when.selector: must not be empty"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"url_matches"},"action":{"type":"next"}}]}"#), "flows[0].steps[0].triggers[0].when.pattern: required"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"wait","seconds":-1},"action":{"type":"next"}}]}"#), "flows[0].steps[0].triggers[0].when.seconds: expected a number of seconds from 0 to 86400"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"wait","seconds":"5"},"action":{"type":"next"}}]}"#), "flows[0].steps[0].triggers[0].when.seconds: expected a number"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"wait","seconds":1}}]}"#), "flows[0].steps[0].triggers[0].action: required"),
        (with_step(r#"{"id":"a","type":"modal","triggers":[{"when":{"type":"wait","seconds":1},"action":{"type":"next"},"if":1}]}"#), "flows[0].steps[0].triggers[0].if: unknown field (expected one of when, action)"),
    ];
    for (text, expected) in cases {
        let msg = error(&text);
        assert!(
            msg.starts_with(expected),
            "for {text}\n  got:      {msg}\n  expected: {expected}…"
        );
    }
}

#[test]
fn references_across_flows_and_forward_steps_resolve() {
    let c = parse_content(
        r#"{"$schema":"../docs/content-schema.json","version":1,"flows":[
          {"id":"a","name":"A","steps":[{"id":"s1","type":"modal","blocks":[
            {"type":"button","label":"go","action":{"type":"go_to_step","step":"s2"}},
            {"type":"button","label":"b","action":{"type":"start_flow","flow":"b"}}]},
            {"id":"s2","type":"modal"}]},
          {"id":"b","name":"B","steps":[{"id":"s1","type":"hidden"}]}]}"#,
    )
    .unwrap();
    assert_eq!(c.flows.len(), 2);
    assert_eq!(c.flows[1].steps[0].id, "s1");
}

#[test]
fn deep_or_huge_input_is_an_error_not_a_panic() {
    let deep = "[".repeat(10_000);
    assert!(parse_content(&deep).is_err());
    let many = format!(
        r#"{{"version":1,"flows":[{}]}}"#,
        (0..500)
            .map(|i| format!(r#"{{"id":"f{i}","name":"F","steps":[{{"id":"s","type":"modal"}}]}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(parse_content(&many).unwrap().flows.len(), 500);
}

#[test]
fn content_and_string_sizes_are_limited_naming_the_path() {
    // A string at the limit is fine; one byte more is refused, with its path.
    let at = "a".repeat(MAX_STRING_BYTES);
    let text = format!(r#"{{"type":"text","markdown":"{at}"}}"#);
    let ok = with_step(&format!(r#"{{"id":"s","type":"modal","blocks":[{text}]}}"#));
    assert!(parse_content(&ok).is_ok());
    let over = with_step(&format!(
        r#"{{"id":"s","type":"modal","blocks":[{{"type":"text","markdown":"{at}a"}}]}}"#
    ));
    assert_eq!(
        error(&over),
        "flows[0].steps[0].blocks[0].markdown: longer than 65536 bytes"
    );
    let long_title = with_step(&format!(
        r#"{{"id":"s","type":"modal","blocks":[{{"type":"title","text":"{at}é"}}]}}"#
    ));
    assert!(error(&long_title).starts_with("flows[0].steps[0].blocks[0].text: longer than"));
    let long_name = format!(
        r#"{{"version":1,"flows":[{{"id":"f","name":"{at}x","steps":[{{"id":"s","type":"hidden"}}]}}]}}"#
    );
    assert!(error(&long_name).starts_with("flows[0].name: longer than"));
    // The whole document: at most 1 MiB of JSON.
    let steps: Vec<String> = (0..17)
        .map(|i| format!(r#"{{"id":"s{i}","type":"modal","blocks":[{text}]}}"#))
        .collect();
    let big = format!(
        r#"{{"version":1,"flows":[{{"id":"f","name":"F","steps":[{}]}}]}}"#,
        steps.join(",")
    );
    assert!(big.len() > MAX_CONTENT_BYTES);
    let e = error(&big);
    assert!(
        e.starts_with("content is ") && e.ends_with(" bytes of JSON; at most 1048576 are accepted"),
        "{e}"
    );
}

/// The README's "Limits" table states the code's constants.
#[test]
fn readme_limits_table_matches_the_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### Limits")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("README has a Limits section");
    let value = |row: &str| -> u64 {
        let line = section
            .lines()
            .find(|l| l.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("README Limits: no row {row:?}"));
        let cell = line.split('|').nth(2).unwrap().trim();
        cell.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert_eq!(value("content document"), MAX_CONTENT_BYTES as u64);
    assert_eq!(
        value("any string in content (Markdown, titles, labels, URLs, ids)"),
        MAX_STRING_BYTES as u64
    );
    assert_eq!(
        value("objects and arrays nested in content"),
        MAX_CONTENT_DEPTH as u64
    );
    assert_eq!(
        value("objects and arrays nested in properties, traits, membership, integrations"),
        crate::core::message::MAX_PROPERTY_DEPTH as u64
    );
    assert_eq!(
        value("emphasis and links in one text block"),
        crate::core::content::markdown::MAX_MARKUP as u64
    );
    assert_eq!(
        value("user, group and previous ids"),
        crate::core::identity::MAX_ID_CHARS as u64
    );
    assert_eq!(
        value("one message (track, identify, ...)"),
        crate::core::delivery::DeliveryConfig::default().max_message_bytes as u64
    );
    assert_eq!(
        value(
            "text that `{{…}}` placeholders add to one string (a text block, title, label or alt)"
        ),
        crate::core::content::markdown::MAX_INTERPOLATED_BYTES as u64
    );
    assert_eq!(
        value("nesting of emphasis and links"),
        crate::core::content::markdown::MAX_DEPTH as u64
    );
    assert_eq!(
        value("`target_timeout_ms` and `wait` triggers"),
        MAX_DURATION_MS
    );
}

#[test]
fn cross_reference_errors_name_the_flow_they_are_in() {
    let ok = r#"{"id":"f","name":"F","steps":[{"id":"a","type":"modal"}]}"#;
    let bad_step = r#"{"id":"g","name":"G","steps":[{"id":"a","type":"modal"},{"id":"b","type":"modal","blocks":[{"type":"button","label":"x","action":{"type":"go_to_step","step":"zz"}}]}]}"#;
    let bad_flow = r#"{"id":"h","name":"H","steps":[{"id":"a","type":"modal","triggers":[{"when":{"type":"wait","seconds":1},"action":{"type":"start_flow","flow":"nope"}}]}]}"#;
    let doc = |flows: &[&str]| String::from(r#"{"version":1,"flows":["#) + &flows.join(",") + "]}";
    assert_eq!(
        error(&doc(&[
            ok,
            ok.replace("\"f\"", "\"f2\"").as_str(),
            bad_step
        ])),
        "flows[2].steps[1].blocks[0].action.step: no step with this id in the flow"
    );
    assert_eq!(
        error(&doc(&[ok, bad_flow])),
        "flows[1].steps[0].triggers[0].action.flow: no flow with this id in the document nor loaded before"
    );
    let list = |id: &str, flow: &str| {
        String::from(r#"{"id":""#)
            + id
            + r#"","name":"L","tasks":[{"id":"t","name":"T","action":{"type":"start_flow","flow":""#
            + flow
            + r#""}}]}"#
    };
    assert_eq!(
        error(
            &(String::from(r#"{"version":1,"flows":["#)
                + ok
                + r#"],"checklists":["#
                + &list("a", "f")
                + ","
                + &list("b", "nope")
                + "]}")
        ),
        "checklists[1].tasks[0].action.flow: no flow with this id in the document nor loaded before"
    );
}

#[test]
fn a_document_may_name_what_was_loaded_before_and_not_reuse_its_ids_as_the_other_kind() {
    let loaded = Loaded {
        flows: vec!["tour".into()],
        checklists: vec!["setup".into()],
    };
    // References to content loaded before: a task's start_flow, a flow's
    // start_flow button, and conditions on a loaded flow or checklist.
    let refs = r#"{"version":1,
        "flows":[{"id":"next","name":"N","start":[{"checklist":"setup","state":"completed"}],
          "steps":[{"id":"s","type":"modal","blocks":[{"type":"button","label":"Go","action":{"type":"start_flow","flow":"tour"}}]}]}],
        "checklists":[{"id":"more","name":"M","tasks":[
          {"id":"a","name":"A","action":{"type":"start_flow","flow":"tour"},"complete_when":[{"flow":"tour","state":"completed"}]}]}]}"#;
    let c = parse_content_with(refs, &loaded).unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!((c.flows.len(), c.checklists.len()), (1, 1));
    // Alone, the same document is refused: what it names is nowhere.
    let e = parse_content(refs).expect_err("nothing loaded");
    assert!(e.message.contains("loaded before"), "{}", e.message);
    // An id of the other kind, loaded before, is refused (start(id) takes both).
    let clash =
        r#"{"version":1,"checklists":[{"id":"tour","name":"T","tasks":[{"id":"a","name":"A"}]}]}"#;
    let e = parse_content_with(clash, &loaded).expect_err("checklist named as a loaded flow");
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert!(
        e.message
            .starts_with("checklists[0].id: a flow has this id"),
        "{}",
        e.message
    );
    let clash =
        r#"{"version":1,"flows":[{"id":"setup","name":"S","steps":[{"id":"s","type":"modal"}]}]}"#;
    let e = parse_content_with(clash, &loaded).expect_err("flow named as a loaded checklist");
    assert!(
        e.message
            .starts_with("flows[0].id: a checklist has this id"),
        "{}",
        e.message
    );
    // The same kind again is an update, as before.
    let update =
        r#"{"version":1,"flows":[{"id":"tour","name":"T2","steps":[{"id":"s","type":"modal"}]}]}"#;
    assert!(parse_content_with(update, &loaded).is_ok());
}

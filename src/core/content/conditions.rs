//! Start and completion conditions of flows and checklists: the model, its
//! validating JSON parser ([`parse_condition`]), its evaluation against the
//! [`Facts`] the shell gathers (page URL, user and company attributes, the
//! per-user [`EventLog`], content history, elements in the page, the clock),
//! and that event log. Pure: evaluation never polls; the caller evaluates again
//! when a fact changes ([`Condition::selectors`] and [`Condition::event_names`]
//! say which elements and events matter).
//!
//! The syntax and the semantics of every operator are documented in
//! `docs/CONTENT.md`; in short: `{"all": [...]}`, `{"any": [...]}`,
//! `{"url": glob}`, `{"user"|"company": name, "op": op, "value": v}`,
//! `{"event": name, "count": n, "within_days": d, "where": [...]}`,
//! `{"flow"|"checklist": id, "state": state}` and `{"element": selector}`.
//! Parse errors start with the JSON path of the culprit, as
//! [`super::model`]'s do.
//!
//! # The event log's bounds
//! The log keeps what conditions need and no more, so that it fits in
//! localStorage:
//! - at most [`MAX_EVENT_NAMES`] distinct event names: tracking a new name when
//!   the log is full forgets the name tracked least recently;
//! - per name, the total number of times it was tracked (saturating), and its
//!   last [`MAX_OCCURRENCES`] occurrences, each with its time and at most
//!   [`MAX_KEPT_PROPERTIES`] of its top-level properties: the first ones (in
//!   the order given) that are numbers, booleans, or strings of at most
//!   [`MAX_KEPT_STRING`] bytes, under names of at most [`MAX_KEPT_STRING`] bytes
//!   (other properties are dropped: a filter on them sees them missing).
//!
//! An event condition without `where` and `within_days` compares the total; one
//! with either counts the kept occurrences that pass, so it looks at the last
//! [`MAX_OCCURRENCES`] only (which is why its `count` may not exceed that).

#[allow(unused_imports)]
use crate::prelude::*;

use super::model::{err, index, Obj};
use super::regex::Regex;
use super::url_matches;
use crate::core::error::Error;
use crate::core::float;
use crate::core::json::{self, push_u64, write_string, Json};

/// Most distinct event names the log keeps.
pub const MAX_EVENT_NAMES: usize = 100;
/// Most occurrences kept per event name.
pub const MAX_OCCURRENCES: usize = 50;
/// Most properties kept per occurrence.
pub const MAX_KEPT_PROPERTIES: usize = 20;
/// Longest string property (and property name) kept, in bytes of UTF-8.
pub const MAX_KEPT_STRING: usize = 256;
/// Most bytes the log takes as JSON: past it, the oldest occurrences are
/// forgotten (totals stay), so that it never crowds the queue out of localStorage.
pub const MAX_LOG_BYTES: usize = 128 << 10;
/// Deepest nesting of `all`/`any` (a condition at the top is at depth 0).
pub const MAX_CONDITION_DEPTH: usize = 32;
/// Largest `count` of an event condition without `where` and `within_days`.
pub const MAX_EVENT_COUNT: u64 = 1_000_000;
/// Largest `within_days` and `within_last_days` (100 years).
pub const MAX_DAYS: u64 = 36_500;
/// The attribute and property operators, in [`Test`] order.
pub const OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "matches",
    "greater_than",
    "less_than",
    "between",
    "is_set",
    "is_not_set",
    "is_true",
    "is_false",
    "before",
    "after",
    "within_last_days",
    "list_contains",
];
/// Accepted values of a content condition's `state`.
pub const CONTENT_STATES: &[&str] = &[
    "seen",
    "not_seen",
    "completed",
    "not_completed",
    "active",
    "not_active",
];
/// The keys that say what a condition is (exactly one per condition object).
pub const CONDITION_KINDS: &[&str] = &[
    "all",
    "any",
    "url",
    "user",
    "company",
    "event",
    "flow",
    "checklist",
    "element",
];
const DAY_MS: u64 = 86_400_000;

/// Whose attribute an attribute condition tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The user's traits (`{"user": name, ...}`).
    User,
    /// The company's (group's) traits (`{"company": name, ...}`).
    Company,
}

/// A kind of content a content condition refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    /// A flow (`{"flow": id, ...}`).
    Flow,
    /// A checklist (`{"checklist": id, ...}`).
    Checklist,
}

/// The content history state a content condition asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentState {
    /// `seen`: the user has seen it (started it at least once).
    Seen,
    /// `not_seen`: never seen.
    NotSeen,
    /// `completed`: completed at least once.
    Completed,
    /// `not_completed`: never completed.
    NotCompleted,
    /// `active`: showing now.
    Active,
    /// `not_active`: not showing now.
    NotActive,
}

/// What the facts say of one flow or checklist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentStatus {
    /// The user has seen it (started it at least once).
    pub seen: bool,
    /// The user has completed it at least once.
    pub completed: bool,
    /// It is showing now.
    pub active: bool,
}

/// An operator with its operand, applied to an attribute or an event property.
/// A missing or `null` value passes only `NotEquals`, `NotContains` and
/// `IsNotSet`.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// `equals`: the same JSON scalar (numbers by value: 5 equals 5.0; the
    /// string "5" does not equal the number 5).
    Equals(Json),
    /// `not_equals`: the negation of `Equals`.
    NotEquals(Json),
    /// `contains`: the value's text (strings as they are, numbers and booleans as
    /// their JSON text) contains this; case-sensitive.
    Contains(String),
    /// `not_contains`: the negation of `Contains`.
    NotContains(String),
    /// `starts_with`: the value's text starts with this.
    StartsWith(String),
    /// `ends_with`: the value's text ends with this.
    EndsWith(String),
    /// `matches`: the value's text matches this pattern somewhere (see
    /// [`super::regex`]).
    Matches(Regex),
    /// `greater_than`: a number (or a string that parses as a finite number)
    /// greater than this.
    GreaterThan(f64),
    /// `less_than`: a number less than this.
    LessThan(f64),
    /// `between`: a number from the first to the second, both included.
    Between(f64, f64),
    /// `is_set`: any value but `null`.
    IsSet,
    /// `is_not_set`: missing or `null`.
    IsNotSet,
    /// `is_true`: the boolean `true`.
    IsTrue,
    /// `is_false`: the boolean `false`.
    IsFalse,
    /// `before`: a date (see [`as_date`]) strictly before this (epoch ms).
    Before(u64),
    /// `after`: a date strictly after this (epoch ms).
    After(u64),
    /// `within_last_days`: a date from this many days before now to now, both
    /// included.
    WithinLastDays(u64),
    /// `list_contains`: an array with an element equal (as `Equals`) to this.
    ListContains(Json),
}

/// A start or completion condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `{"all": [...]}`: every one holds (so an empty list holds).
    All(Vec<Condition>),
    /// `{"any": [...]}`: at least one holds (so an empty list does not).
    Any(Vec<Condition>),
    /// `{"url": glob}`: the page URL's path and search match the glob
    /// ([`super::url_matches`]).
    Url(String),
    /// `{"user"|"company": name, "op": ..., "value": ...}`.
    Attribute {
        /// Whose attribute.
        scope: Scope,
        /// Its (top-level) name.
        name: String,
        /// What it must pass.
        test: Test,
    },
    /// `{"event": name, "count": n, "within_days": d, "where": [...]}`: the
    /// event was tracked at least `count` times (with properties passing every
    /// filter, within the last `within_days` days).
    Event {
        /// The event name.
        name: String,
        /// `where`: (property name, test) pairs every counted occurrence passes.
        filters: Vec<(String, Test)>,
        /// At least this many times (default 1).
        count: u64,
        /// Only occurrences from this many days before now.
        within_days: Option<u64>,
    },
    /// `{"flow"|"checklist": id, "state": state}`.
    Content {
        /// Flow or checklist.
        kind: ContentKind,
        /// Its id.
        id: String,
        /// The state asked for.
        state: ContentState,
    },
    /// `{"element": selector}`: an element matching the CSS selector is in the
    /// page.
    Element(String),
}

/// What conditions look at; the shell gathers it (tests fake it).
pub trait Facts {
    /// The page URL (full; conditions match its path and search).
    fn url(&self) -> &str;
    /// The user's or company's attribute `name` (`None`: not set).
    fn attribute(&self, scope: Scope, name: &str) -> Option<&Json>;
    /// The user's event log.
    fn events(&self) -> &EventLog;
    /// What is known of the flow or checklist `id`.
    fn content(&self, kind: ContentKind, id: &str) -> ContentStatus;
    /// Whether an element matching `selector` is in the page.
    fn element_present(&self, selector: &str) -> bool;
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

impl Condition {
    /// Whether the condition holds for `facts`.
    pub fn eval(&self, facts: &dyn Facts) -> bool {
        match self {
            Condition::All(items) => items.iter().all(|c| c.eval(facts)),
            Condition::Any(items) => items.iter().any(|c| c.eval(facts)),
            Condition::Url(pattern) => url_matches(pattern, facts.url()),
            Condition::Attribute { scope, name, test } => {
                test.eval(facts.attribute(*scope, name), facts.now_ms())
            }
            Condition::Event {
                name,
                filters,
                count,
                within_days,
            } => {
                let now = facts.now_ms();
                let since = within_days.map(|d| now.saturating_sub(d.saturating_mul(DAY_MS)));
                facts.events().count_at(name, filters, since, now) >= *count
            }
            Condition::Content { kind, id, state } => {
                let s = facts.content(*kind, id);
                match state {
                    ContentState::Seen => s.seen,
                    ContentState::NotSeen => !s.seen,
                    ContentState::Completed => s.completed,
                    ContentState::NotCompleted => !s.completed,
                    ContentState::Active => s.active,
                    ContentState::NotActive => !s.active,
                }
            }
            Condition::Element(selector) => facts.element_present(selector),
        }
    }

    /// Appends the selector of every element condition inside (in document
    /// order, repeats included): the elements the shell watches.
    pub fn selectors<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().for_each(|c| c.selectors(out))
            }
            Condition::Element(selector) => out.push(selector),
            _ => {}
        }
    }

    /// Appends the name of every event condition inside (in document order,
    /// repeats included).
    pub fn event_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().for_each(|c| c.event_names(out))
            }
            Condition::Event { name, .. } => out.push(name),
            _ => {}
        }
    }

    /// Appends the content every content condition inside refers to (in document
    /// order, repeats included), to check that it exists.
    pub fn content_refs<'a>(&'a self, out: &mut Vec<(ContentKind, &'a str)>) {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().for_each(|c| c.content_refs(out))
            }
            Condition::Content { kind, id, .. } => out.push((*kind, id)),
            _ => {}
        }
    }
}

/// A value as a number: numbers, and strings that parse as finite numbers
/// (surrounding spaces allowed).
fn as_number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => Some(n.to_f64()),
        Json::String(s) => json::parse_f64(s),
        _ => None,
    }
}

/// A value as text: strings as they are, numbers and booleans as JSON text.
fn as_text(v: &Json) -> Option<&str> {
    match v {
        Json::String(s) => Some(s),
        Json::Number(n) => Some(n.text()),
        Json::Bool(true) => Some("true"),
        Json::Bool(false) => Some("false"),
        _ => None,
    }
}

/// A value as a date, in milliseconds since the Unix epoch (negative before
/// 1970): a string in one of the [`parse_date`] forms, or a number of seconds
/// (when its magnitude is below 1e11, i.e. up to the year 5138) or else
/// milliseconds since the epoch.
pub fn as_date(v: &Json) -> Option<i64> {
    match v {
        Json::String(s) => parse_date(s),
        Json::Number(n) => {
            let x = n.to_f64();
            let ms = if x.abs() < 1e11 { x * 1000.0 } else { x };
            // Beyond ±2^53 ms (285,000 years) a date means nothing.
            (ms.abs() < 9.0e15).then(|| float::trunc(ms) as i64)
        }
        _ => None,
    }
}

impl Test {
    /// Whether `value` (`None`: missing) passes; `now_ms` is for
    /// `within_last_days`.
    pub fn eval(&self, value: Option<&Json>, now_ms: u64) -> bool {
        let Some(v) = value.filter(|v| !matches!(v, Json::Null)) else {
            return matches!(
                self,
                Test::NotEquals(_) | Test::NotContains(_) | Test::IsNotSet
            );
        };
        let text = || as_text(v);
        match self {
            // `Json`'s equality compares numbers by value.
            Test::Equals(x) => v == x,
            Test::NotEquals(x) => v != x,
            Test::Contains(x) => text().is_some_and(|t| super::find_str(t, x).is_some()),
            Test::NotContains(x) => text().is_none_or(|t| super::find_str(t, x).is_none()),
            Test::StartsWith(x) => text().is_some_and(|t| t.starts_with(x.as_str())),
            Test::EndsWith(x) => text().is_some_and(|t| t.ends_with(x.as_str())),
            Test::Matches(re) => text().is_some_and(|t| re.is_match(t)),
            Test::GreaterThan(x) => as_number(v).is_some_and(|n| n > *x),
            Test::LessThan(x) => as_number(v).is_some_and(|n| n < *x),
            Test::Between(lo, hi) => as_number(v).is_some_and(|n| *lo <= n && n <= *hi),
            Test::IsSet => true,
            Test::IsNotSet => false,
            Test::IsTrue => matches!(v, Json::Bool(true)),
            Test::IsFalse => matches!(v, Json::Bool(false)),
            Test::Before(t) => as_date(v).is_some_and(|d| (d as i128) < *t as i128),
            Test::After(t) => as_date(v).is_some_and(|d| (d as i128) > *t as i128),
            Test::WithinLastDays(n) => as_date(v).is_some_and(|d| {
                let now = now_ms as i128;
                let from = now - (*n as i128) * DAY_MS as i128;
                from <= d as i128 && d as i128 <= now
            }),
            Test::ListContains(x) => match v {
                Json::Array(items) => items.iter().any(|i| i == x),
                _ => false,
            },
        }
    }
}

/// Parses an ISO 8601 date, `YYYY-MM-DD` (midnight UTC) or
/// `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z`, `±HH:MM` or nothing (UTC),
/// into milliseconds since the Unix epoch (negative before 1970). Fractions of a
/// second may have any number of digits (beyond milliseconds they are
/// ignored). `None` for anything else, including impossible dates (`02-30`).
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + (c - b'0') as i64)
        })
    };
    let lit = |at: usize, c: u8| b.get(at) == Some(&c);
    let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !lit(4, b'-') || !lit(7, b'-') || !(1..=12).contains(&m) {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d < 1 || d > *days_in_month.get((m - 1) as usize).unwrap_or(&0) {
        return None;
    }
    let mut ms_of_day = 0i64;
    let mut offset_ms = 0i64;
    if b.len() > 10 {
        if !lit(10, b'T') || !lit(13, b':') {
            return None;
        }
        let (hh, mm) = (num(11, 2)?, num(14, 2)?);
        let mut ss = 0;
        let mut frac = 0;
        let mut i = 16;
        if lit(16, b':') {
            ss = num(17, 2)?;
            i = 19;
            if lit(19, b'.') {
                i = 20;
                let mut scale = 100;
                while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                    frac += (c - b'0') as i64 * scale;
                    scale /= 10;
                    i += 1;
                }
                if i == 20 {
                    return None;
                }
            }
        }
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        ms_of_day = ((hh * 60 + mm) * 60 + ss) * 1000 + frac;
        match b.get(i) {
            None => {}
            Some(b'Z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && lit(i + 3, b':') => {
                let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                // Local time = UTC + offset, so UTC = local − offset.
                offset_ms = (oh * 60 + om) * 60_000;
                if sign == b'+' {
                    offset_ms = -offset_ms;
                }
            }
            _ => return None,
        }
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let (yy, mo) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mo + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * DAY_MS as i64 + ms_of_day + offset_ms)
}

/// Parses one condition at JSON path `path` (for error messages, which start
/// with the path of the culprit, e.g. `checklists[0].start[1].op: expected one
/// of equals, ...`).
pub fn parse_condition(v: &Json, path: &str) -> Result<Condition, Error> {
    parse_at(v, path, 0)
}

/// `a, b, c`, or with `last` before the final item (`a, b and c`).
fn list(items: &[&str], last: &str) -> String {
    let mut s = String::new();
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(if i + 1 == items.len() { last } else { ", " });
        }
        s.push_str(it);
    }
    s
}

fn parse_at(v: &Json, path: &str, depth: usize) -> Result<Condition, Error> {
    let o = Obj::new(v, path)?;
    let found: Vec<&str> = CONDITION_KINDS
        .iter()
        .copied()
        .filter(|k| o.get(k).is_some())
        .collect();
    let kind = match found.as_slice() {
        [k] => *k,
        _ => {
            let mut m = String::from("expected exactly one of ");
            m.push_str(&list(CONDITION_KINDS, ", "));
            if !found.is_empty() {
                m.push_str("; found ");
                m.push_str(&list(&found, " and "));
            }
            return Err(err(path, &m));
        }
    };
    Ok(match kind {
        "all" | "any" => {
            o.keys(&[kind])?;
            let p = o.p(kind);
            let items_json = o.arr_req(kind)?;
            if depth >= MAX_CONDITION_DEPTH && !items_json.is_empty() {
                return Err(err(
                    &p,
                    "conditions nested too deeply (all and any at most 32 levels)",
                ));
            }
            let mut items = Vec::with_capacity(items_json.len());
            for (i, c) in items_json.iter().enumerate() {
                items.push(parse_at(c, &index(&p, i), depth + 1)?);
            }
            if kind == "all" {
                Condition::All(items)
            } else {
                Condition::Any(items)
            }
        }
        "url" => {
            o.keys(&["url"])?;
            Condition::Url(o.nonempty("url")?)
        }
        "user" | "company" => {
            o.keys(&[kind, "op", "value"])?;
            Condition::Attribute {
                scope: if kind == "user" {
                    Scope::User
                } else {
                    Scope::Company
                },
                name: o.nonempty(kind)?,
                test: parse_test(&o)?,
            }
        }
        "event" => {
            o.keys(&["event", "count", "within_days", "where"])?;
            let name = o.nonempty("event")?;
            let within_days = whole(&o, "within_days", MAX_DAYS)?;
            let wp = o.p("where");
            let mut filters = Vec::new();
            for (i, f) in o.arr_opt("where")?.iter().enumerate() {
                let fp = index(&wp, i);
                let fo = Obj::new(f, &fp)?;
                fo.keys(&["property", "op", "value"])?;
                filters.push((fo.nonempty("property")?, parse_test(&fo)?));
            }
            // Filters and windows look at the kept occurrences only.
            let max = if filters.is_empty() && within_days.is_none() {
                MAX_EVENT_COUNT
            } else {
                MAX_OCCURRENCES as u64
            };
            let count = whole(&o, "count", max)?;
            Condition::Event {
                name,
                filters,
                count: count.unwrap_or(1),
                within_days,
            }
        }
        "flow" | "checklist" => {
            o.keys(&[kind, "state"])?;
            let id = o.id(kind)?;
            let state = match o.one_of("state", CONTENT_STATES)? {
                0 => ContentState::Seen,
                1 => ContentState::NotSeen,
                2 => ContentState::Completed,
                3 => ContentState::NotCompleted,
                4 => ContentState::Active,
                _ => ContentState::NotActive,
            };
            Condition::Content {
                kind: if kind == "flow" {
                    ContentKind::Flow
                } else {
                    ContentKind::Checklist
                },
                id,
                state,
            }
        }
        _ => {
            o.keys(&["element"])?;
            Condition::Element(o.nonempty("element")?)
        }
    })
}

/// The optional field `key`: a whole number from 1 to `max`.
fn whole(o: &Obj, key: &str, max: u64) -> Result<Option<u64>, Error> {
    let Some(v) = o.get(key) else {
        return Ok(None);
    };
    let n = match v {
        Json::Number(n) => n.to_f64(),
        _ => f64::NAN,
    };
    if n >= 1.0 && n <= max as f64 && float::fract(n) == 0.0 {
        Ok(Some(n as u64))
    } else {
        let mut m = String::from("expected a whole number from 1 to ");
        push_u64(max, &mut m);
        Err(err(&o.p(key), &m))
    }
}

/// The `op` and `value` of an attribute condition or an event filter.
fn parse_test(o: &Obj) -> Result<Test, Error> {
    let op = o.one_of("op", OPERATORS)?;
    let vp = o.p("value");
    let takes_value = !(10..=13).contains(&op);
    let value = match (o.get("value"), takes_value) {
        (Some(v), true) => v,
        (None, true) => return Err(err(&vp, "required")),
        (Some(_), false) => {
            let mut m = String::from("not allowed: ");
            m.push_str(OPERATORS.get(op).copied().unwrap_or_default());
            m.push_str(" takes no value");
            return Err(err(&vp, &m));
        }
        (None, false) => &Json::Null,
    };
    let text = || -> Result<String, Error> {
        let s = value
            .as_str()
            .ok_or_else(|| err(&vp, "expected a string"))?;
        Ok(o.short("value", s)?.to_string())
    };
    let number = |v: &Json, p: &str| -> Result<f64, Error> {
        match v {
            Json::Number(n) => Ok(n.to_f64()),
            _ => Err(err(p, "expected a number")),
        }
    };
    let date = || -> Result<u64, Error> {
        let ms = value.as_str().and_then(parse_date).ok_or_else(|| {
            err(
                &vp,
                "expected a date: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff]] with Z, ±HH:MM or nothing (UTC)",
            )
        })?;
        u64::try_from(ms).map_err(|_| err(&vp, "dates before 1970 are not supported"))
    };
    let scalar = |null_ok: bool| -> Result<Json, Error> {
        match value {
            Json::Array(_) | Json::Object(_) => Err(err(
                &vp,
                if null_ok {
                    "expected a string, number, boolean or null"
                } else {
                    "expected a string, number or boolean"
                },
            )),
            Json::Null if !null_ok => Err(err(
                &vp,
                "expected a string, number or boolean (a null attribute counts as not set: use is_set or is_not_set)",
            )),
            Json::String(s) => Ok(Json::String(o.short("value", s)?.to_string())),
            v => Ok(v.clone()),
        }
    };
    Ok(match op {
        0 => Test::Equals(scalar(false)?),
        1 => Test::NotEquals(scalar(false)?),
        2 => Test::Contains(text()?),
        3 => Test::NotContains(text()?),
        4 => Test::StartsWith(text()?),
        5 => Test::EndsWith(text()?),
        6 => Test::Matches(Regex::new(&text()?).map_err(|m| {
            let mut s = String::from("invalid pattern: ");
            s.push_str(&m);
            err(&vp, &s)
        })?),
        7 => Test::GreaterThan(number(value, &vp)?),
        8 => Test::LessThan(number(value, &vp)?),
        9 => {
            let (lo, hi) = match value {
                Json::Array(pair) => match pair.as_slice() {
                    [lo, hi] => (lo, hi),
                    _ => return Err(err(&vp, "expected [min, max]")),
                },
                _ => return Err(err(&vp, "expected [min, max]")),
            };
            let lo = number(lo, &index(&vp, 0))?;
            let hi = number(hi, &index(&vp, 1))?;
            if lo > hi {
                return Err(err(&vp, "min is greater than max"));
            }
            Test::Between(lo, hi)
        }
        10 => Test::IsSet,
        11 => Test::IsNotSet,
        12 => Test::IsTrue,
        13 => Test::IsFalse,
        14 => Test::Before(date()?),
        15 => Test::After(date()?),
        16 => {
            let n = match value {
                Json::Number(n) => n.to_f64(),
                _ => f64::NAN,
            };
            if !(n >= 0.0 && n <= MAX_DAYS as f64 && float::fract(n) == 0.0) {
                return Err(err(&vp, "expected a whole number of days from 0 to 36500"));
            }
            Test::WithinLastDays(n as u64)
        }
        _ => Test::ListContains(scalar(true)?),
    })
}

/// One kept occurrence of an event.
#[derive(Clone, Debug, PartialEq)]
struct Occurrence {
    at_ms: u64,
    properties: Vec<(String, Json)>,
}

/// What the log keeps of one event name.
#[derive(Clone, Debug, PartialEq)]
struct Record {
    name: String,
    total: u64,
    /// Oldest first, at most [`MAX_OCCURRENCES`].
    kept: Vec<Occurrence>,
}

/// What the user tracked, bounded as the module docs say; the shell persists it
/// per user with [`EventLog::to_json`] and [`EventLog::from_json`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventLog {
    /// Least recently tracked first, at most [`MAX_EVENT_NAMES`], names unique.
    records: Vec<Record>,
}

/// Whether the log keeps the property `key: value`.
fn keeps(key: &str, value: &Json) -> bool {
    key.len() <= MAX_KEPT_STRING
        && match value {
            Json::String(s) => s.len() <= MAX_KEPT_STRING,
            Json::Number(_) | Json::Bool(_) => true,
            _ => false,
        }
}

/// The properties of `fields` the log keeps.
fn kept_properties<'a>(fields: impl Iterator<Item = &'a (String, Json)>) -> Vec<(String, Json)> {
    fields
        .filter(|(k, v)| keeps(k, v))
        .take(MAX_KEPT_PROPERTIES)
        .cloned()
        .collect()
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `name` was tracked at `at_ms` with `properties` (an object;
    /// anything else counts as no properties). `name` becomes the most recently
    /// tracked name; a new name in a full log replaces the least recently
    /// tracked one.
    pub fn record(&mut self, name: &str, properties: &Json, at_ms: u64) {
        let record = match self.records.iter().position(|r| r.name == name) {
            Some(i) => self.records.remove(i),
            None => {
                if self.records.len() >= MAX_EVENT_NAMES {
                    self.records.remove(0);
                }
                Record {
                    name: name.to_string(),
                    total: 0,
                    kept: Vec::new(),
                }
            }
        };
        self.records.push(record);
        let Some(r) = self.records.last_mut() else {
            return;
        };
        r.total = r.total.saturating_add(1);
        if r.kept.len() >= MAX_OCCURRENCES {
            r.kept.remove(0);
        }
        let fields = properties.as_object().unwrap_or(&[]);
        r.kept.push(Occurrence {
            at_ms,
            properties: kept_properties(fields.iter()),
        });
        self.trim();
    }

    /// Forgets the oldest occurrences while the log is over [`MAX_LOG_BYTES`].
    fn trim(&mut self) {
        fn size(o: &Occurrence) -> usize {
            o.properties
                .iter()
                .map(|(k, v)| k.len() + 8 + v.to_json().len())
                .sum::<usize>()
                + 24
        }
        let mut total: usize = self
            .records
            .iter()
            .map(|r| r.name.len() + 32 + r.kept.iter().map(size).sum::<usize>())
            .sum();
        while total > MAX_LOG_BYTES {
            let oldest = self
                .records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.kept.first().map(|o| (o.at_ms, i)))
                .min();
            // `get_mut`, not `[i]` (no bounds check; see `json::scale`).
            let Some(kept) = oldest
                .and_then(|(_, i)| self.records.get_mut(i))
                .map(|r| &mut r.kept)
            else {
                break;
            };
            let o = kept.remove(0);
            total = total.saturating_sub(size(&o));
        }
    }

    /// The event names in the log, least recently tracked first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.records.iter().map(|r| r.name.as_str())
    }

    /// How many times `name` was tracked with properties passing every filter,
    /// at or after `since_ms` (`None`: ever). Without filters and window, the
    /// total; otherwise only the kept occurrences are looked at (the last
    /// [`MAX_OCCURRENCES`]). `within_last_days` filters are judged against the
    /// time of the name's latest occurrence ([`EventLog::count_at`] takes a
    /// clock; conditions use that).
    pub fn count(&self, name: &str, filters: &[(String, Test)], since_ms: Option<u64>) -> u64 {
        let now = self
            .records
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.kept.iter().map(|o| o.at_ms).max())
            .unwrap_or(0);
        self.count_at(name, filters, since_ms, now)
    }

    /// [`EventLog::count`] with `within_last_days` filters judged against
    /// `now_ms`.
    pub fn count_at(
        &self,
        name: &str,
        filters: &[(String, Test)],
        since_ms: Option<u64>,
        now_ms: u64,
    ) -> u64 {
        let Some(r) = self.records.iter().find(|r| r.name == name) else {
            return 0;
        };
        if filters.is_empty() && since_ms.is_none() {
            return r.total;
        }
        r.kept
            .iter()
            .filter(|o| since_ms.is_none_or(|s| o.at_ms >= s))
            .filter(|o| {
                filters.iter().all(|(key, test)| {
                    let v = o.properties.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                    test.eval(v, now_ms)
                })
            })
            .count() as u64
    }

    /// The log as compact JSON text, for localStorage:
    /// `{"v":1,"events":[[name,total,[[at_ms,{properties}],...]],...]}`, names
    /// least recently tracked first, occurrences oldest first.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"v\":1,\"events\":[");
        for (i, r) in self.records.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            write_string(&r.name, &mut out);
            out.push(',');
            push_u64(r.total, &mut out);
            out.push_str(",[");
            for (j, o) in r.kept.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push('[');
                push_u64(o.at_ms, &mut out);
                out.push_str(",{");
                for (k, (key, value)) in o.properties.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    write_string(key, &mut out);
                    out.push(':');
                    value.write(&mut out);
                }
                out.push_str("}]");
            }
            out.push_str("]]");
        }
        out.push_str("]}");
        out
    }

    /// The log [`EventLog::to_json`] wrote. Tolerant: text that is not JSON or
    /// not of that shape gives an empty log, and unreadable entries are skipped;
    /// what is read is held to the log's bounds (the most recent names and
    /// occurrences win). Never panics.
    pub fn from_json(text: &str) -> EventLog {
        let log = EventLog::new();
        let Ok(v) = json::parse(text) else {
            return log;
        };
        if v.get("v").and_then(as_u64) != Some(1) {
            return log;
        }
        match v.get("events") {
            Some(Json::Array(items)) => EventLog::from_events(items),
            _ => log,
        }
    }

    /// The log from the items of its `events` array (the shape
    /// [`EventLog::to_json`] writes and `/v1/state` answers with), with the
    /// same tolerance as [`EventLog::from_json`].
    pub fn from_events(items: &[Json]) -> EventLog {
        let mut log = EventLog::new();
        // Most recent last: read backwards, so that the most recent win.
        for item in items.iter().rev() {
            if log.records.len() >= MAX_EVENT_NAMES {
                break;
            }
            let Json::Array(parts) = item else { continue };
            let (Some(Json::String(name)), Some(total), Some(Json::Array(occurrences))) =
                (parts.first(), parts.get(1).and_then(as_u64), parts.get(2))
            else {
                continue;
            };
            if parts.len() != 3 || log.records.iter().any(|r| r.name == *name) {
                continue;
            }
            // (Reversed by iterators rather than `reverse()`, whose inlined swaps kept
            // a bounds-check panic path in the wasm.)
            let kept: Vec<Occurrence> = occurrences
                .iter()
                .rev()
                .filter_map(|o| match o {
                    Json::Array(pair) => match pair.as_slice() {
                        [at, Json::Object(fields)] => Some(Occurrence {
                            at_ms: as_u64(at)?,
                            properties: kept_properties(fields.iter()),
                        }),
                        _ => None,
                    },
                    _ => None,
                })
                .take(MAX_OCCURRENCES)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            log.records.push(Record {
                name: name.clone(),
                total: total.max(kept.len() as u64),
                kept,
            });
        }
        log.records = log.records.into_iter().rev().collect();
        log
    }

    /// This log and `other` together (the page's and the server's): per name
    /// the totals add up and the occurrences merge by time (the latest
    /// [`MAX_OCCURRENCES`] kept); the names tracked most recently win past
    /// [`MAX_EVENT_NAMES`], and the byte bound holds.
    pub fn merged(&self, other: &EventLog) -> EventLog {
        let mut records: Vec<Record> = self.records.clone();
        for r in &other.records {
            match records.iter_mut().find(|x| x.name == r.name) {
                Some(x) => {
                    x.total = x.total.saturating_add(r.total);
                    x.kept.extend(r.kept.iter().cloned());
                    super::sort_by_key(&mut x.kept, |o| o.at_ms);
                    let extra = x.kept.len().saturating_sub(MAX_OCCURRENCES);
                    x.kept.drain(..extra);
                }
                None => records.push(r.clone()),
            }
        }
        let last = |r: &Record| r.kept.last().map_or(0, |o| o.at_ms);
        super::sort_by_key(&mut records, last);
        let extra = records.len().saturating_sub(MAX_EVENT_NAMES);
        records.drain(..extra);
        let mut log = EventLog { records };
        log.trim();
        log
    }
}

/// What a segflow collector's `GET /v1/state` says of the user: attributes and
/// events the app's back end sent to Segment (through the Webhooks
/// destination), which conditions see beside the page's own.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerState {
    /// The user's traits (an object).
    pub traits: Json,
    /// The company's traits (an object; empty when the user has none).
    pub company: Json,
    /// Their events.
    pub events: EventLog,
}

impl ServerState {
    /// Reads the answer of `/v1/state` for `user_id`: `None` when it is not
    /// JSON of that shape or is about another user.
    pub fn parse(text: &str, user_id: &str) -> Option<ServerState> {
        let v = json::parse(text).ok()?;
        if v.get("userId").and_then(Json::as_str) != Some(user_id) {
            return None;
        }
        let object = |x: Option<&Json>| match x {
            Some(o @ Json::Object(_)) => o.clone(),
            _ => Json::Object(Vec::new()),
        };
        Some(ServerState {
            traits: object(v.get("traits")),
            company: object(v.get("company").and_then(|c| c.get("traits"))),
            events: match v.get("events") {
                Some(Json::Array(items)) => EventLog::from_events(items),
                _ => EventLog::new(),
            },
        })
    }
}

/// A whole number from 0 up (plain digits saturate at `u64::MAX`; other
/// spellings of whole numbers, such as `1e3`, go through `f64`).
fn as_u64(v: &Json) -> Option<u64> {
    let Json::Number(n) = v else {
        return None;
    };
    let t = n.text();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(t.bytes().fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add((b - b'0') as u64)
        }));
    }
    let x = n.to_f64();
    (x >= 0.0 && float::fract(x) == 0.0).then_some(x as u64)
}

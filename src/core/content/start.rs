//! Starting content by its start conditions: the rules flows and checklists
//! share (`start`, `frequency`, `priority`, `start_delay_seconds`) and the
//! per-page state machine, [`AutoStart`], that both engines use to decide which
//! one starts by itself, and when. Pure: it looks at [`Facts`] only.
//!
//! # Rules
//! - Content starts by itself only while nothing of its kind is active (one flow
//!   at a time, one checklist at a time), when **any** of its start conditions
//!   holds. Content without start conditions starts only by `start(id)` or an
//!   action.
//! - Among several that may start at once, the highest `priority` wins, then
//!   the first in document order.
//! - `frequency`: `once` (the default) only if the user never started it (in any
//!   way); `multiple` again after it ended, at most once per page load by its
//!   conditions; `unlimited` again after it ended, each time its conditions hold
//!   *anew*: once they stopped holding, on another page (path or search changed)
//!   when they look at the URL, or after an event they name was tracked again.
//!   Without that edge, content that ended while its conditions still hold
//!   would start again at once.
//! - A piece of content starts by its conditions at most
//!   [`MAX_STARTS_PER_BURST`] times within [`BURST_MS`]: one that ends and
//!   meets its conditions again at once would otherwise loop.
//! - `start_delay_seconds`: the conditions must still hold when the delay ends
//!   (and nothing else of its kind may have started); if they do not, it does
//!   not start, and the next candidate is looked at. While it waits, content of
//!   a higher priority whose conditions hold may start (or begin its own delay)
//!   instead; content of the same or a lower priority waits for it.

#[allow(unused_imports)]
use crate::prelude::*;

use super::conditions::{parse_condition, Condition, Facts};
use super::model::{err, index, Obj};
use super::path_and_search;
use crate::core::error::Error;
use crate::core::json::Json;

/// `frequency` values.
pub const FREQUENCIES: &[&str] = &["once", "multiple", "unlimited"];
/// Largest `start_delay_seconds` (one day).
pub const MAX_START_DELAY_SECONDS: f64 = 86_400.0;
/// Largest `priority` magnitude.
pub const MAX_PRIORITY: f64 = 1e6;
/// At most this many starts by conditions of one piece of content within
/// [`BURST_MS`]: content that ends and meets its own conditions again at once
/// (an `unlimited` flow that tracks the event it starts on, and completes by
/// itself) would otherwise start again in a loop and hang the page.
pub const MAX_STARTS_PER_BURST: usize = 10;
/// The window of [`MAX_STARTS_PER_BURST`], in milliseconds.
pub const BURST_MS: u64 = 1000;
/// Delay timers count from here, so that they never share an id with the flow
/// engine's trigger timers.
const TIMER_BASE: u64 = 1 << 40;

/// How often start conditions may start the same content for one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Frequency {
    /// Only if the user has never started it.
    #[default]
    Once,
    /// Again after it ended, at most once per page load.
    Multiple,
    /// Again after it ended, each time its conditions hold anew.
    Unlimited,
}

/// How a flow or checklist starts by itself.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StartRules {
    /// Start conditions (any of them); empty: only `start()` or an action starts it.
    pub conditions: Vec<Condition>,
    /// How often the conditions may start it.
    pub frequency: Frequency,
    /// Higher first when several may start at once.
    pub priority: i64,
    /// How long the conditions must have held (checked again at the end).
    pub delay_ms: u64,
}

/// Parses `start`, `frequency`, `priority` and `start_delay_seconds` of the
/// object `o`. `repeat` is flows' older spelling of `frequency: "unlimited"`
/// (`repeat`: the object may have it); giving both is an error.
pub(super) fn parse_start_rules(o: &Obj, repeat: bool) -> Result<StartRules, Error> {
    let start_path = o.p("start");
    let conditions = o
        .arr_opt("start")?
        .iter()
        .enumerate()
        .map(|(i, c)| parse_condition(c, &index(&start_path, i)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut frequency = match o.one_of_opt("frequency", FREQUENCIES)? {
        Some(1) => Frequency::Multiple,
        Some(2) => Frequency::Unlimited,
        _ => Frequency::Once,
    };
    if repeat && o.get("repeat").is_some() {
        if o.get("frequency").is_some() {
            return Err(err(
                &o.p("repeat"),
                "give frequency or repeat, not both (repeat: true is frequency: \"unlimited\")",
            ));
        }
        if o.bool_opt("repeat", false)? {
            frequency = Frequency::Unlimited;
        }
    }
    let priority = match o.get("priority") {
        None => 0,
        Some(Json::Number(n))
            if crate::core::float::fract(n.to_f64()) == 0.0 && n.to_f64().abs() <= MAX_PRIORITY =>
        {
            n.to_f64() as i64
        }
        Some(_) => {
            return Err(err(
                &o.p("priority"),
                "expected a whole number from -1000000 to 1000000",
            ))
        }
    };
    let delay_ms = match o.get("start_delay_seconds") {
        None => 0,
        Some(Json::Number(n)) if n.to_f64() >= 0.0 && n.to_f64() <= MAX_START_DELAY_SECONDS => {
            crate::core::float::round(n.to_f64() * 1000.0) as u64
        }
        Some(_) => {
            return Err(err(
                &o.p("start_delay_seconds"),
                "expected a number of seconds from 0 to 86400",
            ))
        }
    };
    Ok(StartRules {
        conditions,
        frequency,
        priority,
        delay_ms,
    })
}

/// What the first start condition that held looked at (flows name their start
/// reason after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A `{"url": ...}` condition.
    Url,
    /// An `{"event": ...}` condition.
    Event,
    /// Any other condition.
    Other,
}

/// One piece of content the engine may start.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Its id.
    pub id: &'a str,
    /// How it starts by itself.
    pub rules: &'a StartRules,
    /// The user started it before (what `once` looks at).
    pub seen: bool,
}

/// What [`AutoStart::decide`] asks the engine to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start this content now.
    Start {
        /// Its id.
        id: String,
        /// What the condition that held looked at.
        cause: Cause,
    },
    /// Start a timer; answer [`AutoStart::timer_fired`] with `timer` after `ms`
    /// and decide again.
    Schedule {
        /// The timer's id.
        timer: u64,
        /// Its delay.
        ms: u64,
    },
}

/// A start whose occasion is used up (for `unlimited`): the page and the event
/// totals when it was last seen starting or active.
#[derive(Clone, Debug)]
struct Spent {
    id: String,
    /// `None` until the next decision fills it in.
    at: Option<(String, u64)>,
}

/// A delayed start.
#[derive(Clone, Debug)]
struct Pending {
    timer: u64,
    id: String,
    due: bool,
}

/// The auto-start state of one kind of content for one page and user; see the
/// module docs.
#[derive(Clone, Debug, Default)]
pub struct AutoStart {
    /// Started by their conditions during this page load (`multiple`).
    started_here: Vec<String>,
    /// Started and not yet re-armed (`unlimited`).
    spent: Vec<Spent>,
    pending: Option<Pending>,
    next_timer: u64,
    /// Recent starts by conditions: (id, when), within [`BURST_MS`].
    recent: Vec<(String, u64)>,
}

/// Whether `c` looks at the URL.
fn looks_at_url(c: &Condition) -> bool {
    match c {
        Condition::Url(_) => true,
        Condition::All(cs) | Condition::Any(cs) => cs.iter().any(looks_at_url),
        _ => false,
    }
}

/// What makes an occasion for `rules`: the page (path and search) if they look
/// at the URL, and the total of the events they name.
fn occasion(rules: &StartRules, facts: &dyn Facts) -> (String, u64) {
    let mut names = Vec::new();
    for c in &rules.conditions {
        c.event_names(&mut names);
    }
    super::dedup(&mut names);
    let total = names
        .iter()
        .map(|n| facts.events().count(n, &[], None))
        .fold(0u64, u64::saturating_add);
    let page = if rules.conditions.iter().any(looks_at_url) {
        path_and_search(facts.url()).to_string()
    } else {
        String::new()
    };
    (page, total)
}

/// The first condition of `rules` that holds, as a [`Cause`].
fn holds(rules: &StartRules, facts: &dyn Facts) -> Option<Cause> {
    rules
        .conditions
        .iter()
        .find(|c| c.eval(facts))
        .map(|c| match c {
            Condition::Url(_) => Cause::Url,
            Condition::Event { .. } => Cause::Event,
            _ => Cause::Other,
        })
}

impl AutoStart {
    /// A fresh state (a new page load).
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything (another user): pending delays are dropped.
    pub fn reset(&mut self) {
        *self = AutoStart {
            next_timer: self.next_timer,
            ..AutoStart::default()
        };
    }

    /// Content `id` started, in any way: its present occasion is used up.
    pub fn started(&mut self, id: &str) {
        self.spent.retain(|s| s.id != id);
        self.spent.push(Spent {
            id: id.to_string(),
            at: None,
        });
        if self.pending.as_ref().is_some_and(|p| p.id == id) {
            self.pending = None;
        }
    }

    /// The delay timer `timer` elapsed; whether it was this state's (then decide
    /// again).
    pub fn timer_fired(&mut self, timer: u64) -> bool {
        match self.pending.as_mut() {
            Some(p) if p.timer == timer => {
                p.due = true;
                true
            }
            _ => false,
        }
    }

    /// Whether a delayed start is waiting for its timer.
    pub fn is_pending(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| !p.due)
    }

    fn eligible(&self, c: &Candidate) -> bool {
        if self.recent.iter().filter(|(id, _)| id == c.id).count() >= MAX_STARTS_PER_BURST {
            return false;
        }
        match c.rules.frequency {
            Frequency::Once => !c.seen,
            Frequency::Multiple => !self.started_here.iter().any(|s| s == c.id),
            Frequency::Unlimited => !self.spent.iter().any(|s| s.id == c.id),
        }
    }

    /// Looks at `candidates` (in document order) with the current facts;
    /// `active`: the id of the content of this kind that is active, if any. Call
    /// it whenever the facts may have changed; a [`Decision::Start`] must be
    /// carried out (the engine then calls [`AutoStart::started`]).
    pub fn decide(
        &mut self,
        candidates: &[Candidate],
        active: Option<&str>,
        facts: &dyn Facts,
    ) -> Option<Decision> {
        let busy = active.is_some();
        let now = facts.now_ms();
        self.recent
            .retain(|(_, at)| now.saturating_sub(*at) < BURST_MS && *at <= now);
        // Re-arm `unlimited` content whose occasion passed. While it is active,
        // its occasion follows the page (a navigation inside a flow is not a
        // new occasion).
        self.spent.retain_mut(|s| {
            let Some(c) = candidates.iter().find(|c| c.id == s.id) else {
                return false;
            };
            let now = occasion(c.rules, facts);
            let current = active == Some(s.id.as_str());
            let keep = match &s.at {
                None => true,
                Some(_) if current => true,
                Some((url, events)) => {
                    *url == now.0 && *events >= now.1 && holds(c.rules, facts).is_some()
                }
            };
            if s.at.is_none() || current {
                s.at = Some(now);
            }
            keep
        });
        if self.pending.as_ref().is_some_and(|p| p.due) {
            let id = self.pending.take().map(|p| p.id).unwrap_or_default();
            let again = candidates
                .iter()
                .find(|c| c.id == id)
                .filter(|c| !busy && self.eligible(c))
                .and_then(|c| holds(c.rules, facts));
            if let Some(cause) = again {
                self.started_here.push(id.clone());
                self.recent.push((id.clone(), now));
                return Some(Decision::Start { id, cause });
            }
        }
        if busy {
            return None;
        }
        let waiting = self.pending.as_ref().map(|p| p.id.as_str());
        let mut best: Option<(&Candidate, Cause)> = None;
        for c in candidates {
            if c.rules.conditions.is_empty() || !self.eligible(c) || waiting == Some(c.id) {
                continue;
            }
            if best.is_some_and(|(b, _)| b.rules.priority >= c.rules.priority) {
                continue;
            }
            if let Some(cause) = holds(c.rules, facts) {
                best = Some((c, cause));
            }
        }
        // A delayed start waits unless something of higher priority may start.
        let waiting_priority = waiting
            .and_then(|id| candidates.iter().find(|c| c.id == id))
            .map(|c| c.rules.priority);
        if let (Some(w), Some((b, _))) = (waiting_priority, best) {
            if w >= b.rules.priority {
                return None;
            }
        }
        let (c, cause) = best?;
        if c.rules.delay_ms > 0 {
            self.next_timer += 1;
            let timer = TIMER_BASE + self.next_timer;
            self.pending = Some(Pending {
                timer,
                id: c.id.to_string(),
                due: false,
            });
            return Some(Decision::Schedule {
                timer,
                ms: c.rules.delay_ms,
            });
        }
        self.started_here.push(c.id.to_string());
        self.recent.push((c.id.to_string(), now));
        Some(Decision::Start {
            id: c.id.to_string(),
            cause,
        })
    }
}

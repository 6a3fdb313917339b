//! The page and user that content tests set up by hand: the one fake of
//! [`Facts`] the condition, checklist, flow and auto-start tests share.

use super::conditions::{ContentKind, ContentStatus, EventLog, Facts, Scope};
use crate::core::json::Json;

/// What conditions see, as plain fields.
pub(super) struct World {
    /// The page URL.
    pub url: String,
    /// The user's traits (an object).
    pub user: Json,
    /// The company's traits (an object).
    pub company: Json,
    /// The user's event log.
    pub log: EventLog,
    /// Flow and checklist history; anything not listed is unseen.
    pub content: Vec<(ContentKind, String, ContentStatus)>,
    /// Selectors that match an element now.
    pub elements: Vec<String>,
    /// The clock.
    pub now: u64,
}

impl World {
    /// A page at `url`, at `now`, with no user, company, events or history.
    pub fn new(url: &str, now: u64) -> World {
        World {
            url: url.into(),
            user: Json::Object(Vec::new()),
            company: Json::Object(Vec::new()),
            log: EventLog::new(),
            content: Vec::new(),
            elements: Vec::new(),
            now,
        }
    }
}

/// A [`ContentStatus`] in one line.
pub(super) fn status(seen: bool, completed: bool, active: bool) -> ContentStatus {
    ContentStatus {
        seen,
        completed,
        active,
    }
}

impl Facts for World {
    fn url(&self) -> &str {
        &self.url
    }
    fn attribute(&self, scope: Scope, name: &str) -> Option<&Json> {
        match scope {
            Scope::User => self.user.get(name),
            Scope::Company => self.company.get(name),
        }
    }
    fn events(&self) -> &EventLog {
        &self.log
    }
    fn content(&self, kind: ContentKind, id: &str) -> ContentStatus {
        self.content
            .iter()
            .find(|(k, i, _)| *k == kind && i == id)
            .map(|(_, _, s)| s.clone())
            .unwrap_or_default()
    }
    fn element_present(&self, selector: &str) -> bool {
        self.elements.iter().any(|s| s == selector)
    }
    fn now_ms(&self) -> u64 {
        self.now
    }
}

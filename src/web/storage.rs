//! localStorage and cookies, shared with analytics.js, with a memory fallback when
//! storage is unavailable (private mode, disabled, sandboxed frames) or full.

#[allow(unused_imports)]
use crate::prelude::*;

use super::abi;
use crate::core::client::Storage as ClientStorage;
use crate::core::cookie;
use crate::core::identity::{
    decode_stored_id, decode_stored_signature, decode_stored_traits, encode_stored_signature,
    Identity, SIGNATURE_KEY,
};
use crate::core::json::{write_string, Json};

/// `js/core.js`'s storage areas.
const LOCAL: u32 = 0;
const SESSION: u32 = 1;

/// Key/value storage: localStorage when it works, memory otherwise.
pub struct Store {
    /// Whether localStorage works (else `memory` holds what it would).
    local: bool,
    /// The fallback: few keys (identity, a heartbeat, queue chunks), so a list will do.
    memory: Vec<(String, String)>,
    cookie_domain: Option<String>,
}

impl Store {
    /// Opens localStorage (probing that writes work) and finds the cookie domain
    /// for the page's `hostname`.
    pub fn open(hostname: &str) -> Store {
        let probe = "segflow:probe";
        let local = abi::store_set(LOCAL, probe, "1");
        abi::store_remove(LOCAL, probe);
        if !local {
            abi::warn(
                "segflow: localStorage is unavailable; queued events are kept in memory only",
            );
        }
        let mut store = Store {
            local,
            memory: Vec::new(),
            cookie_domain: None,
        };
        store.cookie_domain = store.probe_cookie_domain(hostname);
        store
    }

    /// Reads a key.
    pub fn get(&self, key: &str) -> Option<String> {
        if self.local {
            return abi::store_get(LOCAL, key);
        }
        self.memory
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Writes a key; returns false when storage refused (quota), never throws.
    pub fn set(&mut self, key: &str, value: &str) -> bool {
        if self.local {
            return abi::store_set(LOCAL, key, value);
        }
        match self.memory.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.memory.push((key.to_owned(), value.to_owned())),
        }
        true
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) {
        if self.local {
            abi::store_remove(LOCAL, key)
        } else {
            self.memory.retain(|(k, _)| k != key)
        }
    }

    /// Every key that starts with `prefix`.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        if self.local {
            // A JSON array (keys may hold any character).
            return match crate::core::json::parse(&abi::store_keys(prefix)) {
                Ok(Json::Array(keys)) => keys
                    .into_iter()
                    .filter_map(|k| match k {
                        Json::String(k) => Some(k),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
        }
        self.memory
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Reads a sessionStorage key (`None` also when sessionStorage is unavailable).
    pub fn session_get(&self, key: &str) -> Option<String> {
        abi::store_get(SESSION, key)
    }

    /// Writes a sessionStorage key, ignoring failures (a new tab id next load).
    pub fn session_set(&self, key: &str, value: &str) {
        abi::store_set(SESSION, key, value);
    }

    /// Reads a cookie (decoding `%XX` escapes).
    pub fn cookie(&self, name: &str) -> Option<String> {
        cookie::read(&abi::cookie_get(), name)
    }

    fn write_cookie(&self, name: &str, value: &str, max_age: u32, domain: Option<&str>) {
        abi::cookie_set(&cookie::assignment(name, value, max_age, domain));
    }

    /// Sets a cookie for a year on the highest domain the page may set.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.write_cookie(name, value, cookie::MAX_AGE, self.cookie_domain.as_deref());
    }

    /// Removes a cookie.
    pub fn remove_cookie(&self, name: &str) {
        self.write_cookie(name, "", 0, self.cookie_domain.as_deref());
    }

    /// The highest domain a cookie can be set on (`example.com` for
    /// `app.eu.example.com`), found as analytics.js does: by setting a test cookie on
    /// each candidate, top first. None for IP addresses and single-label hosts.
    fn probe_cookie_domain(&self, host: &str) -> Option<String> {
        for candidate in cookie::domain_candidates(host) {
            self.write_cookie("segflow_tld_probe", "1", 60, Some(&candidate));
            if self.cookie("segflow_tld_probe").is_some() {
                self.write_cookie("segflow_tld_probe", "", 0, Some(&candidate));
                return Some(candidate);
            }
        }
        None
    }

    /// Reads the identity analytics.js (or an earlier segflow) stored: localStorage
    /// first, then cookies; values plain or JSON-encoded. A missing anonymous id is
    /// created with `new_id` and stored at once, so analytics.js adopts it too.
    pub fn load_identity(&mut self, new_id: impl FnOnce() -> String) -> Identity {
        let read = |k: &str| {
            self.get(k)
                .as_deref()
                .and_then(decode_stored_id)
                .or_else(|| self.cookie(k).as_deref().and_then(decode_stored_id))
        };
        let anonymous = read("ajs_anonymous_id");
        let user = read("ajs_user_id");
        let group = read("ajs_group_id");
        let fresh = anonymous.is_none();
        let mut id = Identity::new(anonymous.unwrap_or_else(new_id));
        id.user_id = user;
        id.group_id = group;
        id.user_traits = decode_stored_traits(self.get("ajs_user_traits").as_deref());
        id.signature = self
            .get(SIGNATURE_KEY)
            .and_then(|t| decode_stored_signature(&t, id.user_id.as_deref()));
        id.group_traits = decode_stored_traits(self.get("ajs_group_properties").as_deref());
        if fresh {
            self.save_identity(&id);
        }
        id
    }

    fn save_id(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => {
                let mut encoded = String::with_capacity(v.len() + 2);
                write_string(v, &mut encoded);
                self.set(key, &encoded);
                self.set_cookie(key, v);
            }
            None => {
                self.remove(key);
                self.remove_cookie(key);
            }
        }
    }

    /// Stores the identity under analytics.js's keys: ids JSON-encoded in localStorage
    /// and plain in cookies, traits as JSON in localStorage.
    pub fn save_identity(&mut self, id: &Identity) {
        self.save_id("ajs_anonymous_id", Some(&id.anonymous_id));
        self.save_id("ajs_user_id", id.user_id.as_deref());
        self.save_id("ajs_group_id", id.group_id.as_deref());
        self.save_traits("ajs_user_traits", &id.user_traits);
        self.save_traits("ajs_group_properties", &id.group_traits);
        // segflow's own: the identity signature with the user id it is for.
        match encode_stored_signature(id) {
            Some(v) => {
                self.set(SIGNATURE_KEY, &v);
            }
            None => self.remove(SIGNATURE_KEY),
        }
    }

    fn save_traits(&mut self, key: &str, traits: &Json) {
        self.set(key, &traits.to_json());
    }
}

impl ClientStorage for Store {
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.keys_with_prefix(prefix)
    }

    fn get(&self, key: &str) -> Option<String> {
        Store::get(self, key)
    }

    fn set(&mut self, key: &str, value: &str) -> bool {
        Store::set(self, key, value)
    }

    fn remove(&mut self, key: &str) {
        Store::remove(self, key)
    }
}

//! Deterministic fault injection and the in-memory counters of `/api/stats`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::config::FaultConfig;

/// SplitMix64: tiny, seedable, good enough for fault draws and id suffixes.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What to do to one ingestion request instead of handling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer 429 with `Retry-After`.
    RateLimited,
    /// Close the connection without an answer.
    Dropped,
    /// Answer the configured failure status (500 by default).
    Failed,
    /// Never answer: hold the request open until the client goes away or the server
    /// stops.
    Hung,
}

/// Decides faults for ingestion requests, in arrival order.
#[derive(Debug)]
pub(crate) struct Faults {
    config: FaultConfig,
    counter: AtomicU64,
    rng: Mutex<SplitMix64>,
}

impl Faults {
    /// Fault injection following `config`.
    pub fn new(config: FaultConfig) -> Self {
        let rng = SplitMix64::new(config.seed);
        Faults {
            config,
            counter: AtomicU64::new(0),
            rng: Mutex::new(rng),
        }
    }

    /// Delay before handling each ingestion request.
    pub fn latency_ms(&self) -> u64 {
        self.config.latency_ms
    }

    /// Status and optional `Retry-After` seconds of injected failures.
    pub fn failure(&self) -> (u16, Option<u64>) {
        (self.config.fail_status, self.config.fail_retry_after)
    }

    /// Decides the fate of the next ingestion request: hanging (listed request
    /// numbers) first, then rate limiting (every Nth request), then a drop draw, then
    /// a failure draw. Hung and rate-limited requests take no draw.
    pub fn decide(&self) -> Option<Fault> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        if self.config.hang_nth.contains(&n) {
            return Some(Fault::Hung);
        }
        if self.config.rate_limit_every > 0 && n.is_multiple_of(self.config.rate_limit_every) {
            return Some(Fault::RateLimited);
        }
        if self.config.drop_rate <= 0.0 && self.config.fail_rate <= 0.0 {
            return None;
        }
        let (drop_draw, fail_draw) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.next_f64(), rng.next_f64())
        };
        if drop_draw < self.config.drop_rate {
            Some(Fault::Dropped)
        } else if fail_draw < self.config.fail_rate {
            Some(Fault::Failed)
        } else {
            None
        }
    }
}

/// Counters since the process started (reported by `/api/stats` next to the
/// persistent counts from the database).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    failed: AtomicU64,
    rate_limited: AtomicU64,
    dropped: AtomicU64,
    hung: AtomicU64,
    delayed: AtomicU64,
    preflights: AtomicU64,
    rejected: Mutex<BTreeMap<String, u64>>,
    /// `POST /webhook/{writeKey}`: messages accepted, of which duplicates, and
    /// refusals by error code.
    webhook_accepted: AtomicU64,
    webhook_duplicates: AtomicU64,
    webhook_rejected: Mutex<BTreeMap<String, u64>>,
    /// `GET /v1/state`: entries served, and refusals by error code.
    state_served: AtomicU64,
    state_refused: Mutex<BTreeMap<String, u64>>,
}

/// Adds one to `map[code]`.
fn tally(map: &Mutex<BTreeMap<String, u64>>, code: &str) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    *map.entry(code.to_string()).or_insert(0) += 1;
}

fn read(map: &Mutex<BTreeMap<String, u64>>) -> Value {
    json!(map.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

impl Stats {
    /// Counts one ingestion request.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one CORS preflight (`OPTIONS` on any path).
    pub fn preflight(&self) {
        self.preflights.fetch_add(1, Ordering::Relaxed);
    }

    /// CORS preflights received since start.
    pub fn preflights(&self) -> u64 {
        self.preflights.load(Ordering::Relaxed)
    }

    /// Counts one injected delay.
    pub fn delayed(&self) {
        self.delayed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one injected fault.
    pub fn fault(&self, fault: Fault) {
        let counter = match fault {
            Fault::RateLimited => &self.rate_limited,
            Fault::Dropped => &self.dropped,
            Fault::Failed => &self.failed,
            Fault::Hung => &self.hung,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `count` rejections for `reason`.
    pub fn rejected(&self, reason: &str, count: u64) {
        if count == 0 {
            return;
        }
        let mut map = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(reason.to_string()).or_insert(0) += count;
    }

    /// Counts one webhook message: accepted (`Ok(duplicate)`) or refused with
    /// an error code.
    pub fn webhook(&self, outcome: Result<bool, &str>) {
        match outcome {
            Ok(duplicate) => {
                self.webhook_accepted.fetch_add(1, Ordering::Relaxed);
                if duplicate {
                    self.webhook_duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(code) => tally(&self.webhook_rejected, code),
        }
    }

    /// Counts one `GET /v1/state`: served, or refused with an error code.
    pub fn state(&self, outcome: Result<(), &str>) {
        match outcome {
            Ok(()) => {
                self.state_served.fetch_add(1, Ordering::Relaxed);
            }
            Err(code) => tally(&self.state_refused, code),
        }
    }

    /// The `webhook` and `state` objects of `/api/stats`.
    pub fn destination(&self) -> (Value, Value) {
        (
            json!({
                "accepted": self.webhook_accepted.load(Ordering::Relaxed),
                "duplicates": self.webhook_duplicates.load(Ordering::Relaxed),
                "rejected": read(&self.webhook_rejected),
            }),
            json!({
                "served": self.state_served.load(Ordering::Relaxed),
                "refused": read(&self.state_refused),
            }),
        )
    }

    /// The in-memory part of `/api/stats`.
    pub fn snapshot(&self) -> (u64, Value, Value) {
        let rejected = self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let faults = json!({
            "failed": self.failed.load(Ordering::Relaxed),
            "rateLimited": self.rate_limited.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
            "hung": self.hung.load(Ordering::Relaxed),
            "delayed": self.delayed.load(Ordering::Relaxed),
        });
        (
            self.requests.load(Ordering::Relaxed),
            json!(rejected),
            faults,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(config: FaultConfig) -> Vec<Option<Fault>> {
        let f = Faults::new(config);
        (0..1000).map(|_| f.decide()).collect()
    }

    #[test]
    fn rate_limit_every_third() {
        let got = faults(FaultConfig {
            rate_limit_every: 3,
            ..FaultConfig::default()
        });
        for (i, fault) in got.iter().enumerate() {
            let expected = ((i + 1) % 3 == 0).then_some(Fault::RateLimited);
            assert_eq!(*fault, expected, "request {}", i + 1);
        }
    }

    #[test]
    fn rates_are_seeded_and_roughly_right() {
        let config = FaultConfig {
            fail_rate: 0.3,
            drop_rate: 0.2,
            seed: 7,
            ..FaultConfig::default()
        };
        let a = faults(config.clone());
        assert_eq!(a, faults(config.clone()), "same seed, same faults");
        let other = faults(FaultConfig { seed: 8, ..config });
        assert_ne!(a, other, "another seed, other faults");
        let dropped = a.iter().filter(|f| **f == Some(Fault::Dropped)).count();
        let failed = a.iter().filter(|f| **f == Some(Fault::Failed)).count();
        assert!((150..250).contains(&dropped), "dropped {dropped}");
        // 30% of the 80% not dropped.
        assert!((190..290).contains(&failed), "failed {failed}");
    }

    #[test]
    fn hang_nth_comes_first_and_takes_no_draw() {
        let got = faults(FaultConfig {
            hang_nth: vec![2, 6, 7],
            rate_limit_every: 3,
            ..FaultConfig::default()
        });
        let hung: Vec<usize> = (0..got.len())
            .filter(|&i| got[i] == Some(Fault::Hung))
            .map(|i| i + 1)
            .collect();
        assert_eq!(hung, [2, 6, 7]);
        assert_eq!(got[2], Some(Fault::RateLimited), "request 3");
        assert_eq!(got[8], Some(Fault::RateLimited), "request 9");

        // The draws of the other requests are those of a run without hangs.
        let seeded = FaultConfig {
            fail_rate: 0.5,
            seed: 3,
            ..FaultConfig::default()
        };
        let plain = faults(seeded.clone());
        let with_hang = faults(FaultConfig {
            hang_nth: vec![1],
            ..seeded
        });
        assert_eq!(with_hang[0], Some(Fault::Hung));
        assert_eq!(with_hang[1..], plain[..plain.len() - 1]);
    }

    #[test]
    fn extremes() {
        let all = faults(FaultConfig {
            fail_rate: 1.0,
            ..FaultConfig::default()
        });
        assert!(all.iter().all(|f| *f == Some(Fault::Failed)));
        let none = faults(FaultConfig::default());
        assert!(none.iter().all(Option::is_none));
    }
}

//! Token-bucket rate limiting per user (authenticated requests) and per IP address (login
//! and registration attempts). The table of buckets is bounded: when it is full, buckets that
//! have refilled completely carry no information and are dropped first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::error::MatrixError;
use crate::config::RateLimitConfig;

/// The most buckets kept per class; beyond it the table is pruned.
const MAX_BUCKETS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    Client,
    Auth,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<(LimitClass, String), Bucket>>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn rate_and_burst(&self, class: LimitClass) -> (f64, f64) {
        match class {
            LimitClass::Client => (
                self.config.client_per_second,
                f64::from(self.config.client_burst.max(1)),
            ),
            LimitClass::Auth => (
                self.config.auth_per_second,
                f64::from(self.config.auth_burst.max(1)),
            ),
        }
    }

    /// Takes one token from `key`'s bucket, or fails with `M_LIMIT_EXCEEDED` saying when
    /// the next token will be there.
    pub fn check(&self, class: LimitClass, key: &str) -> Result<(), MatrixError> {
        self.check_at(class, key, Instant::now())
    }

    fn check_at(&self, class: LimitClass, key: &str, now: Instant) -> Result<(), MatrixError> {
        if !self.config.enabled {
            return Ok(());
        }
        let (rate, burst) = self.rate_and_burst(class);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&(class, key.to_owned())) {
            prune(&mut buckets, now, |class| self.rate_and_burst(class));
        }
        let bucket = buckets.entry((class, key.to_owned())).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = ((1.0 - bucket.tokens) / rate * 1000.0).ceil();
            Err(MatrixError::limit_exceeded(wait_ms as u64))
        }
    }
}

/// Drops full buckets; if every bucket is in use, drops them all rather than grow.
fn prune(
    buckets: &mut HashMap<(LimitClass, String), Bucket>,
    now: Instant,
    rate_and_burst: impl Fn(LimitClass) -> (f64, f64),
) {
    buckets.retain(|(class, _), bucket| {
        let (rate, burst) = rate_and_burst(*class);
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens + elapsed * rate < burst
    });
    if buckets.len() >= MAX_BUCKETS {
        buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(enabled: bool) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            enabled,
            client_per_second: 2.0,
            client_burst: 3,
            auth_per_second: 1.0,
            auth_burst: 1,
        })
    }

    #[test]
    fn burst_then_refill() {
        let limiter = limiter(true);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.check_at(LimitClass::Client, "@a:x", start).unwrap();
        }
        let error = limiter
            .check_at(LimitClass::Client, "@a:x", start)
            .unwrap_err();
        assert_eq!(error.errcode, "M_LIMIT_EXCEEDED");
        assert_eq!(error.status.as_u16(), 429);
        assert_eq!(error.extra["retry_after_ms"], 500);
        limiter
            .check_at(LimitClass::Client, "@b:x", start)
            .expect("other users have their own bucket");
        limiter
            .check_at(LimitClass::Auth, "@a:x", start)
            .expect("classes have their own buckets");
        limiter
            .check_at(
                LimitClass::Client,
                "@a:x",
                start + Duration::from_millis(500),
            )
            .expect("refilled one token");
    }

    #[test]
    fn disabled_never_limits() {
        let limiter = limiter(false);
        let now = Instant::now();
        for _ in 0..100 {
            limiter.check_at(LimitClass::Auth, "1.2.3.4", now).unwrap();
        }
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = limiter(true);
        let now = Instant::now();
        for index in 0..MAX_BUCKETS + 10 {
            limiter
                .check_at(LimitClass::Auth, &index.to_string(), now)
                .unwrap();
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_BUCKETS);
    }
}

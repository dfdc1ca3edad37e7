//! Each tenant's spans a second at ingest, so one credential's flood cannot take the writer from
//! the others. A token bucket per tenant: it holds at most one second's worth, refills
//! continuously, and an export is admitted while the bucket is not empty — it may then go into
//! debt, so an export larger than a second's worth still passes, and the debt holds the
//! tenant's next exports back for as long as it takes to repay.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Tenants remembered at most; past it, those whose buckets are full again are forgotten.
const MAX_TENANTS: usize = 10_000;

/// The buckets of every tenant.
#[derive(Debug)]
pub struct TenantRates {
    per_second: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Spans that may still be sent; negative while in debt.
    tokens: f64,
    at: Instant,
}

impl TenantRates {
    /// `per_second == 0`: no limit.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `spans` from `tenant`'s bucket, or says how long to wait before it has room.
    pub fn take(&self, tenant: &str, spans: usize) -> Result<(), Duration> {
        self.take_at(tenant, spans, Instant::now())
    }

    fn take_at(&self, tenant: &str, spans: usize, now: Instant) -> Result<(), Duration> {
        if self.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TENANTS && !buckets.contains_key(tenant) {
            // A full bucket says nothing a new one would not.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < rate);
        }
        let bucket = buckets.entry(tenant.to_owned()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refilled).min(rate);
        bucket.at = now;
        if bucket.tokens <= 0.0 {
            // Whole seconds, at least one: what Retry-After can say.
            let wait = (-bucket.tokens / rate).ceil().max(1.0);
            return Err(Duration::from_secs_f64(wait));
        }
        #[allow(clippy::cast_precision_loss, reason = "span counts are far below 2^52")]
        let spans = spans as f64;
        bucket.tokens -= spans;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_over_its_rate_waits_while_another_goes_on() {
        let rates = TenantRates::new(100);
        let t0 = Instant::now();
        assert_eq!(rates.take_at("acme", 60, t0), Ok(()));
        assert_eq!(rates.take_at("acme", 60, t0), Ok(()));
        // 20 in debt at 100 a second: a second's wait, the least Retry-After says.
        assert_eq!(rates.take_at("acme", 1, t0), Err(Duration::from_secs(1)));
        assert_eq!(rates.take_at("globex", 100, t0), Ok(()));
        // A quarter of a second repays the debt and leaves room.
        assert_eq!(
            rates.take_at("acme", 1, t0 + Duration::from_millis(250)),
            Ok(())
        );
    }

    #[test]
    fn an_export_larger_than_a_second_passes_and_its_debt_is_repaid_first() {
        let rates = TenantRates::new(100);
        let t0 = Instant::now();
        assert_eq!(rates.take_at("acme", 450, t0), Ok(()));
        assert_eq!(
            rates.take_at("acme", 1, t0 + Duration::from_secs(1)),
            Err(Duration::from_secs(3))
        );
        assert_eq!(
            rates.take_at("acme", 1, t0 + Duration::from_millis(3600)),
            Ok(())
        );
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let rates = TenantRates::new(0);
        assert_eq!(rates.take("acme", usize::MAX), Ok(()));
    }
}

//! A circuit breaker per backend: closed → open after N consecutive failures or a failure ratio
//! over a window of recent calls; fast-fail while open; one half-open probe after a cool-down;
//! closed again when the probe succeeds.
//!
//! Time comes from `tokio::time::Instant`, so tests drive it with a paused clock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Open after this many failures in a row.
    pub consecutive_failures: u32,
    /// Or open when at least this share of the last `window` calls failed…
    pub failure_ratio: f64,
    /// …counting only once the window holds at least `min_calls` calls.
    pub min_calls: usize,
    /// How many recent calls the ratio looks at.
    pub window: usize,
    /// How long to stay open before letting one probe through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_ratio: 0.5,
            min_calls: 20,
            window: 50,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The observable state, as the `orcheo_trace_backend_circuit_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

impl CircuitState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        consecutive: u32,
        recent: VecDeque<bool>,
    },
    Open {
        until: Instant,
    },
    /// One probe is out; everyone else fails fast until it comes back.
    HalfOpen,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Fail fast; the breaker will let a probe through after this long.
    Rejected {
        retry_after: Duration,
    },
}

/// The breaker. Cheap to consult: one uncontended lock, no allocation.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::Closed {
                consecutive: 0,
                recent: VecDeque::with_capacity(config.window),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent state (every update is one
        // assignment), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks to make a call.
    pub fn admit(&self) -> Admission {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Admission::Allowed,
            Inner::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *inner = Inner::HalfOpen;
                    Admission::Allowed
                } else {
                    Admission::Rejected {
                        retry_after: until - now,
                    }
                }
            }
            Inner::HalfOpen => Admission::Rejected {
                retry_after: self.config.cool_down,
            },
        }
    }

    /// Reports how an admitted call ended (`true`: the store answered).
    pub fn record(&self, success: bool) {
        let mut inner = self.lock();
        let open = Inner::Open {
            until: Instant::now() + self.config.cool_down,
        };
        match &mut *inner {
            Inner::HalfOpen if success => {
                *inner = Inner::Closed {
                    consecutive: 0,
                    recent: VecDeque::with_capacity(self.config.window),
                };
            }
            Inner::HalfOpen => *inner = open,
            // A call admitted before the breaker opened: its outcome changes nothing.
            Inner::Open { .. } => {}
            Inner::Closed {
                consecutive,
                recent,
            } => {
                *consecutive = if success { 0 } else { *consecutive + 1 };
                if recent.len() == self.config.window {
                    recent.pop_front();
                }
                recent.push_back(success);
                let failures = recent.iter().filter(|ok| !**ok).count();
                let ratio_tripped = recent.len() >= self.config.min_calls
                    && failures as f64 >= self.config.failure_ratio * recent.len() as f64;
                if *consecutive >= self.config.consecutive_failures || ratio_tripped {
                    *inner = open;
                }
            }
        }
    }

    /// The state now (an open breaker whose cool-down has passed reads as half-open).
    pub fn state(&self) -> CircuitState {
        match *self.lock() {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::HalfOpen => CircuitState::HalfOpen,
            Inner::Open { until } if Instant::now() >= until => CircuitState::HalfOpen,
            Inner::Open { .. } => CircuitState::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            consecutive_failures: 3,
            failure_ratio: 0.5,
            min_calls: 6,
            window: 10,
            cool_down: Duration::from_secs(10),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_recovers_through_a_probe() {
        let b = breaker();
        for _ in 0..3 {
            assert_eq!(b.admit(), Admission::Allowed);
            b.record(false);
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert!(
            matches!(b.admit(), Admission::Rejected { retry_after } if retry_after == Duration::from_secs(10))
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(b.admit(), Admission::Allowed, "one probe");
        assert!(
            matches!(b.admit(), Admission::Rejected { .. }),
            "only one probe at a time"
        );
        b.record(true);
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.admit(), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_it_again_for_a_full_cool_down() {
        let b = breaker();
        for _ in 0..3 {
            b.record(false);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.admit(), Admission::Allowed);
        b.record(false);
        assert_eq!(b.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(matches!(b.admit(), Admission::Rejected { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_failure_ratio_without_a_streak() {
        let b = breaker();
        // Alternating outcomes never make three failures in a row.
        for i in 0..5 {
            b.record(i % 2 == 0);
        }
        assert_eq!(b.state(), CircuitState::Closed, "fewer than min_calls");
        b.record(false);
        assert_eq!(b.state(), CircuitState::Open, "3 of 6 failed");
    }

    #[tokio::test(start_paused = true)]
    async fn successes_reset_the_streak() {
        let b = breaker();
        for _ in 0..10 {
            b.record(false);
            b.record(true);
            b.record(true);
        }
        assert_eq!(b.state(), CircuitState::Closed);
    }
}

//! Any [`TraceSource`] wrapped in what a fetch from a shared store needs: a time limit per
//! attempt and overall, retries with exponential backoff and jitter (connection errors, 5xx and
//! 429 only), a circuit breaker, and the fetch metrics.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use tokio::time::Instant;

use crate::breaker::{Admission, BreakerConfig, CircuitBreaker};
use crate::config::RetryConfig;
use crate::error::{FetchError, UnavailableReason};
use crate::metrics::FetchMetrics;
use crate::{BoxFuture, FetchRequest, FetchedTrace, SearchRequest, TextSearchRequest, TraceSource};
use orcheo_trace_model::TraceId;

/// How long a store asked to be left alone (`Retry-After`), if it did.
fn stated_wait(error: &FetchError) -> Option<Duration> {
    match error {
        FetchError::Unavailable {
            retry_after: Some(after),
            reason,
            ..
        } if *reason != UnavailableReason::CircuitOpen => Some(*after),
        _ => None,
    }
}

/// Limits of one fetch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub attempt_timeout: Duration,
    pub overall_timeout: Duration,
    pub retry: RetryConfig,
}

/// A source with timeouts, retries, a circuit breaker and metrics.
#[derive(Debug)]
pub struct ResilientSource<S> {
    inner: S,
    limits: Limits,
    breaker: CircuitBreaker,
    metrics: FetchMetrics,
}

impl<S: TraceSource> ResilientSource<S> {
    pub fn new(inner: S, limits: Limits, breaker: BreakerConfig, metrics: FetchMetrics) -> Self {
        let source = Self {
            inner,
            limits,
            breaker: CircuitBreaker::new(breaker),
            metrics,
        };
        source
            .metrics
            .set_circuit(source.inner.name(), source.breaker.state());
        source
    }

    /// The breaker, for health reporting.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// One attempt: asks the breaker, runs under the attempt time limit, tells the breaker.
    async fn attempt<T, Fut>(&self, call: &impl Fn() -> Fut) -> Result<T, FetchError>
    where
        Fut: Future<Output = Result<T, FetchError>>,
    {
        if let Admission::Rejected { retry_after } = self.breaker.admit() {
            return Err(FetchError::Unavailable {
                reason: UnavailableReason::CircuitOpen,
                retry_after: Some(retry_after),
                detail: format!(
                    "{} failed repeatedly; not asking it for now",
                    self.inner.name()
                ),
            });
        }
        let result = match tokio::time::timeout(self.limits.attempt_timeout, call()).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::unavailable(
                UnavailableReason::Timeout,
                format!(
                    "no answer within {} ms",
                    self.limits.attempt_timeout.as_millis()
                ),
            )),
        };
        self.breaker
            .record(!result.as_ref().is_err_and(FetchError::is_store_failure));
        result
    }

    /// Runs `call` (a fetch or a search) with the retries, waits and time limits of one fetch.
    async fn with_retries<T, Fut>(
        &self,
        call: impl Fn() -> Fut,
        what: &str,
    ) -> Result<T, FetchError>
    where
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let retry = self.limits.retry;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(retry.initial_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_attempts.saturating_sub(1) as usize);
        if retry.jitter {
            backoff = backoff.with_jitter();
        }
        // The last wait a store asked for, in milliseconds (0: none), kept for a fetch that
        // runs out of time while retrying: its caller is told the store's wait, not a guess.
        let stated = AtomicU64::new(0);
        let attempts = (|| self.attempt(&call))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            // A store that says when to come back is believed: within the delay cap it is
            // waited for here; past it, asking again sooner is pointless, so the fetch fails
            // now and its caller is told the store's wait.
            .when(|error| {
                error.is_retryable()
                    && stated_wait(error).is_none_or(|after| after <= retry.max_delay)
            })
            .adjust(|error, delay| match (stated_wait(error), delay) {
                (Some(after), Some(delay)) => Some(delay.max(after.min(retry.max_delay))),
                (_, delay) => delay,
            })
            .notify(|error, _| {
                if let Some(after) = stated_wait(error) {
                    let millis = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
                    stated.store(millis.max(1), Ordering::Relaxed);
                }
            });
        match tokio::time::timeout(self.limits.overall_timeout, attempts).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Unavailable {
                reason: UnavailableReason::Timeout,
                retry_after: match stated.load(Ordering::Relaxed) {
                    0 => None,
                    millis => Some(Duration::from_millis(millis)),
                },
                detail: format!(
                    "no {what} within {} ms, retries included",
                    self.limits.overall_timeout.as_millis()
                ),
            }),
        }
    }

    fn observe(&self, started: Instant, result: &Result<FetchedTrace, FetchError>) {
        let backend = self.inner.name();
        let outcome = match result {
            Ok(_) => "ok",
            Err(FetchError::NotFound) => "not_found",
            Err(_) => "error",
        };
        self.metrics
            .duration
            .with_label_values(&[backend, outcome])
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = result {
            self.metrics
                .failures
                .with_label_values(&[backend, error.reason_label()])
                .inc();
        }
        let reached = !matches!(result, Err(FetchError::Unavailable { .. }));
        self.metrics
            .up
            .with_label_values(&[backend])
            .set(i64::from(reached));
        self.metrics.set_circuit(backend, self.breaker.state());
    }
}

impl<S: TraceSource> TraceSource for ResilientSource<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn fetch<'a>(
        &'a self,
        request: &'a FetchRequest,
    ) -> BoxFuture<'a, Result<FetchedTrace, FetchError>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self
                .with_retries(|| self.inner.fetch(request), "trace")
                .await;
            self.observe(started, &result);
            result
        })
    }

    fn can_search(&self) -> bool {
        self.inner.can_search()
    }

    fn search<'a>(
        &'a self,
        request: &'a SearchRequest,
    ) -> BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self
                .with_retries(|| self.inner.search(request), "search answer")
                .await;
            let outcome = match &result {
                Ok(hits) if hits.is_empty() => "none",
                Ok(_) => "ok",
                Err(_) => "error",
            };
            let backend = self.inner.name();
            self.metrics
                .search_duration
                .with_label_values(&[backend, outcome])
                .observe(started.elapsed().as_secs_f64());
            let reached = !matches!(result, Err(FetchError::Unavailable { .. }));
            self.metrics
                .up
                .with_label_values(&[backend])
                .set(i64::from(reached));
            self.metrics.set_circuit(backend, self.breaker.state());
            result
        })
    }

    fn can_search_text(&self) -> bool {
        self.inner.can_search_text()
    }

    /// Retried and bounded as a search; a hint, so not counted in the search metrics.
    fn search_text<'a>(
        &'a self,
        request: &'a TextSearchRequest,
    ) -> BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
        Box::pin(async move {
            self.with_retries(|| self.inner.search_text(request), "search answer")
                .await
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async move {
            let result =
                match tokio::time::timeout(self.limits.attempt_timeout, self.inner.probe()).await {
                    Ok(result) => result,
                    Err(_) => Err(FetchError::unavailable(
                        UnavailableReason::Timeout,
                        "probe timed out",
                    )),
                };
            let reached = !matches!(result, Err(FetchError::Unavailable { .. }));
            self.metrics
                .up
                .with_label_values(&[self.inner.name()])
                .set(i64::from(reached));
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use orcheo_trace_model::TraceId;

    use crate::CircuitState;

    use super::*;

    /// A source that answers from a script: each entry is (delay, result).
    struct Scripted {
        script: Mutex<VecDeque<(Duration, Result<(), FetchError>)>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(script: Vec<(Duration, Result<(), FetchError>)>) -> Self {
            Self {
                script: Mutex::new(script.into()),
                calls: AtomicUsize::new(0),
            }
        }
    }

    impl TraceSource for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn fetch<'a>(
            &'a self,
            _: &'a FetchRequest,
        ) -> BoxFuture<'a, Result<FetchedTrace, FetchError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.script.lock().unwrap().pop_front();
            Box::pin(async move {
                let (delay, result) = next.unwrap_or((Duration::ZERO, Ok(())));
                tokio::time::sleep(delay).await;
                result.map(|()| FetchedTrace::default())
            })
        }
        fn probe(&self) -> BoxFuture<'_, Result<(), FetchError>> {
            Box::pin(async { Ok(()) })
        }
        fn can_search(&self) -> bool {
            true
        }
        fn search<'a>(
            &'a self,
            _: &'a SearchRequest,
        ) -> BoxFuture<'a, Result<Vec<TraceId>, FetchError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.script.lock().unwrap().pop_front();
            Box::pin(async move {
                let (delay, result) = next.unwrap_or((Duration::ZERO, Ok(())));
                tokio::time::sleep(delay).await;
                result.map(|()| vec![TraceId::from_hex("1").unwrap()])
            })
        }
    }

    fn server_error() -> Result<(), FetchError> {
        Err(FetchError::unavailable(
            UnavailableReason::ServerError,
            "503",
        ))
    }

    fn source(script: Vec<(Duration, Result<(), FetchError>)>) -> ResilientSource<Scripted> {
        ResilientSource::new(
            Scripted::new(script),
            Limits {
                attempt_timeout: Duration::from_secs(1),
                overall_timeout: Duration::from_secs(5),
                retry: RetryConfig {
                    max_attempts: 3,
                    initial_delay: Duration::from_millis(100),
                    max_delay: Duration::from_secs(1),
                    jitter: false,
                },
            },
            BreakerConfig {
                consecutive_failures: 3,
                failure_ratio: 1.0,
                min_calls: 100,
                window: 100,
                cool_down: Duration::from_secs(30),
            },
            FetchMetrics::unregistered().unwrap(),
        )
    }

    fn request() -> FetchRequest {
        FetchRequest {
            trace_id: TraceId::from_hex("1").unwrap(),
            window: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_are_retried_with_backoff_until_success() {
        let s = source(vec![
            (Duration::ZERO, server_error()),
            (Duration::ZERO, server_error()),
        ]);
        let started = Instant::now();
        assert!(s.fetch(&request()).await.is_ok());
        assert_eq!(s.inner.calls.load(Ordering::SeqCst), 3);
        // 100 ms, then 200 ms between attempts (timers round up to the millisecond).
        let waited = started.elapsed().as_millis();
        assert!((300..=305).contains(&waited), "{waited} ms");
        let ok = s
            .metrics
            .duration
            .with_label_values(&["scripted", "ok"])
            .get_sample_count();
        assert_eq!(ok, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_and_not_found_are_not_retried() {
        for error in [
            FetchError::NotFound,
            FetchError::Unauthorized { status: 403 },
            FetchError::bad("garbage"),
        ] {
            let s = source(vec![(Duration::ZERO, Err(error.clone()))]);
            assert_eq!(s.fetch(&request()).await.unwrap_err(), error);
            assert_eq!(s.inner.calls.load(Ordering::SeqCst), 1, "{error}");
            assert_eq!(s.breaker.state(), CircuitState::Closed);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_times_out_and_is_retried() {
        let s = source(vec![(Duration::from_secs(10), Ok(()))]);
        assert!(s.fetch(&request()).await.is_ok());
        assert_eq!(s.inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_fetch_is_bounded_by_the_overall_timeout() {
        let slow = (Duration::from_secs(10), Ok(()));
        let s = source(vec![slow.clone(), slow.clone(), slow]);
        let started = Instant::now();
        let err = s.fetch(&request()).await.unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Unavailable {
                    reason: UnavailableReason::Timeout,
                    ..
                }
            ),
            "{err}"
        );
        assert!(started.elapsed() <= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_from_the_store_is_honoured_within_the_cap() {
        let limited = Err(FetchError::Unavailable {
            reason: UnavailableReason::RateLimited,
            retry_after: Some(Duration::from_millis(700)),
            detail: "429".into(),
        });
        let s = source(vec![(Duration::ZERO, limited)]);
        let started = Instant::now();
        assert!(s.fetch(&request()).await.is_ok());
        assert_eq!(started.elapsed(), Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_fails_fast_then_recovers_through_a_probe() {
        let s = source(vec![(Duration::ZERO, server_error()); 6]);
        // Three failed attempts in the first fetch open the breaker.
        assert!(s.fetch(&request()).await.is_err());
        assert_eq!(s.breaker.state(), CircuitState::Open);
        let calls = s.inner.calls.load(Ordering::SeqCst);
        let err = s.fetch(&request()).await.unwrap_err();
        assert!(matches!(
            err,
            FetchError::Unavailable {
                reason: UnavailableReason::CircuitOpen,
                retry_after: Some(_),
                ..
            }
        ));
        assert_eq!(
            s.inner.calls.load(Ordering::SeqCst),
            calls,
            "no call while open"
        );
        assert_eq!(
            s.metrics
                .circuit_state
                .with_label_values(&["scripted"])
                .get(),
            2
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        // The half-open probe fails: open again, one call made.
        assert!(s.fetch(&request()).await.is_err());
        assert_eq!(s.inner.calls.load(Ordering::SeqCst), calls + 1);
        assert_eq!(s.breaker.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(30)).await;
        // The store is back (script: two more failures queued, so drain them first).
        s.inner.script.lock().unwrap().clear();
        assert!(s.fetch(&request()).await.is_ok());
        assert_eq!(s.breaker.state(), CircuitState::Closed);
        assert_eq!(
            s.metrics
                .circuit_state
                .with_label_values(&["scripted"])
                .get(),
            0
        );
        assert_eq!(s.metrics.up.with_label_values(&["scripted"]).get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn searches_are_retried_bounded_and_stopped_by_the_breaker() {
        let s = source(vec![
            (Duration::ZERO, server_error()),
            (Duration::ZERO, server_error()),
        ]);
        let request = SearchRequest {
            key: "orcheo.execution.id".into(),
            value: "run_42".into(),
            window: crate::TimeWindow {
                start: orcheo_trace_model::Timestamp::from_unix_nanos(0),
                end: orcheo_trace_model::Timestamp::from_unix_nanos(1),
            },
            limit: 3,
        };
        assert!(s.can_search());
        assert_eq!(s.search(&request).await.unwrap().len(), 1);
        assert_eq!(s.inner.calls.load(Ordering::SeqCst), 3);
        let searched = s
            .metrics
            .search_duration
            .with_label_values(&["scripted", "ok"])
            .get_sample_count();
        assert_eq!(searched, 1);
        // Three failures in a row open the breaker for searches and fetches alike.
        s.inner
            .script
            .lock()
            .unwrap()
            .extend(vec![(Duration::ZERO, server_error()); 3]);
        assert!(s.search(&request).await.is_err());
        assert_eq!(s.breaker.state(), CircuitState::Open);
        let calls = s.inner.calls.load(Ordering::SeqCst);
        assert!(matches!(
            s.search(&request).await.unwrap_err(),
            FetchError::Unavailable {
                reason: UnavailableReason::CircuitOpen,
                ..
            }
        ));
        assert_eq!(
            s.inner.calls.load(Ordering::SeqCst),
            calls,
            "no call while open"
        );
    }
}

//! Every operation on SQLite (a temporary file) and on PostgreSQL (a fresh database per test,
//! from `ORCHEO_TEST_DATABASE_URL`, which CI always sets).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::Connection as _;
use diesel::RunQueryDsl as _;
use orcheo_trace_model::{
    ExecutionId, ExecutionStatus, SpanId, StatusCode, Timestamp, TokenUsage, TraceId,
};
use orcheo_trace_store::{
    CostBound, Cursor, ExecutionDetails, ListFilter, ModelTokens, NewExecution, PoolConfig,
    RunPricer, SearchField, SpanSummary, SpanText, Store, StoreError, SummaryTotals, TraceLink,
    UNASSIGNED_TENANT,
};

/// A migrated store, and what keeps its database alive.
struct TestDb {
    store: Store,
    sqlite_dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_drop.take()
            && let Ok(mut admin) = orcheo_trace_store::postgres_connection(&admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("trace.db").display());
    let store = Store::open(&url, PoolConfig::default()).unwrap();
    assert!(!store.migrate().unwrap().is_empty());
    TestDb {
        store,
        sqlite_dir: Some(dir),
        pg_drop: None,
    }
}

fn postgres() -> Option<TestDb> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let Ok(admin_url) = std::env::var("ORCHEO_TEST_DATABASE_URL") else {
        skip_postgres();
        return None;
    };
    let name = format!(
        "orcheo_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut admin = orcheo_trace_store::postgres_connection(&admin_url)
        .expect("ORCHEO_TEST_DATABASE_URL reachable");
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .unwrap();
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("URL with a database name");
    let store = Store::open(&format!("{base}/{name}"), PoolConfig::default()).unwrap();
    assert!(!store.migrate().unwrap().is_empty());
    Some(TestDb {
        store,
        sqlite_dir: None,
        pg_drop: Some((admin_url, name)),
    })
}

/// Says, where the test output shows it, that the running test's PostgreSQL half did not run;
/// in CI, which must run it, fails the test instead.
fn skip_postgres() {
    let current = std::thread::current();
    let test = current.name().unwrap_or("a store test");
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI must set ORCHEO_TEST_DATABASE_URL"
    );
    // Straight to stderr: the test harness captures `eprintln!`, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test} on PostgreSQL (no PostgreSQL server given, set ORCHEO_TEST_DATABASE_URL to run it)"
    );
}

/// Runs `test` on SQLite and, when configured, on PostgreSQL.
fn on_each_backend(test: impl Fn(&Store)) {
    let db = sqlite();
    test(&db.store);
    if let Some(db) = postgres() {
        test(&db.store);
    }
}

fn id(text: &str) -> ExecutionId {
    ExecutionId::new(text).unwrap()
}

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_770_000_000_000_000_000 + seconds * 1_000_000_000)
}

fn new(exec: &str, workflow: &str, started: u64) -> NewExecution {
    NewExecution {
        id: id(exec),
        workflow_id: Some(workflow.to_owned()),
        workflow_version: Some("3".into()),
        tenant: None,
        triggered_by: Some("manual".into()),
        started_at: at(started),
        trace: None,
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
fn start_with_trace_then_finish_round_trips() {
    on_each_backend(|store| {
        let mut execution = new("exec_1", "wf_1", 0);
        execution.trace = Some(TraceLink {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            traceparent: format!("00-{TRACE}-00f067aa0ba902b7-01"),
        });
        store.start_execution(&execution).unwrap();
        let running = store.execution(&id("exec_1")).unwrap().unwrap();
        assert_eq!(running.status, ExecutionStatus::Running);
        assert_eq!(running.tenant, "default");
        assert_eq!(running.trace_id.unwrap().to_string(), TRACE);
        assert_eq!(running.trace_started_at, Some(at(0)));
        assert_eq!(
            store
                .execution_by_trace_id(TraceId::from_hex(TRACE).unwrap())
                .unwrap()
                .unwrap()
                .id,
            id("exec_1")
        );

        store
            .finish_execution(
                &id("exec_1"),
                ExecutionStatus::Error,
                Some("SMTP refused"),
                at(12),
            )
            .unwrap();
        // A late second report does not overwrite the outcome.
        store
            .finish_execution(&id("exec_1"), ExecutionStatus::Completed, None, at(20))
            .unwrap();
        let done = store.execution(&id("exec_1")).unwrap().unwrap();
        assert_eq!(done.status, ExecutionStatus::Error);
        assert_eq!(done.error.as_deref(), Some("SMTP refused"));
        assert_eq!(
            (done.finished_at, done.trace_completed_at),
            (Some(at(12)), Some(at(12)))
        );
        assert_eq!(
            store.execution_tenant(&id("exec_1")).unwrap().as_deref(),
            Some("default")
        );
        assert_eq!(store.execution(&id("nope")).unwrap(), None);
        assert_eq!(store.execution_tenant(&id("nope")).unwrap(), None);
    });
}

#[test]
fn an_execution_once_owned_never_moves_to_another_tenant() {
    on_each_backend(|store| {
        let mut owned = new("exec_owned", "wf", 0);
        owned.tenant = Some("acme".into());
        store.start_execution(&owned).unwrap();
        let claim = ExecutionDetails {
            tenant: Some("globex".into()),
            workflow_id: Some("wf_renamed".into()),
            ..ExecutionDetails::default()
        };
        store.describe_execution(&id("exec_owned"), &claim).unwrap();
        let after = store.execution(&id("exec_owned")).unwrap().unwrap();
        assert_eq!(after.tenant, "acme");
        // Other details are still the root's to give.
        assert_eq!(after.workflow_id.as_deref(), Some("wf_renamed"));

        // A run known only from a node is unassigned until its root says whose it is.
        let mut unassigned = new("exec_node_first", "wf", 0);
        unassigned.tenant = Some(UNASSIGNED_TENANT.into());
        store.start_execution(&unassigned).unwrap();
        store
            .describe_execution(&id("exec_node_first"), &claim)
            .unwrap();
        let described = store.execution(&id("exec_node_first")).unwrap().unwrap();
        assert_eq!(described.tenant, "globex");
        let again = ExecutionDetails {
            tenant: Some("acme".into()),
            ..ExecutionDetails::default()
        };
        store
            .describe_execution(&id("exec_node_first"), &again)
            .unwrap();
        assert_eq!(
            store
                .execution_tenant(&id("exec_node_first"))
                .unwrap()
                .as_deref(),
            Some("globex")
        );
    });
}

#[test]
fn bad_input_gets_a_clear_error_and_writes_nothing() {
    on_each_backend(|store| {
        store.start_execution(&new("exec_1", "wf", 0)).unwrap();
        assert!(
            matches!(store.start_execution(&new("exec_1", "wf", 1)), Err(StoreError::Duplicate(d)) if d == "exec_1")
        );
        let mut long = new("exec_2", &"w".repeat(257), 0);
        assert!(matches!(
            store.start_execution(&long),
            Err(StoreError::Invalid {
                field: "workflow_id",
                ..
            })
        ));
        long.workflow_id = Some(String::new());
        assert!(matches!(
            store.start_execution(&long),
            Err(StoreError::Invalid {
                field: "workflow_id",
                ..
            })
        ));
        let mut bad_parent = new("exec_3", "wf", 0);
        bad_parent.trace = Some(TraceLink {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            traceparent: "00-abc".into(),
        });
        assert!(matches!(
            store.start_execution(&bad_parent),
            Err(StoreError::Invalid {
                field: "traceparent",
                ..
            })
        ));
        bad_parent.trace = Some(TraceLink {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01".into(),
        });
        assert!(matches!(
            store.start_execution(&bad_parent),
            Err(StoreError::Invalid {
                field: "traceparent",
                ..
            })
        ));
        assert!(store.execution(&id("exec_2")).unwrap().is_none());
        assert!(store.execution(&id("exec_3")).unwrap().is_none());
        assert!(matches!(
            store.finish_execution(&id("ghost"), ExecutionStatus::Completed, None, at(1)),
            Err(StoreError::UnknownExecution(_))
        ));
        assert!(matches!(
            store.finish_execution(&id("exec_1"), ExecutionStatus::Running, None, at(1)),
            Err(StoreError::Invalid {
                field: "status",
                ..
            })
        ));
        for bad in ["", "x", "12.", "abc.exec", "1.a/b"] {
            assert!(
                matches!(
                    Cursor::decode(bad),
                    Err(StoreError::Invalid {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    });
}

#[test]
fn listing_filters_and_pages_newest_first_without_gaps_or_repeats() {
    on_each_backend(|store| {
        for i in 0..25u64 {
            let mut e = new(
                &format!("exec_{i:02}"),
                if i % 2 == 0 { "wf_even" } else { "wf_odd" },
                i / 2,
            );
            e.tenant = Some(if i < 20 { "acme" } else { "globex" }.into());
            store.start_execution(&e).unwrap();
            if i % 5 == 0 {
                store
                    .finish_execution(&e.id, ExecutionStatus::Error, Some("boom"), at(100))
                    .unwrap();
            } else if i % 5 == 1 {
                store
                    .finish_execution(&e.id, ExecutionStatus::Completed, None, at(100))
                    .unwrap();
            }
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = store
                .list_executions(&ListFilter::default(), cursor.as_ref(), 10)
                .unwrap();
            seen.extend(page.into_iter().map(|e| (e.started_at, e.id.to_string())));
            match next {
                Some(c) => cursor = Some(Cursor::decode(&c.encode()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first, ties by id");

        let count = |filter: ListFilter| store.list_executions(&filter, None, 500).unwrap().0.len();
        assert_eq!(
            count(ListFilter {
                workflow_id: Some("wf_even".into()),
                ..Default::default()
            }),
            13
        );
        assert_eq!(
            count(ListFilter {
                tenant: Some("globex".into()),
                ..Default::default()
            }),
            5
        );
        assert_eq!(
            count(ListFilter {
                status: Some(ExecutionStatus::Running),
                ..Default::default()
            }),
            15
        );
        assert_eq!(
            count(ListFilter {
                has_error: Some(true),
                ..Default::default()
            }),
            5
        );
        assert_eq!(
            count(ListFilter {
                has_error: Some(false),
                ..Default::default()
            }),
            20
        );
        assert_eq!(
            count(ListFilter {
                started_after: Some(at(10)),
                ..Default::default()
            }),
            5
        );
        assert_eq!(
            count(ListFilter {
                started_after: Some(at(2)),
                started_before: Some(at(4)),
                ..Default::default()
            }),
            4
        );
    });
}

#[test]
fn migrating_again_applies_nothing() {
    on_each_backend(|store| {
        assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
    });
}

#[test]
fn eight_concurrent_writers_lose_nothing() {
    on_each_backend(|store| {
        std::thread::scope(|scope| {
            for writer in 0..8 {
                scope.spawn(move || {
                    for i in 0..25 {
                        store
                            .start_execution(&new(&format!("w{writer}_{i}"), "wf", i))
                            .unwrap();
                        store
                            .finish_execution(
                                &id(&format!("w{writer}_{i}")),
                                ExecutionStatus::Completed,
                                None,
                                at(i + 1),
                            )
                            .unwrap();
                    }
                });
            }
        });
        let (all, _) = store
            .list_executions(&ListFilter::default(), None, 500)
            .unwrap();
        assert_eq!(all.len(), 200);
        assert!(all.iter().all(|e| e.status == ExecutionStatus::Completed));
    });
}

#[test]
fn bad_urls_are_refused() {
    for url in ["mysql://x", "sqlite://", "", "orcheo.db"] {
        assert!(Store::open(url, PoolConfig::default()).is_err(), "{url}");
    }
}

fn summary(exec: &str, span: u64, end: u64) -> SpanSummary {
    SpanSummary {
        execution_id: id(exec),
        span_id: SpanId::from_bytes(span.to_be_bytes()).unwrap(),
        parent_span_id: (span > 1).then(|| SpanId::from_hex("1").unwrap()),
        name: format!("node {span}"),
        kind: "llm".into(),
        start_time: at(end.saturating_sub(1)),
        end_time: Some(at(end)),
        status_code: StatusCode::Ok,
        status_message: None,
        input_tokens: Some(10),
        output_tokens: Some(5),
        cached_input_tokens: None,
        model: None,
        provider: None,
    }
}

#[test]
fn summaries_upsert_and_resume_after_a_sequence_without_gaps_or_repeats() {
    on_each_backend(|store| {
        store.start_execution(&new("exec_1", "wf", 0)).unwrap();
        store.start_execution(&new("exec_2", "wf", 0)).unwrap();
        let first = store
            .record_summaries(&[summary("exec_1", 2, 1), summary("exec_1", 3, 2)])
            .unwrap();
        store.record_summaries(&[summary("exec_2", 2, 1)]).unwrap();
        let all = store.summaries_after(&id("exec_1"), 0, 100).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].seq, first);
        assert_eq!(all[0].summary, summary("exec_1", 2, 1));

        // A span reported again (say, with its final status) moves to the end; nothing doubles.
        let mut again = summary("exec_1", 2, 1);
        again.status_code = StatusCode::Error;
        again.status_message = Some("late error".into());
        let last = store
            .record_summaries(&[again.clone(), summary("exec_1", 4, 9)])
            .unwrap();
        let resumed = store.summaries_after(&id("exec_1"), first, 100).unwrap();
        assert_eq!(
            resumed
                .iter()
                .map(|s| s.summary.span_id)
                .collect::<Vec<_>>(),
            [again.span_id, summary("exec_1", 4, 9).span_id]
        );
        assert_eq!(resumed[0].summary.status_code, StatusCode::Error);
        assert_eq!(resumed[1].seq, last);
        assert_eq!(
            store.summaries_after(&id("exec_1"), 0, 100).unwrap().len(),
            3
        );
        assert_eq!(
            store.summaries_after(&id("exec_1"), last, 100).unwrap(),
            vec![]
        );
        assert_eq!(
            store
                .execution(&id("exec_1"))
                .unwrap()
                .unwrap()
                .trace_last_span_at,
            Some(at(9))
        );

        // The same span twice in one batch: stored once, the later report wins.
        let mut later = summary("exec_2", 7, 3);
        later.name = "later".into();
        store
            .record_summaries(&[summary("exec_2", 7, 2), later])
            .unwrap();
        let exec_2 = store.summaries_after(&id("exec_2"), 0, 100).unwrap();
        let seven = summary("exec_2", 7, 0).span_id;
        assert_eq!(
            exec_2.iter().filter(|s| s.summary.span_id == seven).count(),
            1
        );
        assert_eq!(exec_2.last().unwrap().summary.name, "later");
        assert!(matches!(
            store.record_summaries(&[summary("ghost", 2, 1)]),
            Err(StoreError::UnknownExecution(_))
        ));
        let mut long = summary("exec_1", 5, 1);
        long.name = "n".repeat(1025);
        assert!(matches!(
            store.record_summaries(&[long]),
            Err(StoreError::Invalid { field: "name", .. })
        ));
        assert_eq!(store.record_summaries(&[]).unwrap(), 0);
    });
}

#[test]
fn summary_totals_add_up_tokens_spans_and_errors_per_execution() {
    on_each_backend(|store| {
        store.start_execution(&new("exec_1", "wf", 0)).unwrap();
        store.start_execution(&new("exec_2", "wf", 0)).unwrap();
        store.start_execution(&new("exec_3", "wf", 0)).unwrap();
        let mut failed = summary("exec_1", 4, 3);
        failed.status_code = StatusCode::Error;
        failed.input_tokens = None;
        store
            .record_summaries(&[summary("exec_1", 2, 1), summary("exec_1", 3, 2), failed])
            .unwrap();
        store.record_summaries(&[summary("exec_2", 2, 1)]).unwrap();
        let mut totals = store
            .summary_totals(&[id("exec_1"), id("exec_2"), id("exec_3"), id("ghost")])
            .unwrap();
        totals.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        assert_eq!(
            totals,
            [
                (
                    id("exec_1"),
                    SummaryTotals {
                        input_tokens: 20,
                        output_tokens: 15,
                        span_count: 3,
                        error_count: 1
                    }
                ),
                (
                    id("exec_2"),
                    SummaryTotals {
                        input_tokens: 10,
                        output_tokens: 5,
                        span_count: 1,
                        error_count: 0
                    }
                ),
            ]
        );
        assert_eq!(store.summary_totals(&[]).unwrap(), []);
    });
}

#[test]
fn a_failed_root_counts_as_an_error_only_when_no_other_span_failed() {
    on_each_backend(|store| {
        for exec in ["node_failed", "root_only", "clean"] {
            store.start_execution(&new(exec, "wf", 0)).unwrap();
        }
        let failing = |exec: &str, span: u64| {
            let mut s = summary(exec, span, span);
            s.status_code = StatusCode::Error;
            s
        };
        // The root (span 1, no parent) inherits the failure of node 3.
        store
            .record_summaries(&[
                failing("node_failed", 1),
                summary("node_failed", 2, 2),
                failing("node_failed", 3),
            ])
            .unwrap();
        store
            .record_summaries(&[failing("root_only", 1), summary("root_only", 2, 2)])
            .unwrap();
        store
            .record_summaries(&[summary("clean", 1, 1), summary("clean", 2, 2)])
            .unwrap();
        let errors: Vec<(String, u64)> = store
            .summary_totals(&[id("node_failed"), id("root_only"), id("clean")])
            .unwrap()
            .into_iter()
            .map(|(id, t)| (id.to_string(), t.error_count))
            .collect();
        let of = |exec: &str| errors.iter().find(|(id, _)| id == exec).map(|(_, n)| *n);
        assert_eq!(
            of("node_failed"),
            Some(1),
            "the root only inherits the failure"
        );
        assert_eq!(
            of("root_only"),
            Some(1),
            "a failed root alone is the run's error"
        );
        assert_eq!(of("clean"), Some(0));
    });
}

#[test]
fn listing_tells_a_failed_run_from_a_run_with_a_failed_span() {
    on_each_backend(|store| {
        // failed: the run ended in error; recovered: finished, one node failed; clean: neither;
        // silent: no spans recorded.
        for exec in ["failed", "recovered", "clean", "silent"] {
            store.start_execution(&new(exec, "wf", 0)).unwrap();
        }
        store
            .finish_execution(&id("failed"), ExecutionStatus::Error, Some("boom"), at(5))
            .unwrap();
        for exec in ["recovered", "clean", "silent"] {
            store
                .finish_execution(&id(exec), ExecutionStatus::Completed, None, at(5))
                .unwrap();
        }
        let mut failed_node = summary("recovered", 2, 2);
        failed_node.status_code = StatusCode::Error;
        let mut failed_root = summary("failed", 1, 3);
        failed_root.status_code = StatusCode::Error;
        store
            .record_summaries(&[
                summary("recovered", 1, 3),
                failed_node,
                failed_root,
                summary("clean", 1, 3),
            ])
            .unwrap();
        let ids = |filter: ListFilter| {
            let mut ids: Vec<String> = store
                .list_executions(&filter, None, 500)
                .unwrap()
                .0
                .into_iter()
                .map(|e| e.id.to_string())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(ListFilter {
                has_failing_span: Some(true),
                ..Default::default()
            }),
            ["failed", "recovered"]
        );
        assert_eq!(
            ids(ListFilter {
                has_failing_span: Some(false),
                ..Default::default()
            }),
            ["clean", "silent"]
        );
        assert_eq!(
            ids(ListFilter {
                has_error: Some(true),
                ..Default::default()
            }),
            ["failed"]
        );
        assert_eq!(
            ids(ListFilter {
                has_error: Some(false),
                has_failing_span: Some(true),
                ..Default::default()
            }),
            ["recovered"]
        );
    });
}

#[test]
fn workflows_match_by_prefix_newest_first_within_their_tenant() {
    on_each_backend(|store| {
        let run = |exec: &str, workflow: &str, tenant: &str, started: u64| {
            let mut e = new(exec, workflow, started);
            e.tenant = Some(tenant.into());
            store.start_execution(&e).unwrap();
        };
        run("a1", "wf_invoice", "acme", 1);
        run("a2", "wf_invoice", "acme", 5);
        run("a3", "wf_intake", "acme", 3);
        run("a4", "wf%x", "acme", 2);
        run("a5", "WF_upper", "acme", 9);
        run("a6", "wf_ix", "acme", 4);
        run("g1", "wf_invoice_globex", "globex", 8);
        let mut unnamed = new("a7", "x", 10);
        unnamed.workflow_id = None;
        unnamed.tenant = Some("acme".into());
        store.start_execution(&unnamed).unwrap();

        let names = |tenant: Option<&str>, prefix: &str| -> Vec<String> {
            store
                .workflows(tenant, prefix, 50)
                .unwrap()
                .into_iter()
                .map(|w| w.workflow_id)
                .collect()
        };
        let acme = store.workflows(Some("acme"), "wf_in", 50).unwrap();
        assert_eq!(
            acme.iter()
                .map(|w| (w.workflow_id.as_str(), w.execution_count, w.last_started_at))
                .collect::<Vec<_>>(),
            [("wf_invoice", 2, at(5)), ("wf_intake", 1, at(3))]
        );
        // `%` and `_` are letters of the prefix, not patterns; case counts.
        assert_eq!(names(Some("acme"), "wf%"), ["wf%x"]);
        assert_eq!(
            names(Some("acme"), "wf_i"),
            ["wf_invoice", "wf_ix", "wf_intake"]
        );
        assert_eq!(names(Some("acme"), "wf_x"), Vec::<String>::new());
        assert_eq!(names(Some("acme"), "WF"), ["WF_upper"]);
        assert_eq!(
            names(Some("acme"), ""),
            ["WF_upper", "wf_invoice", "wf_ix", "wf_intake", "wf%x"]
        );
        assert_eq!(names(Some("globex"), "wf_in"), ["wf_invoice_globex"]);
        assert_eq!(names(None, "wf_inv"), ["wf_invoice_globex", "wf_invoice"]);
        assert_eq!(store.workflows(Some("acme"), "wf", 1).unwrap().len(), 1);
        assert!(matches!(
            store.workflows(None, &"w".repeat(257), 10),
            Err(StoreError::Invalid {
                field: "workflow_prefix",
                ..
            })
        ));

        let listed = |prefix: &str| -> Vec<String> {
            let mut ids: Vec<String> = store
                .list_executions(
                    &ListFilter {
                        tenant: Some("acme".into()),
                        workflow_prefix: Some(prefix.into()),
                        ..Default::default()
                    },
                    None,
                    500,
                )
                .unwrap()
                .0
                .into_iter()
                .map(|e| e.id.to_string())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(listed("wf_inv"), ["a1", "a2"]);
        assert_eq!(listed("wf%"), ["a4"]);
        assert_eq!(listed("wf_i"), ["a1", "a2", "a3", "a6"]);
    });
}

#[test]
fn model_tokens_are_summed_per_execution_model_and_provider() {
    on_each_backend(|store| {
        store.start_execution(&new("exec_1", "wf", 0)).unwrap();
        let llm = |span: u64, model: Option<&str>, cached: Option<u64>| SpanSummary {
            model: model.map(str::to_owned),
            provider: model.map(|_| "openai".to_owned()),
            cached_input_tokens: cached,
            ..summary("exec_1", span, 1)
        };
        let mut tool = summary("exec_1", 6, 1);
        (tool.input_tokens, tool.output_tokens) = (None, None);
        store
            .record_summaries(&[
                llm(2, Some("gpt-4o"), Some(4)),
                llm(3, Some("gpt-4o"), None),
                llm(4, Some("gpt-4o-mini"), None),
                llm(5, None, None),
                tool,
            ])
            .unwrap();
        let stored = store.summaries_after(&id("exec_1"), 0, 10).unwrap();
        assert_eq!(stored[0].summary, llm(2, Some("gpt-4o"), Some(4)));
        let mut groups: Vec<_> = store
            .summary_model_tokens(&[id("exec_1"), id("ghost")])
            .unwrap()
            .into_iter()
            .map(|(e, g)| (e.as_str().to_owned(), g))
            .collect();
        groups.sort_by(|a, b| a.1.model.cmp(&b.1.model));
        let group = |model: Option<&str>, tokens: TokenUsage, spans| {
            (
                "exec_1".to_owned(),
                ModelTokens {
                    model: model.map(str::to_owned),
                    provider: model.map(|_| "openai".to_owned()),
                    tokens,
                    spans,
                },
            )
        };
        assert_eq!(
            groups,
            [
                group(None, TokenUsage::new(10, 5), 1),
                group(
                    Some("gpt-4o"),
                    TokenUsage::new(20, 10).with_cached_input(Some(4)),
                    2
                ),
                group(Some("gpt-4o-mini"), TokenUsage::new(10, 5), 1),
            ]
        );
        assert_eq!(store.summary_model_tokens(&[]).unwrap(), []);
    });
}

#[test]
fn eight_writers_recording_summaries_for_one_execution_lose_nothing() {
    on_each_backend(|store| {
        store.start_execution(&new("exec_1", "wf", 0)).unwrap();
        std::thread::scope(|scope| {
            for writer in 0..8u64 {
                scope.spawn(move || {
                    for batch in 0..10u64 {
                        let spans: Vec<_> = (0..5u64)
                            .map(|i| summary("exec_1", 1000 * (writer + 1) + batch * 10 + i, 1))
                            .collect();
                        store.record_summaries(&spans).unwrap();
                    }
                });
            }
        });
        let all = store.summaries_after(&id("exec_1"), 0, 1000).unwrap();
        assert_eq!(all.len(), 400);
        let mut seqs: Vec<u64> = all.iter().map(|s| s.seq).collect();
        seqs.dedup();
        assert_eq!(seqs.len(), 400, "every write has its own sequence number");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    });
}

#[test]
fn the_store_records_a_run_through_the_instrumentation_sink() {
    use orcheo_trace_model::TraceMetadataSink;
    use orcheo_trace_model::{RunFinished, RunStarted};
    on_each_backend(|store| {
        let sink: &dyn TraceMetadataSink = store;
        sink.run_started(&RunStarted {
            execution_id: id("exec_sink"),
            workflow_id: Some("wf_1".into()),
            workflow_version: None,
            tenant: Some("acme".into()),
            triggered_by: Some("schedule".into()),
            started_at: at(0),
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            traceparent: format!("00-{TRACE}-00f067aa0ba902b7-01"),
        })
        .unwrap();
        sink.spans_ended(&[summary("exec_sink", 2, 1), summary("exec_sink", 3, 2)])
            .unwrap();
        sink.run_finished(&RunFinished {
            execution_id: id("exec_sink"),
            status: ExecutionStatus::Completed,
            error: None,
            finished_at: at(3),
        })
        .unwrap();
        let execution = store
            .execution_by_trace_id(TraceId::from_hex(TRACE).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (execution.status, execution.tenant.as_str()),
            (ExecutionStatus::Completed, "acme")
        );
        assert_eq!(
            store
                .summaries_after(&id("exec_sink"), 0, 10)
                .unwrap()
                .len(),
            2
        );
        let err = sink.spans_ended(&[summary("ghost", 2, 1)]).unwrap_err();
        assert!(err.to_string().contains("no execution ghost"), "{err}");
    });
}

fn local(trace: u128, span: u64, start: u64) -> orcheo_trace_store::LocalSpan {
    orcheo_trace_store::LocalSpan {
        trace_id: TraceId::from_bytes(trace.to_be_bytes()).unwrap(),
        span_id: SpanId::from_bytes(span.to_be_bytes()).unwrap(),
        execution_id: Some(id("exec_1")),
        tenant: None,
        start_time: at(start),
        payload: vec![u8::try_from(span % 256).unwrap(); 16],
    }
}

fn local_of(tenant: &str, trace: u128, span: u64) -> orcheo_trace_store::LocalSpan {
    orcheo_trace_store::LocalSpan {
        tenant: Some(tenant.to_owned()),
        ..local(trace, span, 0)
    }
}

#[test]
fn one_tenant_at_its_bound_does_not_stop_another_and_retention_frees_its_room() {
    use orcheo_trace_store::{LocalSpanLimits, StoreReport};
    on_each_backend(|store| {
        let limits = LocalSpanLimits {
            per_trace: 100,
            per_tenant: 3,
            total: 100,
            max_payload_bytes: 64,
        };
        let flood: Vec<_> = (1..=5).map(|span| local_of("acme", 1, span)).collect();
        let report = store.store_local_spans(&flood, at(0), limits).unwrap();
        assert_eq!(
            report,
            StoreReport {
                stored: 3,
                refused_tenant_full: 2,
                refused_at: vec![3, 4],
                ..Default::default()
            }
        );
        // Later batches see the count the earlier one left.
        let report = store
            .store_local_spans(
                &[
                    local_of("acme", 2, 1),
                    local_of("globex", 3, 1),
                    local_of("globex", 3, 2),
                ],
                at(1),
                limits,
            )
            .unwrap();
        assert_eq!((report.stored, report.refused_tenant_full), (2, 1));
        // A span received again is a replacement, not one more.
        let report = store
            .store_local_spans(&[local_of("acme", 1, 1)], at(1), limits)
            .unwrap();
        assert_eq!((report.replaced, report.refused()), (1, 0));
        let trace = store
            .local_spans(TraceId::from_bytes(1u128.to_be_bytes()).unwrap(), 100)
            .unwrap();
        assert!(trace.iter().all(|s| s.tenant.as_deref() == Some("acme")));
        // Retention gives back each tenant's room: acme's two spans still received at 0 go.
        assert_eq!(store.prune(at(1)).unwrap().local_spans, 2);
        let report = store
            .store_local_spans(
                &[
                    local_of("acme", 4, 1),
                    local_of("acme", 4, 2),
                    local_of("acme", 4, 3),
                ],
                at(2),
                limits,
            )
            .unwrap();
        assert_eq!((report.stored, report.refused_tenant_full), (2, 1));
    });
}

#[test]
fn local_spans_are_bounded_per_trace_and_in_total_and_refusals_are_reported() {
    use orcheo_trace_store::{LocalSpanLimits, StoreReport};
    on_each_backend(|store| {
        let limits = LocalSpanLimits {
            per_trace: 3,
            per_tenant: 100,
            total: 5,
            max_payload_bytes: 64,
        };
        let report = store
            .store_local_spans(
                &[
                    local(1, 3, 3),
                    local(1, 1, 1),
                    local(1, 2, 2),
                    local(1, 4, 4),
                ],
                at(0),
                limits,
            )
            .unwrap();
        assert_eq!(
            report,
            StoreReport {
                stored: 3,
                refused_trace_full: 1,
                refused_at: vec![3],
                ..Default::default()
            }
        );
        // The same span again replaces its payload and counts against nothing.
        let mut again = local(1, 1, 1);
        again.payload = vec![9; 8];
        let mut big = local(2, 9, 0);
        big.payload = vec![0; 65];
        let report = store
            .store_local_spans(
                &[again, local(2, 1, 0), local(2, 2, 0), local(3, 1, 0), big],
                at(1),
                limits,
            )
            .unwrap();
        assert_eq!(
            report,
            StoreReport {
                stored: 2,
                replaced: 1,
                refused_store_full: 1,
                refused_too_large: 1,
                refused_at: vec![3, 4],
                ..Default::default()
            }
        );
        assert_eq!(report.refused(), 2);
        let trace = store
            .local_spans(TraceId::from_bytes(1u128.to_be_bytes()).unwrap(), 100)
            .unwrap();
        assert_eq!(
            trace.iter().map(|s| s.start_time).collect::<Vec<_>>(),
            [at(1), at(2), at(3)]
        );
        assert_eq!(trace[0].payload, vec![9; 8]);
        assert_eq!(trace[0].execution_id, Some(id("exec_1")));
        // Retention frees room: spans received at 0 go, those received at 1 stay.
        assert_eq!(store.prune(at(1)).unwrap().local_spans, 2);
        let report = store
            .store_local_spans(&[local(3, 1, 0), local(3, 2, 0)], at(2), limits)
            .unwrap();
        assert_eq!(report.stored, 2);
        // The same new span twice in one batch: stored once, with the later payload.
        let mut first = local(4, 1, 0);
        first.payload = vec![1];
        let mut second = local(4, 1, 0);
        second.payload = vec![2];
        let limits = LocalSpanLimits {
            total: 100,
            ..limits
        };
        let report = store
            .store_local_spans(&[first, second], at(2), limits)
            .unwrap();
        assert_eq!((report.stored, report.replaced), (1, 1));
        let trace = store
            .local_spans(TraceId::from_bytes(4u128.to_be_bytes()).unwrap(), 100)
            .unwrap();
        assert_eq!(trace.len(), 1);
        assert_eq!(trace[0].payload, vec![2]);
        // Payloads read for a reader stay within a byte budget: trace 3 holds two spans of 16
        // bytes each; 20 bytes allowed gives the first.
        let trace_3 = TraceId::from_bytes(3u128.to_be_bytes()).unwrap();
        let read = store.local_span_payloads(trace_3, 100, 20).unwrap();
        assert_eq!((read.count, read.cut, read.bytes.len()), (1, true, 16));
        let all = store.local_span_payloads(trace_3, 100, 1 << 20).unwrap();
        assert_eq!((all.count, all.cut, all.bytes.len()), (2, false, 32));
    });
}

#[test]
fn artifacts_are_registered_replaced_and_found() {
    use orcheo_trace_store::ArtifactRecord;
    on_each_backend(|store| {
        store.start_execution(&new("exec_1", "wf", 0)).unwrap();
        let mut record = ArtifactRecord {
            artifact_id: "a1".into(),
            execution_id: id("exec_1"),
            span_id: Some(SpanId::from_hex("3").unwrap()),
            name: Some("email.txt".into()),
            content_type: Some("text/plain".into()),
            size_bytes: Some(2048),
            storage_uri: "file:exec_1/email.txt".into(),
            created_at: at(5),
        };
        store.register_artifact(&record).unwrap();
        assert_eq!(store.artifact("a1").unwrap().as_ref(), Some(&record));
        record.size_bytes = Some(4096);
        store.register_artifact(&record).unwrap();
        assert_eq!(
            store.artifact("a1").unwrap().unwrap().size_bytes,
            Some(4096)
        );
        assert_eq!(store.artifact("nope").unwrap(), None);
        record.artifact_id = "a2".into();
        record.execution_id = id("ghost");
        assert!(matches!(
            store.register_artifact(&record),
            Err(StoreError::UnknownExecution(_))
        ));
        record.execution_id = id("exec_1");
        record.storage_uri = String::new();
        assert!(matches!(
            store.register_artifact(&record),
            Err(StoreError::Invalid {
                field: "storage_uri",
                ..
            })
        ));
    });
}

#[test]
fn held_artifacts_are_the_recorded_ones_of_the_tenant_in_one_call() {
    use orcheo_trace_store::ArtifactRecord;
    on_each_backend(|store| {
        store.start_execution(&new("exec_1", "wf", 0)).unwrap();
        let mut other = new("exec_2", "wf", 0);
        other.tenant = Some("globex".into());
        store.start_execution(&other).unwrap();
        let record = |artifact: &str, exec: &str| ArtifactRecord {
            artifact_id: artifact.into(),
            execution_id: id(exec),
            span_id: None,
            name: None,
            content_type: None,
            size_bytes: None,
            storage_uri: format!("file:{exec}/{artifact}"),
            created_at: at(5),
        };
        store.register_artifact(&record("a1", "exec_1")).unwrap();
        store.register_artifact(&record("g1", "exec_2")).unwrap();
        let mut held = store
            .held_artifacts("default", &["a1", "never_uploaded", "g1"])
            .unwrap();
        held.sort();
        assert_eq!(held, [("a1".to_owned(), "file:exec_1/a1".to_owned())]);
        assert!(store.held_artifacts("default", &[]).unwrap().is_empty());
        // More ids than one statement takes: still every one found.
        let many: Vec<String> = (0..2500).map(|i| format!("x{i}")).collect();
        let mut ids: Vec<&str> = many.iter().map(String::as_str).collect();
        ids.push("a1");
        assert_eq!(store.held_artifacts("default", &ids).unwrap().len(), 1);
    });
}

#[test]
fn prune_removes_old_executions_with_their_summaries_and_artifacts() {
    use orcheo_trace_store::ArtifactRecord;
    on_each_backend(|store| {
        for (exec, started) in [("old", 0), ("new", 100)] {
            store.start_execution(&new(exec, "wf", started)).unwrap();
            store
                .record_summaries(&[summary(exec, 2, started + 1)])
                .unwrap();
            store
                .register_artifact(&ArtifactRecord {
                    artifact_id: format!("art_{exec}"),
                    execution_id: id(exec),
                    span_id: None,
                    name: None,
                    content_type: None,
                    size_bytes: None,
                    storage_uri: format!("file:{exec}"),
                    created_at: at(started),
                })
                .unwrap();
        }
        assert_eq!(store.prune(at(50)).unwrap().executions, 1);
        assert!(store.execution(&id("old")).unwrap().is_none());
        assert!(store.summaries_after(&id("old"), 0, 10).unwrap().is_empty());
        assert!(store.artifact("art_old").unwrap().is_none());
        assert!(store.execution(&id("new")).unwrap().is_some());
        assert_eq!(store.summaries_after(&id("new"), 0, 10).unwrap().len(), 1);
        assert!(store.artifact("art_new").unwrap().is_some());
    });
}

/// The committed `schema.rs`, read as (table, column, type, nullable) rows.
fn declared_schema() -> Vec<(String, String, String, bool)> {
    let text = include_str!("../src/schema.rs");
    let mut rows = Vec::new();
    let mut table = None;
    for line in text.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once(" (").filter(|_| line.ends_with('{')) {
            table = Some(name.to_owned());
        } else if line == "}" {
            table = None;
        } else if let (Some(t), Some((column, ty))) =
            (&table, line.trim_end_matches(',').split_once(" -> "))
        {
            let nullable = ty.starts_with("Nullable<");
            let ty = ty
                .trim_start_matches("Nullable<")
                .trim_end_matches('>')
                .to_owned();
            rows.push((t.clone(), column.to_owned(), ty, nullable));
        }
    }
    rows.sort();
    rows
}

/// The migrated database's columns, in `schema.rs` terms.
fn migrated_schema(
    store_url_kind: &str,
    conn: &mut diesel::pg::PgConnection,
) -> Vec<(String, String, String, bool)> {
    #[derive(diesel::QueryableByName)]
    #[allow(clippy::struct_field_names, reason = "information_schema's names")]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        data_type: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        is_nullable: String,
    }
    assert_eq!(store_url_kind, "postgres");
    // Columns the database computes (the search rows' words) are read by SQL, not by schema.rs.
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations' \
         AND is_generated = 'NEVER'",
    )
    .load(conn)
    .unwrap();
    let mut rows: Vec<_> = columns
        .into_iter()
        .map(|c| {
            let ty = match c.data_type.as_str() {
                "text" => "Text",
                "bigint" => "BigInt",
                "integer" => "Integer",
                "bytea" => "Binary",
                other => panic!("unmapped type {other}"),
            };
            (
                c.table_name,
                c.column_name,
                ty.to_owned(),
                c.is_nullable == "YES",
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn migrations_and_schema_rs_agree_on_every_column() {
    #[derive(diesel::QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[diesel(column_name = "type")]
        ty: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        notnull: i32,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pk: i32,
    }
    let declared = declared_schema();
    assert!(declared.len() > 30, "schema.rs was read: {declared:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drift.db");
    Store::open(
        &format!("sqlite://{}", path.display()),
        PoolConfig::default(),
    )
    .unwrap()
    .migrate()
    .unwrap();
    let mut sqlite = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let tables: Vec<String> = declared
        .iter()
        .map(|r| r.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut migrated = Vec::new();
    for table in &tables {
        let columns: Vec<Column> = diesel::sql_query(format!("PRAGMA table_info({table})"))
            .load(&mut sqlite)
            .unwrap();
        assert!(
            !columns.is_empty(),
            "table {table} missing from the SQLite migrations"
        );
        for c in columns {
            let ty = match c.ty.as_str() {
                "TEXT" => "Text",
                "BIGINT" => "BigInt",
                "INTEGER" => "Integer",
                "BLOB" => "Binary",
                other => panic!("unmapped type {other}"),
            };
            // SQLite reports primary-key columns of composite keys as nullable unless declared otherwise.
            // The search rows' `INTEGER PRIMARY KEY` is SQLite's rowid, a 64-bit integer, which
            // the full-text index refers to (`BIGINT` on PostgreSQL).
            let rowid = table == "execution_search" && c.pk == 1;
            let ty = if ty == "Integer" && rowid {
                "BigInt"
            } else {
                ty
            };
            migrated.push((table.clone(), c.name, ty.to_owned(), c.notnull == 0));
        }
    }
    migrated.sort();
    assert_eq!(migrated, declared, "SQLite migrations and schema.rs differ");

    if let Some(db) = postgres() {
        let _ = &db.store;
        let (admin_url, name) = db.pg_drop.clone().unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let mut pg = orcheo_trace_store::postgres_connection(&format!("{base}/{name}")).unwrap();
        assert_eq!(
            migrated_schema("postgres", &mut pg),
            declared,
            "PostgreSQL migrations and schema.rs differ"
        );
    }
}

/// Not a test of its own: the child process of `a_process_killed_mid_run_leaves_consistent_rows`,
/// which runs it by name with `--ignored`. It writes until it is killed.
#[test]
#[ignore = "the child process of a_process_killed_mid_run_leaves_consistent_rows, which runs it"]
fn crash_child() {
    let url = std::env::var("ORCHEO_CRASH_CHILD_URL")
        .expect("ORCHEO_CRASH_CHILD_URL: crash_child runs only as the child of its crash test");
    let store = Store::open(&url, PoolConfig::default()).unwrap();
    store.start_execution(&new("exec_crash", "wf", 0)).unwrap();
    for batch in 0u64.. {
        let spans: Vec<_> = (0..20u64)
            .map(|i| summary("exec_crash", 2 + batch * 20 + i, 1))
            .collect();
        store.record_summaries(&spans).unwrap();
    }
}

#[test]
fn a_process_killed_mid_run_leaves_consistent_rows() {
    let sqlite = sqlite_url();
    let pg = postgres();
    let mut urls = vec![sqlite.1.clone()];
    if let Some(db) = &pg {
        let (admin_url, name) = db.pg_drop.clone().unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        urls.push(format!("{base}/{name}"));
    }
    for url in urls {
        let store = Store::open(&url, PoolConfig::default()).unwrap();
        store.migrate().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ORCHEO_CRASH_CHILD_URL", &url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Let it write for a while, then kill it (SIGKILL: no destructor, no rollback of its own).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while store
            .summaries_after(&id("exec_crash"), 0, 10_000)
            .map_or(0, |s| s.len())
            < 200
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the child never wrote"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let execution = store.execution(&id("exec_crash")).unwrap().unwrap();
        assert_eq!(
            execution.status,
            ExecutionStatus::Running,
            "a crashed run reads as still running"
        );
        let mut rows = Vec::new();
        loop {
            let after = rows
                .last()
                .map_or(0, |r: &orcheo_trace_store::StoredSummary| r.seq);
            let page = store
                .summaries_after(&id("exec_crash"), after, 10_000)
                .unwrap();
            if page.is_empty() {
                break;
            }
            rows.extend(page);
        }
        assert!(rows.len() >= 200);
        assert_eq!(rows.len() % 20, 0, "batches are whole: {} rows", rows.len());
        let last = rows.iter().map(|r| r.seq).max().unwrap();
        // The counter survived the crash consistent with the rows: new writes come after them.
        let next = store
            .record_summaries(&[summary("exec_crash", 1_000_000, 1)])
            .unwrap();
        assert!(next > last);
        store
            .finish_execution(
                &id("exec_crash"),
                ExecutionStatus::Cancelled,
                Some("executor died"),
                at(9),
            )
            .unwrap();
    }
    drop(sqlite);
}

/// A temporary SQLite database URL and the folder that holds it.
fn sqlite_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    (dir, url)
}

#[test]
fn a_batch_larger_than_one_statement_and_long_errors() {
    on_each_backend(|store| {
        store.start_execution(&new("exec_big", "wf", 0)).unwrap();
        let spans: Vec<_> = (0..2_500u64)
            .map(|i| summary("exec_big", 2 + i, 1))
            .collect();
        store.record_summaries(&spans).unwrap();
        assert_eq!(
            store
                .summaries_after(&id("exec_big"), 0, 10_000)
                .unwrap()
                .len(),
            2_500
        );
        let long = "e".repeat(4097);
        assert!(matches!(
            store.finish_execution(&id("exec_big"), ExecutionStatus::Error, Some(&long), at(2)),
            Err(StoreError::Invalid { field: "error", .. })
        ));
        assert_eq!(
            store.execution(&id("exec_big")).unwrap().unwrap().status,
            ExecutionStatus::Running
        );
    });
}

#[test]
fn an_in_memory_database_is_one_lasting_connection() {
    let store = Store::open("sqlite::memory:", PoolConfig::default()).unwrap();
    store.migrate().unwrap();
    store.start_execution(&new("exec_mem", "wf", 0)).unwrap();
    assert!(
        store.execution(&id("exec_mem")).unwrap().is_some(),
        "the same database on the next checkout"
    );
}

#[test]
fn a_transaction_keeps_the_writes_that_worked_and_undoes_the_one_that_failed() {
    use orcheo_trace_store::LocalSpanLimits;
    on_each_backend(|store| {
        store.start_execution(&new("exec_tx_old", "wf", 0)).unwrap();
        let (summaries_seq, duplicate, unknown) = store
            .transaction(|tx| {
                tx.start_execution(&new("exec_tx", "wf", 1))?;
                // Fails in SQL (a unique key): undone alone, the transaction goes on.
                let duplicate = tx.start_execution(&new("exec_tx_old", "wf", 2));
                // Fails in SQL part-way (a foreign key, after the sequence was taken).
                let unknown = tx.record_summaries(&[summary("exec_tx_none", 2, 3)]);
                let seq = tx.record_summaries(&[summary("exec_tx", 2, 3)])?;
                tx.finish_execution(&id("exec_tx"), ExecutionStatus::Completed, None, at(4))?;
                tx.store_local_spans(&[local(7, 1, 1)], at(5), LocalSpanLimits::default())?;
                Ok((seq, duplicate, unknown))
            })
            .unwrap();
        assert!(
            matches!(duplicate, Err(StoreError::Duplicate(_))),
            "{duplicate:?}"
        );
        assert!(
            matches!(unknown, Err(StoreError::UnknownExecution(_))),
            "{unknown:?}"
        );
        let stored = store.summaries_after(&id("exec_tx"), 0, 10).unwrap();
        assert_eq!(stored.len(), 1);
        // The failed write's sequence numbers were undone with it: no gap for a reader.
        assert_eq!(stored[0].seq, summaries_seq);
        assert_eq!(
            store.execution(&id("exec_tx")).unwrap().unwrap().status,
            ExecutionStatus::Completed
        );
        assert_eq!(
            store
                .execution(&id("exec_tx_old"))
                .unwrap()
                .unwrap()
                .started_at,
            at(0),
            "the duplicate changed nothing"
        );
        let trace = TraceId::from_bytes(7u128.to_be_bytes()).unwrap();
        assert_eq!(store.local_spans(trace, 10).unwrap().len(), 1);

        // An error out of the closure undoes everything in it.
        let failed: Result<(), StoreError> = store.transaction(|tx| {
            tx.start_execution(&new("exec_tx_gone", "wf", 1))?;
            tx.store_local_spans(&[local(8, 1, 1)], at(5), LocalSpanLimits::default())?;
            Err(StoreError::UnknownExecution("stop".into()))
        });
        assert!(failed.is_err());
        assert!(store.execution(&id("exec_tx_gone")).unwrap().is_none());
        let trace = TraceId::from_bytes(8u128.to_be_bytes()).unwrap();
        assert!(store.local_spans(trace, 10).unwrap().is_empty());
    });
}

#[test]
fn the_write_ahead_log_is_checkpointed_by_the_stores_own_thread() {
    use orcheo_trace_store::LocalSpanLimits;
    let (dir, url) = sqlite_url();
    let store = Store::open(&url, PoolConfig::default()).unwrap();
    store.migrate().unwrap();
    let stats = store
        .checkpoint_stats()
        .expect("a file database has the thread");
    assert_eq!(stats.frames, 0);
    let database = dir.path().join("crash.db");
    let size_before = std::fs::metadata(&database).unwrap().len();
    // About 4 MB of spans: a thousand pages in the log, a tenth of what makes a writer
    // checkpoint on its own.
    let payload = vec![7u8; 4_000];
    for batch in 0..10u64 {
        let spans: Vec<_> = (0..100u64)
            .map(|i| orcheo_trace_store::LocalSpan {
                payload: payload.clone(),
                ..local(9, batch * 100 + i + 1, 1)
            })
            .collect();
        store
            .store_local_spans(&spans, at(1), LocalSpanLimits::default())
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let stats = loop {
        let stats = store.checkpoint_stats().unwrap();
        if stats.frames >= 1_000 || std::time::Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(stats.frames >= 1_000, "{stats:?}");
    assert_eq!(stats.last_error, None);
    // The pages are in the database file itself, with every connection of the pool still open.
    let size_after = std::fs::metadata(&database).unwrap().len();
    assert!(
        size_after > size_before + 3_000_000,
        "{size_before} → {size_after}"
    );
    assert!(
        Store::open("sqlite::memory:", PoolConfig::default())
            .unwrap()
            .checkpoint_stats()
            .is_none()
    );
}

#[test]
fn a_run_adopts_its_trace_spans_that_joined_no_run_once_and_only_its_tenants() {
    use orcheo_trace_store::LocalSpanLimits;
    on_each_backend(|store| {
        let trace = TraceId::from_bytes(7u128.to_be_bytes()).unwrap();
        let unowned = |tenant: &str, span: u64| orcheo_trace_store::LocalSpan {
            execution_id: None,
            ..local_of(tenant, 7, span)
        };
        let spans = (1..=300)
            .map(|span| unowned("acme", span))
            .chain([unowned("globex", 400), local_of("acme", 7, 500)])
            .collect::<Vec<_>>();
        store
            .store_local_spans(&spans, at(0), LocalSpanLimits::default())
            .unwrap();
        let adopt = || {
            let mut bytes = Vec::new();
            let adopted = store
                .transaction(|tx| {
                    tx.adopt_local_spans(trace, &id("exec_py"), "acme", &mut |page: &[u8]| {
                        bytes.extend_from_slice(page);
                    })
                })
                .unwrap();
            (adopted, bytes)
        };
        // More than a page of acme's spans without a run; not globex's, not one already placed.
        let (adopted, bytes) = adopt();
        assert_eq!(adopted, 300);
        let expected: usize = spans[..300].iter().map(|s| s.payload.len()).sum();
        assert_eq!(bytes.len(), expected);
        let stored = store.local_spans(trace, 1000).unwrap();
        let of = |span: u64| {
            stored
                .iter()
                .find(|s| s.span_id == SpanId::from_bytes(span.to_be_bytes()).unwrap())
                .and_then(|s| s.execution_id.clone())
        };
        assert_eq!(of(1), Some(id("exec_py")));
        assert_eq!(of(300), Some(id("exec_py")));
        assert_eq!(of(400), None);
        assert_eq!(of(500), Some(id("exec_1")));
        // Once adopted, there is nothing left to adopt.
        assert_eq!(adopt(), (0, Vec::new()));
    });
}

#[test]
fn deleting_a_run_takes_its_tenants_spans_of_its_trace_and_gives_their_room_back() {
    use orcheo_trace_store::LocalSpanLimits;
    on_each_backend(|store| {
        let trace = TraceId::from_bytes(7u128.to_be_bytes()).unwrap();
        let mut run = new("exec_1", "wf", 0);
        run.tenant = Some("acme".into());
        run.trace = Some(TraceLink {
            trace_id: trace,
            traceparent: format!("00-{trace}-00f067aa0ba902b7-01"),
        });
        store.start_execution(&run).unwrap();
        let limits = LocalSpanLimits {
            per_tenant: 3,
            ..LocalSpanLimits::default()
        };
        let named = |execution: Option<&str>, span| orcheo_trace_store::LocalSpan {
            execution_id: execution.map(id),
            ..local_of("acme", 7, span)
        };
        let report = store
            .store_local_spans(
                &[
                    named(Some("exec_1"), 1),
                    // A node of Orcheo's Python executors names no execution.
                    named(None, 2),
                    // Another run that claims the same trace id keeps its span…
                    named(Some("exec_other"), 3),
                    // …and so does another tenant that sent spans under it.
                    local_of("globex", 7, 4),
                ],
                at(0),
                limits,
            )
            .unwrap();
        assert_eq!(report.stored, 4);
        let deleted = store.delete_execution(&id("exec_1")).unwrap().unwrap();
        assert_eq!((deleted.tenant.as_str(), deleted.local_spans), ("acme", 2));
        let mut left: Vec<(Option<String>, u64)> = store
            .local_spans(trace, 100)
            .unwrap()
            .into_iter()
            .map(|s| {
                let span = u64::from_be_bytes(s.span_id.to_bytes());
                (s.tenant, span)
            })
            .collect();
        left.sort();
        assert_eq!(
            left,
            [(Some("acme".to_owned()), 3), (Some("globex".to_owned()), 4)]
        );
        // acme's count went down by the two deleted: two more spans fit under its bound of 3.
        let report = store
            .store_local_spans(
                &[local_of("acme", 8, 1), local_of("acme", 8, 2)],
                at(1),
                limits,
            )
            .unwrap();
        assert_eq!((report.stored, report.refused_tenant_full), (2, 0));
        assert!(store.delete_execution(&id("exec_1")).unwrap().is_none());
    });
}

/// A run of `tenant` started at `started` seconds, finished after `ran` seconds (`None`: still
/// running).
fn search_run(store: &Store, exec: &str, tenant: &str, started: u64, ran: Option<u64>) {
    let mut e = new(exec, "wf", started);
    e.tenant = Some(tenant.into());
    store.start_execution(&e).unwrap();
    if let Some(ran) = ran {
        store
            .finish_execution(&e.id, ExecutionStatus::Completed, None, at(started + ran))
            .unwrap();
    }
}

fn text(span: u64, name: &str, field: SearchField, text: &str) -> SpanText {
    SpanText {
        span_id: SpanId::from_bytes(span.to_be_bytes()).unwrap(),
        span_name: name.into(),
        field,
        text: text.into(),
    }
}

fn ids_of(page: &[orcheo_trace_store::Execution]) -> Vec<String> {
    page.iter().map(|e| e.id.to_string()).collect()
}

/// Prices every model at $1 per token, except `free` (nothing) and `mystery` (unpriced).
struct DollarPerToken;

impl RunPricer for DollarPerToken {
    fn run_usd(&self, _tenant: &str, tokens: &[ModelTokens]) -> Option<f64> {
        let mut usd = 0.0;
        for group in tokens {
            match group.model.as_deref() {
                Some("mystery") | None => return None,
                Some("free") => {}
                Some(_) => usd += (group.tokens.input + group.tokens.output) as f64,
            }
        }
        Some(usd)
    }
}

/// Three runs: `quick` (1 s, 10 gpt-4o tokens), `slow` (30 s, 507 tokens, a rate limit error
/// and an error code) and `running` (1 unpriced token).
fn seed_filtered_runs(store: &Store) {
    search_run(store, "quick", "acme", 0, Some(1));
    search_run(store, "slow", "acme", 1, Some(30));
    search_run(store, "running", "acme", 2, None);
    let spend = |exec: &str, span: u64, model: &str, input: u64| SpanSummary {
        input_tokens: Some(input),
        output_tokens: Some(0),
        model: Some(model.into()),
        ..summary(exec, span, 3)
    };
    store
        .record_summaries(&[
            spend("quick", 2, "gpt-4o", 10),
            spend("slow", 2, "claude-3-5-haiku", 500),
            spend("slow", 3, "free", 7),
            spend("running", 2, "mystery", 1),
        ])
        .unwrap();
    store
        .index_span_texts(
            &id("slow"),
            &[
                text(2, "call", SearchField::ErrorType, "RateLimitError"),
                text(3, "send", SearchField::ErrorCode, "E_SMTP"),
            ],
        )
        .unwrap();
}

/// The ids `filter` lists, sorted.
fn listed(store: &Store, filter: &ListFilter) -> Vec<String> {
    let mut ids = ids_of(&store.list_executions(filter, None, 500).unwrap().0);
    ids.sort();
    ids
}

#[test]
fn listing_filters_by_duration_tokens_model_and_error_type() {
    on_each_backend(|store| {
        seed_filtered_runs(store);
        let list = |filter: ListFilter| listed(store, &filter);
        // Duration bounds: a run still running is never in them.
        assert_eq!(
            list(ListFilter {
                min_duration_ms: Some(0),
                ..Default::default()
            }),
            ["quick", "slow"]
        );
        assert_eq!(
            list(ListFilter {
                min_duration_ms: Some(2_000),
                ..Default::default()
            }),
            ["slow"]
        );
        assert_eq!(
            list(ListFilter {
                max_duration_ms: Some(1_000),
                ..Default::default()
            }),
            ["quick"]
        );
        // Tokens: input and output over every span.
        assert_eq!(
            list(ListFilter {
                min_tokens: Some(11),
                ..Default::default()
            }),
            ["slow"]
        );
        assert_eq!(
            list(ListFilter {
                min_tokens: Some(10),
                max_tokens: Some(10),
                ..Default::default()
            }),
            ["quick"]
        );
        assert_eq!(
            list(ListFilter {
                max_tokens: Some(10),
                ..Default::default()
            }),
            ["quick", "running"]
        );
        assert_eq!(
            list(ListFilter {
                model: Some("claude-3-5-haiku".into()),
                ..Default::default()
            }),
            ["slow"]
        );
        assert!(
            list(ListFilter {
                model: Some("claude".into()),
                ..Default::default()
            })
            .is_empty(),
            "a model is matched exactly"
        );
        for key in ["RateLimitError", "E_SMTP"] {
            assert_eq!(
                list(ListFilter {
                    error_type: Some(key.into()),
                    ..Default::default()
                }),
                ["slow"],
                "{key}"
            );
        }
        assert!(
            list(ListFilter {
                error_type: Some("call".into()),
                ..Default::default()
            })
            .is_empty(),
            "only error types and codes"
        );
    });
}

#[test]
fn listing_filters_by_cost_and_refuses_bad_values() {
    on_each_backend(|store| {
        seed_filtered_runs(store);
        let list = |filter: ListFilter| listed(store, &filter);
        // Cost: a run with unpriced tokens never matches a bound.
        let cost = |min_usd, max_usd| ListFilter {
            cost: Some(CostBound {
                min_usd,
                max_usd,
                pricer: std::sync::Arc::new(DollarPerToken),
            }),
            ..Default::default()
        };
        assert_eq!(list(cost(Some(0.0), None)), ["quick", "slow"]);
        assert_eq!(list(cost(Some(11.0), None)), ["slow"]);
        assert_eq!(list(cost(None, Some(10.0))), ["quick"]);
        assert!(list(cost(Some(501.0), None)).is_empty());
        // Filters combine.
        assert_eq!(
            list(ListFilter {
                min_tokens: Some(1),
                ..cost(None, Some(1_000.0))
            }),
            ["quick", "slow"]
        );
        for bad in [
            ListFilter {
                model: Some("m".repeat(257)),
                ..Default::default()
            },
            cost(Some(-1.0), None),
            cost(None, Some(f64::NAN)),
            ListFilter {
                q: Some("a".repeat(257)),
                ..Default::default()
            },
        ] {
            assert!(
                matches!(
                    store.list_executions(&bad, None, 10),
                    Err(StoreError::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
        // Bounds past what the database holds, and text without a word, match nothing.
        for empty in [
            ListFilter {
                min_duration_ms: Some(u64::MAX),
                ..Default::default()
            },
            ListFilter {
                min_tokens: Some(u64::MAX),
                ..Default::default()
            },
            ListFilter {
                q: Some("?!".into()),
                ..Default::default()
            },
        ] {
            let (found, next) = store.list_executions(&empty, None, 10).unwrap();
            assert!(found.is_empty() && next.is_none(), "{empty:?}");
        }
        // An upper bound past them holds every finished run.
        let (all, _) = store
            .list_executions(
                &ListFilter {
                    max_duration_ms: Some(u64::MAX),
                    ..Default::default()
                },
                None,
                10,
            )
            .unwrap();
        assert!(!all.is_empty());
    });
}

#[test]
fn a_cost_bound_pages_through_every_priced_run() {
    on_each_backend(|store| {
        for i in 0..12u64 {
            let exec = format!("run_{i:02}");
            search_run(store, &exec, "acme", i, Some(1));
            store
                .record_summaries(&[SpanSummary {
                    input_tokens: Some(i),
                    output_tokens: Some(0),
                    model: Some(if i % 3 == 0 { "mystery" } else { "gpt-4o" }.into()),
                    ..summary(&exec, 2, i + 1)
                }])
                .unwrap();
        }
        let filter = ListFilter {
            cost: Some(CostBound {
                min_usd: Some(2.0),
                max_usd: None,
                pricer: std::sync::Arc::new(DollarPerToken),
            }),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = store.list_executions(&filter, cursor.as_ref(), 3).unwrap();
            assert!(page.len() <= 3);
            seen.extend(ids_of(&page));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [
                "run_11", "run_10", "run_08", "run_07", "run_05", "run_04", "run_02"
            ]
        );
    });
}

#[test]
fn text_search_finds_names_errors_and_attributes_and_content_only_with_scope() {
    on_each_backend(|store| {
        search_run(store, "billing", "acme", 0, Some(1));
        search_run(store, "support", "acme", 1, Some(1));
        search_run(store, "theirs", "globex", 2, Some(1));
        let long = format!(
            "{} the invoice total was wrong {}",
            "x ".repeat(300),
            "y ".repeat(300)
        );
        store
            .index_span_texts(
                &id("billing"),
                &[
                    text(2, "compute_invoice", SearchField::Name, "compute_invoice"),
                    text(2, "compute_invoice", SearchField::NodeId, "invoice-node"),
                    text(3, "send", SearchField::ErrorMessage, "SMTP relay refused"),
                    text(3, "send", SearchField::ErrorType, "openai.RateLimitError"),
                    text(4, "llm", SearchField::Attributes, "tier gold\nregion eu"),
                    text(4, "llm", SearchField::Prompt, &long),
                ],
            )
            .unwrap();
        store
            .index_span_texts(
                &id("support"),
                &[text(
                    2,
                    "reply",
                    SearchField::Response,
                    "your invoice total was wrong, sorry",
                )],
            )
            .unwrap();
        store
            .index_span_texts(
                &id("theirs"),
                &[text(
                    2,
                    "compute_invoice",
                    SearchField::Name,
                    "compute_invoice",
                )],
            )
            .unwrap();
        let search = |q: &str, tenant: Option<&str>, content: bool| {
            let filter = ListFilter {
                q: Some(q.into()),
                tenant: tenant.map(str::to_owned),
                search_content: content,
                ..Default::default()
            };
            let (page, _) = store.list_executions(&filter, None, 50).unwrap();
            let ids: Vec<_> = page.iter().map(|e| e.id.clone()).collect();
            let matches = store.search_matches(&filter, &ids).unwrap();
            assert_eq!(
                matches.len(),
                ids.len(),
                "every listed run says where it matched"
            );
            (ids_of(&page), matches)
        };
        // Names, node ids, errors (message and type, also a part of a dotted type), attributes.
        assert_eq!(
            search("compute_invoice", Some("acme"), false).0,
            ["billing"]
        );
        assert_eq!(search("invoice-node", Some("acme"), false).0, ["billing"]);
        assert_eq!(search("relay REFUSED", Some("acme"), false).0, ["billing"]);
        assert_eq!(search("RateLimitError", Some("acme"), false).0, ["billing"]);
        assert_eq!(search("tier gold", Some("acme"), false).0, ["billing"]);
        // A phrase: the words in order.
        assert!(search("gold tier", Some("acme"), false).0.is_empty());
        // Content only with the scope.
        assert!(search("total was wrong", Some("acme"), false).0.is_empty());
        let (ids, matches) = search("total was wrong", Some("acme"), true);
        assert_eq!(ids, ["support", "billing"]);
        let billing = &matches[1].1[0];
        assert_eq!(
            (billing.span_name.as_str(), billing.field),
            ("llm", SearchField::Prompt)
        );
        assert!(billing.snippet.contains("total was wrong"), "{billing:?}");
        assert!(billing.snippet.chars().count() <= 200);
        // Tenants: a tenant sees its own; everyone's without a tenant.
        assert_eq!(
            search("compute_invoice", Some("globex"), false).0,
            ["theirs"]
        );
        assert_eq!(
            search("compute_invoice", None, false).0,
            ["theirs", "billing"]
        );
        let (_, matches) = search("compute_invoice", Some("acme"), false);
        let fields: Vec<_> = matches[0].1.iter().map(|m| m.field).collect();
        assert_eq!(fields, [SearchField::Name]);
    });
}

#[test]
fn a_span_indexed_again_replaces_its_rows_and_an_unknown_run_is_refused() {
    on_each_backend(|store| {
        search_run(store, "billing", "acme", 0, Some(1));
        store
            .index_span_texts(
                &id("billing"),
                &[
                    text(2, "compute_invoice", SearchField::NodeId, "invoice-node"),
                    text(3, "send", SearchField::ErrorType, "openai.RateLimitError"),
                ],
            )
            .unwrap();
        let search = |q: &str| {
            let filter = ListFilter {
                q: Some(q.into()),
                ..Default::default()
            };
            ids_of(&store.list_executions(&filter, None, 50).unwrap().0)
        };
        assert_eq!(search("invoice-node"), ["billing"]);
        // Indexing a span again replaces its rows.
        store
            .index_span_texts(
                &id("billing"),
                &[text(2, "compute_total", SearchField::Name, "compute_total")],
            )
            .unwrap();
        assert!(search("invoice-node").is_empty());
        assert_eq!(search("compute_total"), ["billing"]);
        assert_eq!(
            search("RateLimitError"),
            ["billing"],
            "other spans keep theirs"
        );
        // An unknown execution is refused.
        assert!(matches!(
            store.index_span_texts(&id("nobody"), &[text(2, "x", SearchField::Name, "x")]),
            Err(StoreError::UnknownExecution(_))
        ));
    });
}

#[test]
fn text_search_pages_through_its_matches_newest_first() {
    on_each_backend(|store| {
        for i in 0..23u64 {
            let exec = format!("run_{i:02}");
            search_run(store, &exec, "acme", i, Some(1));
            let name = if i % 2 == 0 { "fetch weather" } else { "other" };
            store
                .index_span_texts(&id(&exec), &[text(2, name, SearchField::Name, name)])
                .unwrap();
            for span in 3..8 {
                store
                    .index_span_texts(
                        &id(&exec),
                        &[text(
                            span,
                            "step",
                            SearchField::Attributes,
                            "weather report",
                        )],
                    )
                    .unwrap();
            }
        }
        let filter = ListFilter {
            q: Some("fetch weather".into()),
            tenant: Some("acme".into()),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = store.list_executions(&filter, cursor.as_ref(), 5).unwrap();
            seen.extend(ids_of(&page));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let expected: Vec<String> = (0..23u64)
            .rev()
            .filter(|i| i % 2 == 0)
            .map(|i| format!("run_{i:02}"))
            .collect();
        assert_eq!(seen, expected);
        // At most three matches a run.
        let broad = ListFilter {
            q: Some("weather".into()),
            ..Default::default()
        };
        let (page, _) = store.list_executions(&broad, None, 1).unwrap();
        let matches = store.search_matches(&broad, &[page[0].id.clone()]).unwrap();
        assert_eq!(matches[0].1.len(), 3);
    });
}

/// A text search first reads a window of the newest runs (twenty for each run of the page); a
/// phrase that fills the page there, one that does not, and one whose window runs out of runs
/// all page through exactly their runs, newest first, with the other filters and tenants.
#[test]
fn text_search_pages_alike_whether_its_window_fills_or_not() {
    on_each_backend(|store| {
        let mut expected_common = Vec::new();
        let mut expected_failed = Vec::new();
        let mut expected_billing = Vec::new();
        for i in 0..150u64 {
            let exec = format!("run_{i:03}");
            let tenant = if i % 7 == 0 { "globex" } else { "acme" };
            let workflow = if i % 2 == 0 { "billing-eu" } else { "support" };
            let mut e = new(&exec, workflow, i);
            e.tenant = Some(tenant.into());
            store.start_execution(&e).unwrap();
            let status = if i % 4 == 0 {
                ExecutionStatus::Error
            } else {
                ExecutionStatus::Completed
            };
            store
                .finish_execution(&e.id, status, None, at(i + 1))
                .unwrap();
            let mut texts = vec![text(2, "step", SearchField::Name, "step")];
            if i % 3 == 0 {
                texts.push(text(3, "llm", SearchField::Attributes, "a common phrase"));
                if tenant == "acme" {
                    expected_common.push(exec.clone());
                    if status == ExecutionStatus::Error {
                        expected_failed.push(exec.clone());
                    }
                    if workflow == "billing-eu" {
                        expected_billing.push(exec.clone());
                    }
                }
            }
            if i == 5 || i == 146 {
                texts.push(text(4, "tool", SearchField::ErrorMessage, "a rare phrase"));
            }
            store.index_span_texts(&id(&exec), &texts).unwrap();
        }
        expected_common.reverse();
        expected_failed.reverse();
        expected_billing.reverse();
        let all = |filter: &ListFilter, limit: usize| {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = store
                    .list_executions(filter, cursor.as_ref(), limit)
                    .unwrap();
                assert!(page.len() <= limit);
                seen.extend(ids_of(&page));
                match next {
                    Some(c) => cursor = Some(c),
                    None => break seen,
                }
            }
        };
        let q = |words: &str| ListFilter {
            q: Some(words.into()),
            tenant: Some("acme".into()),
            ..Default::default()
        };
        for limit in [1, 2, 7, 200] {
            assert_eq!(all(&q("common phrase"), limit), expected_common, "{limit}");
            assert_eq!(
                all(&q("rare phrase"), limit),
                ["run_146", "run_005"],
                "{limit}"
            );
            let failed = ListFilter {
                status: Some(ExecutionStatus::Error),
                ..q("common phrase")
            };
            assert_eq!(all(&failed, limit), expected_failed, "{limit}");
            let billing = ListFilter {
                workflow_prefix: Some("billing".into()),
                ..q("common phrase")
            };
            assert_eq!(all(&billing, limit), expected_billing, "{limit}");
        }
    });
}

#[test]
fn search_rows_follow_their_run_tenant_deletion_and_retention() {
    on_each_backend(|store| {
        let mut orphan = new("late_root", "wf", 0);
        orphan.tenant = Some(UNASSIGNED_TENANT.into());
        store.start_execution(&orphan).unwrap();
        search_run(store, "old", "acme", 1, Some(1));
        search_run(store, "doomed", "acme", 500, Some(1));
        for exec in ["late_root", "old", "doomed"] {
            store
                .index_span_texts(&id(exec), &[text(2, "needle", SearchField::Name, "needle")])
                .unwrap();
        }
        let found = |tenant: Option<&str>| {
            let filter = ListFilter {
                q: Some("needle".into()),
                tenant: tenant.map(str::to_owned),
                ..Default::default()
            };
            let (page, _) = store.list_executions(&filter, None, 50).unwrap();
            let ids: Vec<_> = page.iter().map(|e| e.id.clone()).collect();
            // The matches query checks the rows' own tenant too.
            let matched = store.search_matches(&filter, &ids).unwrap().len();
            assert_eq!(matched, ids.len());
            ids_of(&page)
        };
        // The run's root names its tenant later: its rows move with it.
        store
            .describe_execution(
                &id("late_root"),
                &ExecutionDetails {
                    tenant: Some("acme".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(found(Some("acme")), ["doomed", "old", "late_root"]);
        assert!(store.delete_execution(&id("doomed")).unwrap().is_some());
        assert_eq!(found(None), ["old", "late_root"]);
        assert_eq!(store.prune(at(1)).unwrap().executions, 1);
        assert_eq!(found(None), ["old"]);
        // Indexing a run once from its fetched tree replaces what it had.
        store
            .index_execution_texts(
                &id("old"),
                &[text(9, "haystack", SearchField::Name, "haystack")],
            )
            .unwrap();
        assert!(found(None).is_empty());
    });
}

/// SQLite's index of the rows a caller without the content scope searches holds exactly the
/// table's rows that are not content, through writes, re-indexing, tenant moves and deletion.
#[test]
fn sqlite_index_of_plain_rows_follows_the_table() {
    #[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let db = sqlite();
    let store = &db.store;
    let dir = db.sqlite_dir.as_ref().unwrap();
    let mut conn = diesel::sqlite::SqliteConnection::establish(
        &dir.path().join("trace.db").display().to_string(),
    )
    .unwrap();
    let mut in_step = |word: &str| {
        let indexed: Vec<Id> = diesel::sql_query(
            "SELECT rowid AS id FROM execution_search_plain_fts \
             WHERE execution_search_plain_fts MATCH ? ORDER BY rowid",
        )
        .bind::<diesel::sql_types::Text, _>(word)
        .load(&mut conn)
        .unwrap();
        let rows: Vec<Id> = diesel::sql_query(
            "SELECT id FROM execution_search WHERE content = 0 AND text LIKE ? ORDER BY id",
        )
        .bind::<diesel::sql_types::Text, _>(format!("%{word}%"))
        .load(&mut conn)
        .unwrap();
        assert_eq!(indexed, rows, "{word}");
        rows.len()
    };
    search_run(store, "kept", "acme", 0, Some(1));
    search_run(store, "doomed", "acme", 1, Some(1));
    for exec in ["kept", "doomed"] {
        store
            .index_span_texts(
                &id(exec),
                &[
                    text(2, "needle", SearchField::Name, "needle"),
                    text(2, "needle", SearchField::Prompt, "needle in the prompt"),
                ],
            )
            .unwrap();
    }
    assert_eq!(in_step("needle"), 2, "the names, not the prompts");
    // A span indexed again, a run deleted, a run indexed once from its fetched tree.
    store
        .index_span_texts(
            &id("kept"),
            &[text(2, "needle", SearchField::Name, "thread")],
        )
        .unwrap();
    assert!(store.delete_execution(&id("doomed")).unwrap().is_some());
    assert_eq!(in_step("needle"), 0);
    assert_eq!(in_step("thread"), 1);
    store
        .index_execution_texts(
            &id("kept"),
            &[text(3, "spool", SearchField::NodeId, "spool")],
        )
        .unwrap();
    assert_eq!(in_step("thread"), 0);
    assert_eq!(in_step("spool"), 1);
}

#[test]
fn values_many_rows_share_are_found_as_rare_ones_are() {
    on_each_backend(|store| {
        // Past the count at which SQLite probes run by run instead of reading every match.
        let many = 10_001u64;
        search_run(store, "heavy", "acme", 0, Some(1));
        search_run(store, "light", "acme", 1, Some(1));
        search_run(store, "unrelated", "acme", 2, Some(1));
        search_run(store, "prompted", "acme", 3, Some(1));
        search_run(store, "theirs", "globex", 4, Some(1));
        let texts: Vec<SpanText> = (1..=many)
            .map(|span| text(span, "step", SearchField::Name, "shared phrase here"))
            .collect();
        store.index_span_texts(&id("heavy"), &texts).unwrap();
        for (exec, field, words) in [
            ("light", SearchField::Attributes, "a shared phrase"),
            ("unrelated", SearchField::Name, "shared, then a phrase"),
            ("prompted", SearchField::Prompt, "shared phrase"),
            ("theirs", SearchField::Name, "shared phrase"),
        ] {
            store
                .index_span_texts(&id(exec), &[text(2, "step", field, words)])
                .unwrap();
        }
        let summaries: Vec<SpanSummary> = (1..=many)
            .map(|span| SpanSummary {
                model: Some("shared-model".into()),
                ..summary("heavy", span, 2)
            })
            .chain(["light", "theirs"].map(|exec| SpanSummary {
                model: Some("shared-model".into()),
                ..summary(exec, 2, 2)
            }))
            .collect();
        store.record_summaries(&summaries).unwrap();
        let pages = |filter: &ListFilter| {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = store.list_executions(filter, cursor.as_ref(), 1).unwrap();
                seen.extend(ids_of(&page));
                match next {
                    Some(c) => cursor = Some(c),
                    None => break seen,
                }
            }
        };
        let q = |tenant: Option<&str>, content: bool| ListFilter {
            q: Some("Shared phrase".into()),
            tenant: tenant.map(str::to_owned),
            search_content: content,
            ..Default::default()
        };
        assert_eq!(pages(&q(Some("acme"), false)), ["light", "heavy"]);
        assert_eq!(
            pages(&q(Some("acme"), true)),
            ["prompted", "light", "heavy"]
        );
        assert_eq!(pages(&q(None, false)), ["theirs", "light", "heavy"]);
        let model = |tenant: Option<&str>| ListFilter {
            model: Some("shared-model".into()),
            tenant: tenant.map(str::to_owned),
            ..Default::default()
        };
        assert_eq!(pages(&model(Some("acme"))), ["light", "heavy"]);
        assert_eq!(pages(&model(None)), ["theirs", "light", "heavy"]);
    });
}

//! The metadata store's targets (`cargo bench -p orcheo-trace-store`): an execution looked up by
//! trace id, span summaries recorded in batches, and the newest 50 executions of a workflow
//! listed among 1,000,000. SQLite always; PostgreSQL too when `ORCHEO_BENCH_DATABASE_URL` names
//! a database the benchmark may fill. Results: `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up")]

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use diesel::Connection as _;
use diesel::RunQueryDsl as _;
use orcheo_trace_model::{ExecutionId, SpanId, SpanSummary, StatusCode, Timestamp, TraceId};
use orcheo_trace_store::{ListFilter, PoolConfig, Store};

const ROWS: u64 = 1_000_000;
const WORKFLOWS: u64 = 1_000;

/// Fills `workflow_executions` with ROWS executions of WORKFLOWS workflows, each with a trace id,
/// in one statement on the server side.
fn fill(url: &str) {
    let sql = format!(
        "INSERT INTO workflow_executions (execution_id, workflow_id, tenant_id, status, started_at, trace_id) \
         SELECT 'exec_' || n, 'wf_' || (n % {WORKFLOWS}), 'default', 'completed', \
                1770000000000000000 + n * 1000000, \
                substr('00000000000000000000000000000000' || n, -32, 32) \
         FROM {} ",
        if url.starts_with("postgres") {
            format!("generate_series(1::bigint, {ROWS}) AS n")
        } else {
            format!(
                "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {ROWS}) SELECT n FROM s)"
            )
        }
    );
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = diesel::sqlite::SqliteConnection::establish(path).unwrap();
        diesel::sql_query(sql).execute(&mut conn).unwrap();
        diesel::sql_query("ANALYZE").execute(&mut conn).unwrap();
    } else {
        let mut conn = orcheo_trace_store::postgres_connection(url).unwrap();
        // PostgreSQL's `substr` wants a positive start; pad with lpad there.
        let sql = sql.replace(
            "substr('00000000000000000000000000000000' || n, -32, 32)",
            "lpad(n::text, 32, '0')",
        );
        diesel::sql_query(sql).execute(&mut conn).unwrap();
        diesel::sql_query("ANALYZE").execute(&mut conn).unwrap();
    }
}

fn summaries(batch: u64, size: u64) -> Vec<SpanSummary> {
    (0..size)
        .map(|i| SpanSummary {
            execution_id: ExecutionId::new("exec_1").unwrap(),
            span_id: SpanId::from_bytes((batch * size + i + 1).to_be_bytes()).unwrap(),
            parent_span_id: SpanId::from_hex("1").ok(),
            name: format!("node {i}"),
            kind: "llm".into(),
            start_time: Timestamp::from_unix_nanos(1_770_000_000_000_000_000),
            end_time: Some(Timestamp::from_unix_nanos(1_770_000_001_000_000_000)),
            status_code: StatusCode::Ok,
            status_message: None,
            input_tokens: Some(1200),
            output_tokens: Some(300),
            cached_input_tokens: None,
            model: None,
            provider: None,
        })
        .collect()
}

fn backend(c: &mut Criterion, label: &str, url: &str) {
    let store = Store::open(url, PoolConfig::default()).unwrap();
    store.migrate().unwrap();
    fill(url);
    let mut group = c.benchmark_group(format!("store_{label}"));

    let mut n = 0u64;
    group.bench_function("execution_by_trace_id_among_1M", |b| {
        b.iter(|| {
            n = n % ROWS + 1;
            let trace = TraceId::from_hex(&format!("{n:032}")).unwrap();
            store.execution_by_trace_id(trace).unwrap().unwrap()
        });
    });

    let mut w = 0u64;
    group.bench_function("newest_50_of_a_workflow_among_1M", |b| {
        b.iter(|| {
            w = (w + 1) % WORKFLOWS;
            let filter = ListFilter {
                workflow_id: Some(format!("wf_{w}")),
                ..ListFilter::default()
            };
            let (page, _) = store.list_executions(&filter, None, 50).unwrap();
            assert_eq!(page.len(), 50);
            page
        });
    });

    let mut batch = 0u64;
    group.throughput(Throughput::Elements(100));
    group.bench_function("record_100_summaries", |b| {
        b.iter_batched(
            || {
                batch += 1;
                summaries(batch, 100)
            },
            |s| store.record_summaries(&s).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    backend(
        c,
        "sqlite",
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
    );
    if let Ok(url) = std::env::var("ORCHEO_BENCH_DATABASE_URL") {
        backend(c, "postgres", &url);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = store
}
criterion_main!(benches);

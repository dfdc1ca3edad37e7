//! The executions search over 1,000,000 executions (`cargo bench -p orcheo-trace-store --bench
//! search`): each filter of `GET /api/executions` and free text, timed as the route reads a page
//! (the page of 50, where the text matched, the token totals and the tokens by model), with the
//! 50th, 95th and 99th percentiles of many reads. SQLite always; PostgreSQL too when
//! `ORCHEO_BENCH_DATABASE_URL` names a database the benchmark may fill (its tables are emptied
//! first). `ORCHEO_BENCH_EXECUTIONS` sets another count. Results: `docs/benchmarks.md`.
//!
//! The data: 1,000 workflows in two tenants (one run in ten is the other tenant's), runs of 50 ms
//! to 60 s over about 12 days, three spans each (the run, an LLM node, a tool node), one model of
//! four per LLM node, one run in twenty failing with one of two errors, and six search rows per
//! run (names, node ids, the response; error message and type when failing) — 6,000,000 rows
//! for 1,000,000 runs. A phrase in 10 runs, one in a seventh of them, an order number in 20.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up")]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark program reports on its standard streams"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::Connection as _;
use diesel::RunQueryDsl as _;
use orcheo_trace_model::{ExecutionId, ExecutionStatus, Timestamp};
use orcheo_trace_store::{
    AnyConnection, CostBound, ListFilter, ModelTokens, PoolConfig, RunPricer, Store,
};

/// Reads timed per query.
const READS: usize = 200;
/// The first start time: 2026-02-02.
const T0: i64 = 1_770_000_000_000_000_000;
/// One run every this many nanoseconds (1 s: 1,000,000 runs over about 12 days).
const STEP: i64 = 1_000_000_000;

fn runs() -> i64 {
    std::env::var("ORCHEO_BENCH_EXECUTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The numbers 1..=n as a row source named `s(n)`, on either backend.
fn numbers(postgres: bool, n: i64) -> String {
    if postgres {
        format!("generate_series(1::bigint, {n}) AS s(n)")
    } else {
        format!(
            "(WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) SELECT n FROM g) AS s"
        )
    }
}

/// A span id for run `n` and span `k` (1, 2, 3): 16 hex digits.
fn span_id(postgres: bool, k: i64) -> String {
    if postgres {
        format!("lpad(to_hex(n * 4 + {k}), 16, '0')")
    } else {
        format!("printf('%016x', n * 4 + {k})")
    }
}

fn statements(postgres: bool, n: i64) -> Vec<String> {
    let rows = numbers(postgres, n);
    let (s1, s2, s3) = (
        span_id(postgres, 1),
        span_id(postgres, 2),
        span_id(postgres, 3),
    );
    let tenant = "CASE WHEN n % 10 = 3 THEN 'acme' ELSE 'default' END";
    let failing = "n % 20 = 0";
    let node = "CASE n % 8 WHEN 0 THEN 'Classify Ticket' WHEN 1 THEN 'Search Orders' WHEN 2 THEN 'Draft Reply' \
                WHEN 3 THEN 'Extract Line Items' WHEN 4 THEN 'Plan Research' WHEN 5 THEN 'Summarize' \
                WHEN 6 THEN 'Translate' ELSE 'Route Request' END";
    let response = "'Order ' || (n % 50000) || ': ' || CASE n % 7 WHEN 0 THEN 'shipped, carrier delay reported' \
                    WHEN 1 THEN 'refund approved after review' WHEN 2 THEN 'the customer asked about invoice totals' \
                    WHEN 3 THEN 'a replacement part was suggested' WHEN 4 THEN 'escalated to a human agent' \
                    WHEN 5 THEN 'payment failed twice before it went through' ELSE 'no action needed' END \
                    || CASE WHEN n % 100000 = 4242 THEN ' with a zebra crossing discount' ELSE '' END";
    let model = "CASE n % 4 WHEN 0 THEN 'gpt-4o' WHEN 1 THEN 'gpt-4o-mini' WHEN 2 THEN 'claude-sonnet-4' ELSE 'o3-mini' END";
    let error_message = "CASE WHEN n % 40 = 0 THEN 'Rate limit reached for requests per minute' ELSE 'prompt is too long: 212480 tokens > 200000 maximum' END";
    let error_type =
        "CASE WHEN n % 40 = 0 THEN 'openai.RateLimitError' ELSE 'anthropic.BadRequestError' END";
    let started = format!("{T0} + n * {STEP}");
    let search = |span: &str, field: &str, content: u8, name: &str, text: &str, when: &str| {
        format!(
            "INSERT INTO execution_search (execution_id, span_id, field, tenant_id, content, span_name, text) \
             SELECT 'exec_' || n, {span}, '{field}', {tenant}, {content}, {name}, {text} FROM {rows} WHERE {when}"
        )
    };
    let summary = |span: &str,
                   parent: &str,
                   name: &str,
                   kind: &str,
                   extra: (&str, &str, &str, &str)| {
        let (status, input, output, model) = extra;
        format!(
            "INSERT INTO workflow_trace_summary (execution_id, span_id, parent_span_id, name, kind, start_time, end_time, \
             status_code, status_message, input_tokens, output_tokens, updated_seq, model, provider, cached_input_tokens) \
             SELECT 'exec_' || n, {span}, {parent}, {name}, '{kind}', {started}, {started} + 50000000, {status}, NULL, \
             {input}, {output}, n, {model}, NULL, NULL FROM {rows}"
        )
    };
    let error_status = format!("CASE WHEN {failing} THEN 'ERROR' ELSE 'OK' END");
    vec![
        format!(
            "INSERT INTO workflow_executions (execution_id, workflow_id, tenant_id, status, started_at, finished_at, trace_id) \
             SELECT 'exec_' || n, 'wf_' || (n % 1000), {tenant}, CASE WHEN {failing} THEN 'error' ELSE 'completed' END, \
             {started}, {started} + (50 + (n * 7919) % 60000) * 1000000, NULL FROM {rows}"
        ),
        summary(
            &s1,
            "NULL",
            "'workflow.execution'",
            "workflow",
            (&error_status, "NULL", "NULL", "NULL"),
        ),
        summary(
            &s2,
            &s1,
            node,
            "llm",
            (
                &error_status,
                "100 + (n * 31) % 5000",
                "20 + (n * 17) % 700",
                model,
            ),
        ),
        summary(
            &s3,
            &s1,
            "'Lookup Order'",
            "tool",
            ("'OK'", "NULL", "NULL", "NULL"),
        ),
        search(
            &s1,
            "name",
            0,
            "'workflow.execution'",
            "'workflow.execution'",
            "1 = 1",
        ),
        search(&s2, "name", 0, node, node, "1 = 1"),
        search(&s2, "node_id", 0, node, "'node_' || (n % 40)", "1 = 1"),
        search(&s3, "name", 0, "'Lookup Order'", "'Lookup Order'", "1 = 1"),
        search(&s2, "response", 1, node, response, "1 = 1"),
        search(&s2, "error_message", 0, node, error_message, failing),
        search(&s2, "error_type", 0, node, error_type, failing),
    ]
}

fn fill(url: &str) {
    #[derive(diesel::QueryableByName)]
    struct Index {
        #[diesel(sql_type = diesel::sql_types::Text)]
        indexname: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        indexdef: String,
    }
    let postgres = url.starts_with("postgres");
    let n = runs();
    let started = Instant::now();
    if filled(url) == n {
        eprintln!("reusing the {n} executions filled before");
        return;
    }
    let mut conn: AnyConnection = if postgres {
        AnyConnection::Postgresql(orcheo_trace_store::postgres_connection(url).unwrap())
    } else {
        let path = url.strip_prefix("sqlite://").unwrap();
        AnyConnection::Sqlite(diesel::sqlite::SqliteConnection::establish(path).unwrap())
    };
    let execute = |conn: &mut AnyConnection, sql: &str| match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(sql).execute(c).unwrap(),
        AnyConnection::Sqlite(c) => diesel::sql_query(sql).execute(c).unwrap(),
    };
    // The full-text indexes are built once over the filled table (as after a bulk load), not
    // kept row by row.
    let mut gin: Vec<String> = Vec::new();
    if postgres {
        let AnyConnection::Postgresql(c) = &mut conn else {
            unreachable!()
        };
        let indexes: Vec<Index> = diesel::sql_query(
            "SELECT indexname::text, indexdef FROM pg_indexes \
             WHERE tablename = 'execution_search' AND indexdef LIKE '%USING gin%'",
        )
        .load(c)
        .unwrap();
        // What an earlier run left (the runs, and with them their summaries and search rows).
        execute(&mut conn, "TRUNCATE workflow_executions CASCADE");
        for index in indexes {
            execute(&mut conn, &format!("DROP INDEX {}", index.indexname));
            gin.push(index.indexdef);
        }
    } else {
        execute(&mut conn, "PRAGMA journal_mode = WAL");
    }
    for sql in statements(postgres, n) {
        execute(&mut conn, &sql);
    }
    for def in gin {
        execute(&mut conn, &def);
    }
    // As autovacuum leaves a table a while after a bulk load: statistics, and (PostgreSQL) the
    // visibility map, without which an index-only scan still reads every row's page.
    execute(
        &mut conn,
        if postgres {
            "VACUUM ANALYZE"
        } else {
            "ANALYZE"
        },
    );
    eprintln!(
        "filled {n} executions in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// How many executions the database holds.
fn filled(url: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = "SELECT COUNT(*) AS n FROM workflow_executions";
    let counted: Count = if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = diesel::sqlite::SqliteConnection::establish(path).unwrap();
        diesel::sql_query(sql).get_result(&mut conn).unwrap()
    } else {
        let mut conn = orcheo_trace_store::postgres_connection(url).unwrap();
        diesel::sql_query(sql).get_result(&mut conn).unwrap()
    };
    counted.n
}

/// A price per token for each model the data names (dollars per million, input and output).
struct FlatPrices;

impl RunPricer for FlatPrices {
    fn run_usd(&self, _tenant: &str, tokens: &[ModelTokens]) -> Option<f64> {
        tokens.iter().try_fold(0.0, |sum, m| {
            let (input, output) = match m.model.as_deref() {
                None => return Some(sum),
                Some("gpt-4o") => (2.5, 10.0),
                Some("gpt-4o-mini") => (0.15, 0.6),
                Some("claude-sonnet-4") => (3.0, 15.0),
                Some(_) => return None,
            };
            #[allow(clippy::cast_precision_loss, reason = "token counts far below 2^52")]
            let usd = (m.tokens.input as f64 * input + m.tokens.output as f64 * output) / 1e6;
            Some(sum + usd)
        })
    }
}

fn at(nanos: i64) -> Timestamp {
    Timestamp::from_unix_nanos(nanos.unsigned_abs())
}

/// The searches timed: a name and the filter (tenant `default`, as a caller of that tenant).
fn searches(n: i64) -> Vec<(&'static str, ListFilter)> {
    let base = ListFilter {
        tenant: Some("default".into()),
        search_content: true,
        ..ListFilter::default()
    };
    let text = |q: &str| ListFilter {
        q: Some(q.into()),
        ..base.clone()
    };
    let last = T0 + n * STEP;
    vec![
        ("newest page, no filter", base.clone()),
        ("text: a phrase in 10 runs", text("zebra crossing discount")),
        ("text: a phrase in 1 run of 7", text("refund approved")),
        ("text: an order number (20 runs)", text("order 4242")),
        ("text: a node name (1 run of 8)", text("draft reply")),
        ("text: no run at all", text("unicorn pasture")),
        (
            "text without content scope (response words)",
            ListFilter {
                search_content: false,
                ..text("refund approved")
            },
        ),
        (
            "text + workflow prefix",
            ListFilter {
                workflow_prefix: Some("wf_42".into()),
                ..text("refund approved")
            },
        ),
        (
            "text + last 24 h + status error",
            ListFilter {
                started_after: Some(at(last - 86_400 * 1_000_000_000)),
                status: Some(ExecutionStatus::Error),
                ..text("prompt is too long")
            },
        ),
        (
            "error type (1 run in 40)",
            ListFilter {
                error_type: Some("openai.RateLimitError".into()),
                ..base.clone()
            },
        ),
        (
            "model (1 run in 4)",
            ListFilter {
                model: Some("o3-mini".into()),
                ..base.clone()
            },
        ),
        (
            "tokens at least 5,500 (3% of runs)",
            ListFilter {
                min_tokens: Some(5_500),
                ..base.clone()
            },
        ),
        (
            "duration at least 59 s (2% of runs)",
            ListFilter {
                min_duration_ms: Some(59_000),
                ..base.clone()
            },
        ),
        (
            "a failing span",
            ListFilter {
                has_failing_span: Some(true),
                ..base.clone()
            },
        ),
        (
            "time range: one hour a week ago",
            ListFilter {
                started_after: Some(at(last - 7 * 86_400 * 1_000_000_000)),
                started_before: Some(at(last - 7 * 86_400 * 1_000_000_000 + 3_600 * 1_000_000_000)),
                ..base.clone()
            },
        ),
        (
            "cost at least $0.02",
            ListFilter {
                cost: Some(CostBound {
                    min_usd: Some(0.02),
                    max_usd: None,
                    pricer: Arc::new(FlatPrices),
                }),
                ..base.clone()
            },
        ),
    ]
}

/// One page as the list route reads it: the runs, where the text matched, their totals and
/// their tokens by model.
fn page(store: &Store, filter: &ListFilter) -> usize {
    let (rows, _next) = store.list_executions(filter, None, 50).unwrap();
    let ids: Vec<ExecutionId> = rows.iter().map(|e| e.id.clone()).collect();
    let matches = store.search_matches(filter, &ids).unwrap();
    let totals = store.summary_totals(&ids).unwrap();
    let models = store.summary_model_tokens(&ids).unwrap();
    std::hint::black_box((&matches, &totals, &models));
    rows.len()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn backend(label: &str, url: &str) {
    let store = Store::open(url, PoolConfig::default()).unwrap();
    store.migrate().unwrap();
    fill(url);
    println!("\n{label}, {} executions", runs());
    println!(
        "| search | runs on the page | reads | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|"
    );
    for (name, filter) in searches(runs()) {
        // Warm: the first read loads pages from disk.
        let found = page(&store, &filter);
        // At most READS reads, and at least 20 however long they take, within about 20 s.
        let budget = Instant::now();
        let mut times: Vec<Duration> = Vec::with_capacity(READS);
        while times.len() < READS
            && (times.len() < 20 || budget.elapsed() < Duration::from_secs(20))
        {
            let start = Instant::now();
            page(&store, &filter);
            times.push(start.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {name} | {found} | {} | {:.2} | {:.2} | {:.2} |",
            times.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(percentile(&times, 0.99)),
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks the backends by label.
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |label: &str| only.as_deref().is_none_or(|o| label.contains(o));
    if wanted("sqlite") {
        let dir = tempfile::tempdir().unwrap();
        // A file that outlives the run, to time the searches again without filling again.
        let path = std::env::var("ORCHEO_BENCH_SQLITE_FILE")
            .map_or_else(|_| dir.path().join("search.db"), std::path::PathBuf::from);
        backend("sqlite", &format!("sqlite://{}", path.display()));
    }
    if wanted("postgres") {
        match std::env::var("ORCHEO_BENCH_DATABASE_URL") {
            Ok(url) => backend("postgres", &url),
            Err(_) => eprintln!("postgres: skipped (ORCHEO_BENCH_DATABASE_URL is unset)"),
        }
    }
}

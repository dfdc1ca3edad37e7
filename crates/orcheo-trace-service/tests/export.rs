//! The audit export: CSV and JSON read back by independent parsers, and a 100,000-span trace
//! written through the bounded channel.

use std::sync::Arc;
use std::time::Duration;

use orcheo_pricing::{PriceTable, TraceCosts};
use orcheo_trace_model::TraceTree;
use orcheo_trace_service::export::{
    self, CHUNK_BYTES, CHUNKS_AHEAD, CSV_COLUMNS, ExportSlots, MAX_EXPORTS,
};
use serde_json::{Value, json};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// A run of `children` nodes under a root, as OTLP/JSON; node 0 failed, with a name and a
/// message a CSV writer must quote and one a spreadsheet would run as a formula.
fn run(children: usize) -> TraceTree {
    let attr = |key: &str, value: &str| json!({"key": key, "value": {"stringValue": value}});
    let mut spans = vec![json!({
        "traceId": TRACE, "spanId": "00f067aa0ba90001", "name": "workflow.execution", "kind": 1,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000010000000000",
        "attributes": [attr("orcheo.execution.id", "exec_1")], "status": {"code": 1}
    })];
    for i in 0..children {
        let (name, status, attributes) = if i == 0 {
            (
                "=cmd|' /C calc'!A0, \"quoted\"".to_owned(),
                json!({"code": 2, "message": "line one\nline two, with a comma"}),
                vec![
                    attr("orcheo.node.kind", "llm"),
                    attr("gen_ai.request.model", "gpt-4o"),
                    attr("orcheo.error.code", "RATE_LIMIT"),
                    json!({"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}}),
                    json!({"key": "gen_ai.usage.output_tokens", "value": {"intValue": "30"}}),
                ],
            )
        } else {
            (
                format!("node {i}"),
                json!({"code": 1}),
                vec![attr("orcheo.node.kind", "tool")],
            )
        };
        spans.push(json!({
            "traceId": TRACE, "spanId": format!("{:016x}", i + 2), "parentSpanId": "00f067aa0ba90001",
            "name": name, "kind": 1,
            "startTimeUnixNano": (1_700_000_001_000_000_000_u64 + i as u64).to_string(),
            "endTimeUnixNano": (1_700_000_002_000_000_000_u64 + i as u64).to_string(),
            "attributes": attributes, "status": status
        }));
    }
    let body = json!({"resourceSpans": [{"resource": {"attributes": []},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]});
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    orcheo_span_tree::decode_and_normalize(&bytes, orcheo_span_tree::Format::Auto)
}

#[test]
fn csv_export_parses_back_with_a_row_per_span() {
    let tree = run(3);
    let costs = priced(&tree);
    let mut out = Vec::new();
    export::write_csv(&mut out, "exec_1", &tree, &costs).unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers, CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4, "a row per span");
    let column = |row: &csv::StringRecord, name: &str| {
        let i = CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
        row.get(i).unwrap().to_owned()
    };
    let root = &rows[0];
    assert_eq!(column(root, "execution_id"), "exec_1");
    assert_eq!(column(root, "trace_id"), TRACE);
    assert_eq!(column(root, "parent_span_id"), "");
    assert_eq!(column(root, "depth"), "0");
    assert_eq!(column(root, "duration_ms"), "10000");
    let failed = &rows[1];
    assert_eq!(column(failed, "parent_span_id"), "00f067aa0ba90001");
    assert_eq!(
        column(failed, "name"),
        "'=cmd|' /C calc'!A0, \"quoted\"",
        "a formula is defused, commas and quotes survive"
    );
    assert_eq!(column(failed, "status"), "ERROR");
    assert_eq!(
        column(failed, "status_message"),
        "line one\nline two, with a comma"
    );
    assert_eq!(column(failed, "error_code"), "RATE_LIMIT");
    assert_eq!(column(failed, "model"), "gpt-4o");
    assert_eq!(column(failed, "input_tokens"), "120");
    assert_eq!(column(failed, "own_output_tokens"), "30");
    assert_eq!(column(failed, "kind"), "llm");
    // gpt-4o's list price: 120 input and 30 output tokens.
    let usd: f64 = column(failed, "cost_usd").parse().unwrap();
    assert!(
        (usd - (120.0 * 2.5 + 30.0 * 10.0) / 1e6).abs() < 1e-12,
        "{usd}"
    );
    assert_eq!(column(failed, "cost_note"), "");
    assert_eq!(
        column(&rows[2], "cost_usd"),
        "",
        "a span without tokens has no cost"
    );
    assert_eq!(column(&rows[2], "model"), "", "no model is an empty field");
    assert_eq!(column(&rows[2], "input_tokens"), "");
}

#[test]
fn json_export_is_the_execution_and_the_whole_tree() {
    let tree = run(5);
    let mut out = Vec::new();
    export::write_json(
        &mut out,
        &json!({"id": "exec_1"}),
        &json!({"backend": "embedded"}),
        &tree,
        &priced(&tree),
    )
    .unwrap();
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["format"], "orcheo-trace-export");
    assert_eq!(doc["version"], 1);
    assert!(doc["exported_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(doc["execution"]["id"], "exec_1");
    assert_eq!(doc["source"]["backend"], "embedded");
    assert_eq!(doc["trace_id"], TRACE);
    assert_eq!(count(&doc["root"]), 6);
    assert_eq!(doc["root"]["children"][0]["error"]["code"], "RATE_LIMIT");
    assert!(doc["root"]["children"][0]["cost"]["usd"].as_f64().is_some());
    assert_eq!(doc["root"]["children"][1]["cost"], Value::Null);
}

/// The costs of `tree` at the built-in prices.
fn priced(tree: &TraceTree) -> TraceCosts {
    let table = PriceTable::builtin().unwrap_or_else(|e| panic!("the built-in prices: {e}"));
    TraceCosts::of(table.prices(), tree)
}

/// Spans in a nested tree of the JSON export.
fn count(node: &Value) -> usize {
    1 + node["children"]
        .as_array()
        .map_or(0, |c| c.iter().map(count).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_span_export_waits_for_its_reader_and_arrives_whole() {
    let tree = Arc::new(run(99_999));
    let costs = Arc::new(priced(&tree));
    let slots = ExportSlots::default();
    let slot = slots.take().unwrap();
    let mut chunks = export::csv_stream(slot, "exec_1".to_owned(), Arc::clone(&tree), costs);
    // Nobody reads: the writer stops once the channel is full instead of writing it all out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        chunks.len() <= CHUNKS_AHEAD,
        "{} chunks waiting",
        chunks.len()
    );
    let mut bytes = Vec::new();
    let mut largest = 0;
    let mut count = 0;
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.unwrap();
        largest = largest.max(chunk.len());
        count += 1;
        bytes.extend_from_slice(&chunk);
    }
    assert!(
        bytes.len() > (CHUNKS_AHEAD + 1) * CHUNK_BYTES,
        "more than the channel holds: it was written while read"
    );
    assert!(count > CHUNKS_AHEAD + 1);
    // A chunk is sent once it reaches the size: it exceeds it by less than one row.
    assert!(
        largest < CHUNK_BYTES + 1024,
        "largest chunk {largest} bytes"
    );
    let rows = csv::Reader::from_reader(bytes.as_slice())
        .records()
        .map(Result::unwrap)
        .count();
    assert_eq!(rows, 100_000);
    // The export's place was given back when it was written.
    let all: Vec<_> = (0..MAX_EXPORTS).map_while(|_| slots.take()).collect();
    assert_eq!(all.len(), MAX_EXPORTS);
}

#[test]
fn no_more_exports_run_at_once_than_there_are_places() {
    let slots = ExportSlots::default();
    let taken: Vec<_> = (0..MAX_EXPORTS).map(|_| slots.take().unwrap()).collect();
    assert!(
        slots.take().is_none(),
        "one more export than there are places"
    );
    drop(taken);
    assert!(slots.take().is_some());
}

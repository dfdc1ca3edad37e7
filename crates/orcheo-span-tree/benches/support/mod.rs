//! A synthetic workflow trace for benchmarks: an 8-ary tree of Orcheo node spans, each with
//! the attributes a real node carries, and a prompt and response on every fourth span.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "shared by the benchmark and the memory probe"
)]

#[path = "../../tests/helpers/proto.rs"]
pub mod proto;

use std::sync::Arc;

use orcheo_trace_model::{
    KeyValue, RawSpan, RawStatus, Resource, SpanEvent, SpanId, SpanKind, StatusCode, Timestamp,
    TraceId,
};
use serde_json::{Value, json};

pub fn spans(n: usize) -> Vec<RawSpan> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", "orcheo-backend")],
    });
    let trace_id = TraceId::from_bytes(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128.to_be_bytes())
        .unwrap_or_else(|_| unreachable!());
    let id = |i: usize| {
        SpanId::from_bytes(
            (i as u64 + 1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_be_bytes(),
        )
        .unwrap_or_else(|_| unreachable!())
    };
    let base = 1_770_000_000_000_000_000u64;
    (0..n)
        .map(|i| {
            let mut s = RawSpan::new(
                trace_id,
                id(i),
                if i == 0 {
                    "workflow.execution".to_owned()
                } else {
                    format!("Node {i}")
                },
            );
            s.parent_span_id = (i > 0).then(|| id((i - 1) / 8));
            s.kind = SpanKind::Internal;
            s.start_time = Timestamp::from_unix_nanos(base + i as u64 * 1_000);
            s.end_time = Some(Timestamp::from_unix_nanos(
                base + i as u64 * 1_000 + 500_000_000,
            ));
            s.status = RawStatus {
                code: if i % 50 == 49 {
                    StatusCode::Error
                } else {
                    StatusCode::Ok
                },
                message: None,
            };
            s.resource = Arc::clone(&resource);
            s.attributes = vec![
                KeyValue::new("orcheo.execution.id", "exec_bench_0001"),
                KeyValue::new("orcheo.node.id", format!("node-{i}")),
                KeyValue::new("orcheo.node.display_name", format!("Node {i}")),
                KeyValue::new("orcheo.node.kind", "llm"),
                KeyValue::new("orcheo.token.input", 1200i64),
                KeyValue::new("orcheo.token.output", 340i64),
                KeyValue::new("gen_ai.request.model", "gpt-4o-mini"),
                KeyValue::new("gen_ai.provider.name", "openai"),
            ];
            if i % 4 == 0 {
                let text =
                    "Summarize the customer's last three tickets and propose a reply. ".repeat(3);
                s.events = ["prompt", "response"]
                    .into_iter()
                    .map(|name| SpanEvent {
                        name: name.into(),
                        time: Some(s.start_time),
                        attributes: vec![KeyValue::new("preview", text.clone())],
                    })
                    .collect();
            }
            s
        })
        .collect()
}

pub fn otlp_protobuf(spans: &[RawSpan]) -> Vec<u8> {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, TracesData};
    use prost::Message as _;
    // One resource block for all spans, as an SDK exports them.
    let mut blocks = proto::resource_spans(spans);
    let mut all = Vec::with_capacity(spans.len());
    for block in &mut blocks {
        all.append(&mut block.scope_spans[0].spans);
    }
    let resource = blocks.into_iter().next().and_then(|b| b.resource);
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: all,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

pub fn otlp_json(spans: &[RawSpan]) -> Vec<u8> {
    let kv = |kvs: &[KeyValue]| -> Value {
        kvs.iter()
            .map(|kv| {
                let v = match &kv.value {
                    orcheo_trace_model::AttributeValue::Int(i) => {
                        json!({"intValue": i.to_string()})
                    }
                    other => json!({"stringValue": other.as_str().unwrap_or_default()}),
                };
                json!({"key": kv.key, "value": v})
            })
            .collect()
    };
    let list: Vec<Value> = spans
        .iter()
        .map(|s| {
            json!({
                "traceId": s.trace_id.to_string(),
                "spanId": s.span_id.to_string(),
                "parentSpanId": s.parent_span_id.map(|p| p.to_string()).unwrap_or_default(),
                "name": s.name,
                "kind": 1,
                "startTimeUnixNano": s.start_time.unix_nanos().to_string(),
                "endTimeUnixNano": s.end_time.map(|t| t.unix_nanos().to_string()),
                "attributes": kv(&s.attributes),
                "events": s.events.iter().map(|e| json!({"timeUnixNano": e.time.map(|t| t.unix_nanos().to_string()), "name": e.name, "attributes": kv(&e.attributes)})).collect::<Vec<_>>(),
                "status": {"code": if s.status.code == StatusCode::Error { 2 } else { 1 }},
            })
        })
        .collect();
    serde_json::to_vec(&json!({"resourceSpans": [{"resource": {"attributes": kv(&spans[0].resource.attributes)}, "scopeSpans": [{"scope": {"name": "orcheo.tracing"}, "spans": list}]}]}))
        .unwrap_or_default()
}

//! What the load and seeding examples share: OTLP attribute and envelope builders, and the
//! percentile they report. Each example includes this file and uses part of it.
#![allow(dead_code, reason = "each example uses part of this module")]

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// A string attribute.
pub(crate) fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.to_owned()))
}

/// An integer attribute.
pub(crate) fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(value))
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

/// `spans` under one resource (`service.name` = `service`) and one instrumentation scope.
pub(crate) fn resource_spans(service: &str, scope: &str, spans: Vec<Span>) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![text("service.name", service)],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: scope.to_owned(),
                ..InstrumentationScope::default()
            }),
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }]
}

/// The `pct`-th percentile (0..=100) of sorted values, nearest rank.
pub(crate) fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let i = (sorted.len().saturating_sub(1) * pct).div_ceil(100);
    sorted.get(i).copied().unwrap_or_default()
}

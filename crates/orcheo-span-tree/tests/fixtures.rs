//! Every project-owned fixture decodes and normalizes, with its span count and quirks asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

mod helpers;

use helpers::{decode, outline, tree};
use orcheo_span_tree::Format;
use orcheo_span_tree::filter::{self, ContentPolicy};
use orcheo_span_tree::redact::Redactor;
use orcheo_span_tree::render::{self, RenderOptions};
use orcheo_trace_model::{AnomalyKind, AttributeValue, LinkKind, NodeKind, SpanKind, StatusCode};

const ORCHEO_RUN: &str = "orcheo/workflow-run.otlp.json";

fn names(tree: &orcheo_span_tree::TraceTree) -> Vec<&str> {
    tree.nodes.iter().map(|n| n.name.as_str()).collect()
}

fn kinds(tree: &orcheo_span_tree::TraceTree) -> Vec<AnomalyKind> {
    tree.anomalies.iter().map(|a| a.kind).collect()
}

#[test]
fn every_fixture_decodes_with_its_span_count_and_format() {
    let expected = [
        ("jaeger-v1/genai-trace.json", Format::JaegerV1, 57),
        ("jaeger-v1/normal-5-spans.json", Format::JaegerV1, 5),
        ("jaeger-v1/otlp2jaeger-out.json", Format::JaegerV1, 2),
        (
            "jaeger-v1/petclinic-unpadded-ids.json",
            Format::JaegerV1,
            17,
        ),
        (
            "jaeger-v1/span-longer-than-parent.json",
            Format::JaegerV1,
            8,
        ),
        ("jaeger-v1/ui_01-trace-object.json", Format::JaegerV1, 5),
        ("jaeger-v3/GetTrace.json", Format::JaegerV3, 1),
        ("otlp/example_trace.json", Format::OtlpJson, 5),
        ("otlp/otlp2jaeger-in.json", Format::OtlpJson, 2),
        (
            "otlp/opentelemetry-proto-example-trace.json",
            Format::OtlpJson,
            1,
        ),
        ("tempo/v2-orcheo-run-partial.json", Format::Tempo, 6),
        ("tempo/v1-orcheo-run.json", Format::Tempo, 6),
        ("tempo/v2-not-found.json", Format::Tempo, 0),
        (ORCHEO_RUN, Format::OtlpJson, 6),
        ("orcheo/python-run.otlp.json", Format::OtlpJson, 5),
    ];
    for (path, format, spans) in expected {
        let decoded = decode(path);
        assert_eq!(decoded.format, format, "{path}");
        assert_eq!(decoded.spans.len(), spans, "{path}");
        assert!(
            decoded
                .anomalies
                .iter()
                .all(|a| a.kind != AnomalyKind::InvalidSpan),
            "{path}"
        );
        let tree = orcheo_span_tree::normalize_decoded(decoded);
        assert!(tree.stats.span_count <= spans as u64, "{path}");
        insta::assert_snapshot!(path.replace('/', "__"), outline(&tree));
    }
}

#[test]
fn a_failed_root_counts_as_the_error_when_no_node_failed() {
    let mut decoded = decode(ORCHEO_RUN);
    for span in &mut decoded.spans {
        if span.name == "Send Email" {
            span.status.code = StatusCode::Ok;
        }
    }
    let tree = orcheo_span_tree::normalize_decoded(decoded);
    assert_eq!(tree.stats.error_count, 1);
}

#[test]
fn orcheo_run_has_hierarchy_tokens_content_artifacts_and_errors() {
    let tree = tree(ORCHEO_RUN);
    assert!(tree.anomalies.is_empty(), "{:?}", tree.anomalies);
    assert_eq!(
        names(&tree),
        [
            "workflow.execution",
            "Fetch Context",
            "Draft Email",
            "POST /v1/chat/completions",
            "Review",
            "Send Email"
        ]
    );
    let root = tree.root_node().unwrap();
    assert_eq!(root.kind, NodeKind::Workflow);
    assert_eq!(root.duration_ms(), Some(12780.0));
    // Tokens roll up from Draft Email (Orcheo keys) and Review (legacy GenAI keys).
    let total = root.token_usage.unwrap();
    assert_eq!((total.input, total.output, total.total), (1534, 718, 2252));
    assert_eq!(tree.stats.token_usage, total);
    // The root fails with Send Email's failure: one error, not two.
    assert_eq!((tree.stats.span_count, tree.stats.error_count), (6, 1));

    let draft = tree.find(helpers::span_id(3)).unwrap();
    assert_eq!(draft.kind, NodeKind::Llm);
    assert_eq!(
        draft.model.as_ref().unwrap().provider.as_deref(),
        Some("openai")
    );
    assert_eq!(draft.prompts()[0].role.as_deref(), Some("user"));
    assert_eq!(draft.responses().len(), 1);
    assert_eq!(draft.messages()[0].content.as_deref(), Some("Draft ready"));
    assert_eq!(draft.artifacts().len(), 2);
    assert_eq!(draft.artifacts()[0].name.as_deref(), Some("email.txt"));
    assert_eq!(draft.artifacts()[0].size_bytes, Some(2048));
    assert_eq!(draft.artifacts()[1].url, "/api/artifacts/a2");

    let review = tree.find(helpers::span_id(5)).unwrap();
    assert_eq!(review.kind, NodeKind::Llm);
    // GenAI message lists are one conversation: instructions, input, then output.
    let roles: Vec<_> = review
        .messages()
        .iter()
        .map(|p| p.role.as_deref().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    assert_eq!(review.messages()[2].content.as_deref(), Some("Yes."));

    let send = tree.find(helpers::span_id(6)).unwrap();
    let error = send.error.as_ref().unwrap();
    assert_eq!(error.error_type.as_deref(), Some("DeliveryError"));
    assert_eq!(error.code.as_deref(), Some("SMTP_REFUSED"));
    assert!(error.hint.as_deref().unwrap().contains("relay credentials"));
    assert!(error.stack_trace.as_deref().unwrap().contains("send.py"));
    insta::assert_json_snapshot!(
        "orcheo_run_tree",
        serde_json::from_slice::<serde_json::Value>(
            &render::tree_document(&tree, &RenderOptions::default()).unwrap()
        )
        .unwrap()
    );
}

#[test]
fn tempo_encodings_give_the_same_tree_as_otlp() {
    let otlp = tree(ORCHEO_RUN);
    for path in [
        "tempo/v2-orcheo-run-partial.json",
        "tempo/v1-orcheo-run.json",
    ] {
        let tempo = tree(path);
        assert_eq!(
            strip_anomalies(&render::flat_json(&tempo).unwrap()),
            strip_anomalies(&render::flat_json(&otlp).unwrap()),
            "{path}"
        );
    }
    let partial = decode("tempo/v2-orcheo-run-partial.json");
    assert!(partial.partial);
    assert!(partial.message.unwrap().contains("partial trace"));
}

fn strip_anomalies(json: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(json).unwrap();
    v.as_object_mut().unwrap().remove("anomalies");
    v
}

#[test]
fn tempo_v2_empty_trace_is_an_empty_tree_not_an_error() {
    let tree = tree("tempo/v2-not-found.json");
    assert!(tree.nodes.is_empty() && tree.root.is_none());
    assert_eq!(
        render::tree_json(&tree, &RenderOptions::default()).unwrap(),
        b"null"
    );
}

#[test]
fn redaction_withholding_and_truncation_apply_to_the_tree() {
    let redactor = Redactor::with_defaults();
    let mut tree = tree(ORCHEO_RUN);
    filter::apply(
        &mut tree,
        &ContentPolicy {
            redactor: Some(&redactor),
            preview_max_chars: Some(20),
            ..Default::default()
        },
    );
    let draft = tree.find(helpers::span_id(3)).unwrap();
    let prompt = &draft.prompts()[0];
    assert!(prompt.redacted && prompt.truncated);
    assert_eq!(prompt.content.as_deref().unwrap().chars().count(), 20);
    assert!(!prompt.content.as_deref().unwrap().contains("jane.doe"));
    let event_text = draft.events()[0].attributes[1].value.as_str().unwrap();
    assert_eq!(
        event_text,
        "Write to [REDACTED] about invoice [REDACTED]; api_key=[REDACTED]"
    );

    let mut tree = helpers::tree(ORCHEO_RUN);
    filter::apply(
        &mut tree,
        &ContentPolicy {
            withhold_content: true,
            ..Default::default()
        },
    );
    let review = tree.find(helpers::span_id(5)).unwrap();
    assert!(
        review
            .prompts()
            .iter()
            .all(|p| p.withheld && p.content.is_none() && p.length.is_some())
    );
    let messages = review
        .attributes
        .iter()
        .find(|kv| kv.key == "gen_ai.input.messages")
        .unwrap();
    assert_eq!(messages.value, AttributeValue::from("[WITHHELD]"));
    let json = String::from_utf8(render::tree_document(&tree, &RenderOptions::default()).unwrap())
        .unwrap();
    for secret in ["jane.doe", "Is this polite", "Draft ready", "Dear Jane"] {
        assert!(!json.contains(secret), "{secret} leaked");
    }
}

#[test]
fn depth_limit_keeps_child_counts() {
    let tree = tree(ORCHEO_RUN);
    let json = render::tree_json(
        &tree,
        &RenderOptions {
            max_depth: Some(1),
            ..RenderOptions::default()
        },
    )
    .unwrap();
    let root: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(root["child_count"], 4);
    let draft = &root["children"][1];
    assert_eq!(draft["name"], "Draft Email");
    assert_eq!(draft["child_count"], 1);
    assert_eq!(draft["children"].as_array().unwrap().len(), 0);
}

#[test]
fn jaeger_unpadded_ids_are_left_padded() {
    let tree = tree("jaeger-v1/petclinic-unpadded-ids.json");
    assert_eq!(tree.trace_id.unwrap().to_string().len(), 32);
    assert!(tree.anomalies.is_empty(), "{:?}", tree.anomalies);
    assert_eq!(tree.stats.span_count, 17);
}

#[test]
fn jaeger_ui_01_quirks() {
    let tree = tree("jaeger-v1/ui_01-trace-object.json");
    let kinds = kinds(&tree);
    // Two different spans share 0000000000000002: the later one gets a fresh id.
    assert!(kinds.contains(&AnomalyKind::DuplicateSpanId));
    assert!(kinds.contains(&AnomalyKind::SourceWarning));
    // reference-test: a cross-trace CHILD_OF is skipped; the in-trace CHILD_OF is the parent.
    let reference = tree
        .nodes
        .iter()
        .find(|n| n.name == "reference-test")
        .unwrap();
    assert_eq!(
        reference.parent_span_id.unwrap().to_string(),
        "0000000000000002"
    );
    assert!(
        reference
            .links()
            .iter()
            .any(|l| l.kind == LinkKind::FollowsFrom)
    );
    // Typed tags: int64, float64, bool error -> status, binary -> bytes.
    let tagged = tree
        .nodes
        .iter()
        .find(|n| n.attributes.iter().any(|kv| kv.key == "peer.ipv4"))
        .unwrap();
    assert_eq!(tagged.status.code, StatusCode::Error);
    let attr = |k: &str| {
        &tagged
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .unwrap()
            .value
    };
    assert_eq!(attr("peer.ipv4"), &AttributeValue::Int(23456));
    assert_eq!(attr("temperature"), &AttributeValue::Double(72.5));
    assert!(matches!(attr("blob"), AttributeValue::Bytes(_)));
    assert!(matches!(attr("javascript_limit"), AttributeValue::Int(_)));
}

#[test]
fn jaeger_child_outliving_parent_is_reported() {
    let tree = tree("jaeger-v1/span-longer-than-parent.json");
    assert!(kinds(&tree).contains(&AnomalyKind::EndsAfterParent));
    assert!(
        tree.nodes
            .iter()
            .any(|n| n.flags.contains(&AnomalyKind::EndsAfterParent))
    );
}

#[test]
fn jaeger_genai_trace_extracts_models_tokens_and_messages() {
    let tree = tree("jaeger-v1/genai-trace.json");
    assert_eq!(tree.stats.span_count, 57);
    let chat = tree
        .nodes
        .iter()
        .find(|n| n.name == "chat model-a")
        .unwrap();
    assert_eq!(chat.kind, NodeKind::Llm);
    assert_eq!(chat.span_kind, SpanKind::Client);
    assert_eq!(chat.self_token_usage.unwrap().input, 1840);
    let messages = chat.messages();
    assert_eq!(messages[0].role.as_deref(), Some("system"));
    assert!(
        messages[1]
            .content
            .as_deref()
            .unwrap()
            .contains("checkout latency")
    );
    let last = messages.last().unwrap();
    assert_eq!(last.role.as_deref(), Some("assistant"));
    assert!(
        last.content
            .as_deref()
            .unwrap()
            .contains("slow pod rollout")
    );
    let root = tree.root_node().unwrap();
    assert!(root.token_usage.unwrap().input >= 1840);
    assert!(tree.nodes.iter().any(|n| n.kind == NodeKind::Agent));
    assert!(tree.nodes.iter().any(|n| n.kind == NodeKind::Tool));
}

#[test]
fn identical_duplicates_are_dropped_and_missing_root_gets_a_placeholder() {
    for path in ["jaeger-v1/otlp2jaeger-out.json", "otlp/otlp2jaeger-in.json"] {
        let tree = tree(path);
        assert_eq!(tree.stats.span_count, 1, "{path}");
        let kinds = kinds(&tree);
        assert!(
            kinds.contains(&AnomalyKind::DuplicateSpan)
                && kinds.contains(&AnomalyKind::MissingRoot)
        );
        let root = tree.root_node().unwrap();
        assert!(root.synthetic);
        assert_eq!(root.span_id.to_string(), "909541b92cf05311");
    }
}

#[test]
fn jaeger_v3_reads_integer_status_and_absent_times() {
    let tree = tree("jaeger-v3/GetTrace.json");
    let span = tree.root_node().unwrap();
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        tree.trace_id.unwrap().to_string(),
        "00000000000000000000000000000001"
    );
}

#[test]
fn protobuf_decodes_to_the_same_spans_as_json() {
    use opentelemetry_proto::tonic::trace::v1::TracesData;
    use prost::Message as _;
    // The OTLP/JSON fixture, re-encoded as protobuf through the official types' own mapping.
    let json = decode(ORCHEO_RUN);
    let proto = helpers::proto::resource_spans(&json.spans);
    let bytes = TracesData {
        resource_spans: proto,
    }
    .encode_to_vec();
    let decoded = orcheo_span_tree::decode(&bytes, Format::Auto).unwrap();
    assert_eq!(decoded.format, Format::OtlpProto);
    assert_eq!(decoded.spans, json.spans);
}

/// The payload decoded by the generated `prost` types and converted, for comparison.
fn via_prost(bytes: &[u8]) -> Option<Vec<orcheo_trace_model::RawSpan>> {
    use opentelemetry_proto::tonic::trace::v1::TracesData;
    use prost::Message as _;
    let data = TracesData::decode(bytes).ok()?;
    let (mut spans, mut anomalies) = (Vec::new(), Vec::new());
    orcheo_span_tree::formats::otlp_proto::convert(data.resource_spans, &mut spans, &mut anomalies);
    Some(spans)
}

#[test]
fn hand_written_protobuf_reader_agrees_with_prost_on_every_fixture() {
    use opentelemetry_proto::tonic::trace::v1::TracesData;
    use prost::Message as _;
    for path in [
        ORCHEO_RUN,
        "jaeger-v1/genai-trace.json",
        "jaeger-v1/ui_01-trace-object.json",
        "jaeger-v1/petclinic-unpadded-ids.json",
        "otlp/example_trace.json",
        "tempo/v2-orcheo-run-partial.json",
    ] {
        let spans = decode(path).spans;
        let bytes = TracesData {
            resource_spans: helpers::proto::resource_spans(&spans),
        }
        .encode_to_vec();
        let ours = orcheo_span_tree::decode(&bytes, Format::OtlpProto).unwrap();
        assert_eq!(Some(ours.spans), via_prost(&bytes), "{path}");
    }
}

#[test]
fn tempo_protobuf_response_reads_trace_partial_status_and_message() {
    use opentelemetry_proto::tonic::trace::v1::TracesData;
    use prost::Message as _;
    let spans = decode(ORCHEO_RUN).spans;
    let trace = TracesData {
        resource_spans: helpers::proto::resource_spans(&spans),
    }
    .encode_to_vec();
    // TraceByIDResponse: trace = 1 (bytes), status = 3 (PARTIAL = 1), message = 4.
    let mut response = vec![0x0a];
    let mut len = trace.len();
    while len >= 0x80 {
        response.push((len as u8) | 0x80);
        len >>= 7;
    }
    response.push(len as u8);
    response.extend_from_slice(&trace);
    response.extend_from_slice(&[0x18, 0x01, 0x22, 0x02, b'b', b'!']);
    let decoded = orcheo_span_tree::decode(&response, Format::TempoProto).unwrap();
    assert_eq!(decoded.spans, spans);
    assert!(decoded.partial);
    assert_eq!(decoded.message.as_deref(), Some("b!"));
    let empty = orcheo_span_tree::decode(b"", Format::TempoProto);
    assert!(empty.is_err(), "an empty body is not a response");
}

const PLANT: &str = "mail leak.victim@example.com with api_key=sk_live_abcdef1234567890";

/// A root and two children with [`PLANT`] in every text a span can carry: name, status,
/// attributes (keys, arrays, maps), the model, prompt, error and artifact attributes, events
/// (names and attributes), links, the shared resource and scope, and a source warning.
fn planted_tree() -> orcheo_span_tree::TraceTree {
    use std::sync::Arc;

    use orcheo_trace_model::{
        Anomaly, KeyValue, RawStatus, Resource, Scope, SpanEvent, SpanLink, semconv,
    };

    let planted = || {
        vec![
            KeyValue::new("note", PLANT),
            KeyValue::new(PLANT, "under a planted key"),
            KeyValue::new("list", AttributeValue::Array(vec![PLANT.into()])),
            KeyValue::new(
                "map",
                AttributeValue::Map(vec![KeyValue::new(PLANT, PLANT)]),
            ),
        ]
    };
    let event = |name: &str, keys: &[&str]| SpanEvent {
        name: name.into(),
        time: None,
        attributes: keys.iter().map(|k| KeyValue::new(*k, PLANT)).collect(),
    };
    let mut resource = Resource {
        attributes: vec![KeyValue::new(semconv::SERVICE_NAME, PLANT)],
    };
    resource.attributes.extend(planted());
    let resource = Arc::new(resource);
    let scope = Arc::new(Scope {
        name: PLANT.to_owned(),
        version: Some(PLANT.to_owned()),
    });
    let spans = (1..=3)
        .map(|id| {
            let mut s = helpers::span(id, (id > 1).then_some(1), id * 10);
            s.name = PLANT.into();
            s.resource = Arc::clone(&resource);
            s.scope = Some(Arc::clone(&scope));
            s.status = RawStatus {
                code: StatusCode::Error,
                message: Some(PLANT.to_owned()),
            };
            s.attributes = planted();
            for key in [
                semconv::NODE_KIND,
                semconv::GEN_AI_REQUEST_MODEL,
                semconv::GEN_AI_RESPONSE_MODEL,
                semconv::GEN_AI_PROVIDER_NAME,
                semconv::GEN_AI_PROMPT,
                semconv::GEN_AI_COMPLETION,
                semconv::ERROR_TYPE,
                semconv::ERROR_CODE,
                semconv::ERROR_HINT,
                semconv::ARTIFACT_IDS,
            ] {
                s.attributes.push(KeyValue::new(key, PLANT));
            }
            s.events = vec![
                SpanEvent {
                    name: PLANT.into(),
                    time: None,
                    attributes: planted(),
                },
                event(
                    semconv::EVENT_PROMPT,
                    &[semconv::CONTENT_ATTR_PREVIEW, semconv::CONTENT_ATTR_ROLE],
                ),
                event(
                    semconv::EVENT_EXCEPTION,
                    &[
                        semconv::EXCEPTION_TYPE,
                        semconv::EXCEPTION_MESSAGE,
                        semconv::EXCEPTION_STACKTRACE,
                    ],
                ),
                event(
                    semconv::EVENT_ARTIFACT,
                    &[
                        semconv::ARTIFACT_ID,
                        semconv::ARTIFACT_NAME,
                        semconv::ARTIFACT_URL,
                        semconv::ARTIFACT_CONTENT_TYPE,
                    ],
                ),
            ];
            s.links = vec![SpanLink {
                trace_id: helpers::trace_id(1),
                span_id: helpers::span_id(2),
                kind: LinkKind::Link,
                attributes: planted(),
            }];
            s.warnings = vec![PLANT.to_owned()];
            s
        })
        .collect();
    orcheo_span_tree::normalize_with_anomalies(
        spans,
        vec![Anomaly::new(AnomalyKind::SourceWarning, None, PLANT)],
    )
}

#[test]
fn redaction_reaches_every_text_of_a_tree() {
    let mut tree = planted_tree();
    let redactor = Redactor::with_defaults();
    for withhold_content in [false, true] {
        let mut tree = tree.clone();
        filter::apply(
            &mut tree,
            &ContentPolicy {
                withhold_content,
                redactor: Some(&redactor),
                ..Default::default()
            },
        );
        let node = &tree.nodes[1];
        assert_eq!(node.name, "mail [REDACTED] with api_key=[REDACTED]");
        assert!(
            matches!(&node.kind, NodeKind::Other(k) if k.contains("[REDACTED]")),
            "{:?}",
            node.kind
        );
        assert!(!node.artifacts().is_empty() && node.model.is_some());
        assert!(
            std::sync::Arc::ptr_eq(&tree.nodes[0].resource, &tree.nodes[2].resource),
            "a resource shared before is shared after"
        );
        let views = [
            render::tree_document(&tree, &RenderOptions::default()).unwrap(),
            render::flat_json(&tree).unwrap(),
        ];
        for json in views {
            let json = String::from_utf8(json).unwrap();
            assert!(
                !json.contains("leak.victim@example.com") && !json.contains("sk_live_abcdef"),
                "{json}"
            );
        }
    }
    // Without a redactor every text stays as it came.
    filter::apply(&mut tree, &ContentPolicy::default());
    assert_eq!(tree.nodes[1].name, PLANT);
}

//! Inputs built to break a normalizer: cycles, absurd shapes, clashing ids, garbage bytes.
//! Each must give the best tree possible plus anomalies, and never panic or overflow the stack
//! (test threads have small stacks, which makes the deep cases meaningful).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

mod helpers;

use helpers::{fixture, span, span_id};
use orcheo_span_tree::filter::{self, ContentPolicy};
use orcheo_span_tree::render::{self, RenderOptions};
use orcheo_span_tree::{Format, decode_and_normalize, normalize};
use orcheo_trace_model::semconv::{TOKEN_INPUT, TOKEN_OUTPUT};
use orcheo_trace_model::{
    AnomalyKind, AttributeValue, KeyValue, LinkKind, SpanKind, SpanLink, Timestamp, TokenUsage,
};

/// The details of a tree's unreadable-span anomalies, in order.
fn invalid_span_details(tree: &orcheo_span_tree::TraceTree) -> Vec<&str> {
    tree.anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::InvalidSpan)
        .map(|a| a.detail.as_str())
        .collect()
}

fn has(tree: &orcheo_span_tree::TraceTree, kind: AnomalyKind) -> bool {
    tree.anomalies.iter().any(|a| a.kind == kind)
}

#[test]
fn cycle_is_cut_and_every_span_kept_once() {
    // 1 is the root; 2 -> 3 -> 4 -> 2 is a loop with a tail 5 under 4.
    let spans = vec![
        span(1, None, 0),
        span(2, Some(4), 1),
        span(3, Some(2), 2),
        span(4, Some(3), 3),
        span(5, Some(4), 4),
    ];
    let tree = normalize(spans);
    assert_eq!(tree.nodes.len(), 5);
    assert!(has(&tree, AnomalyKind::Cycle));
    assert_eq!(tree.root_node().unwrap().span_id, span_id(1));
    let mut ids: Vec<_> = tree.nodes.iter().map(|n| n.span_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

#[test]
fn all_spans_in_a_cycle_still_make_a_tree() {
    let tree = normalize(vec![span(1, Some(2), 0), span(2, Some(1), 1)]);
    assert_eq!(tree.nodes.len(), 2);
    assert!(has(&tree, AnomalyKind::Cycle));
    assert!(tree.root.is_some());
}

#[test]
fn self_parent_is_ignored_and_reported() {
    let tree = normalize(vec![span(1, Some(1), 0), span(2, Some(1), 1)]);
    assert!(has(&tree, AnomalyKind::Cycle));
    assert_eq!(tree.root_node().unwrap().span_id, span_id(1));
    assert_eq!(tree.nodes[1].parent, Some(0));
}

#[test]
fn ten_thousand_deep_chain_builds_renders_and_drops() {
    let spans: Vec<_> = (1..=10_000u64)
        .map(|i| span(i, (i > 1).then(|| i - 1), i))
        .collect();
    let tree = normalize(spans);
    assert_eq!(tree.nodes.len(), 10_000);
    assert_eq!(tree.nodes.last().unwrap().depth, 9_999);
    let json = render::tree_json(&tree, &RenderOptions::default()).unwrap();
    assert_eq!(
        json.windows(9).filter(|w| w == b"\"span_id\"").count(),
        10_000
    );
    assert!(json.ends_with(&b"]}".repeat(10_000)));
    let limited = render::tree_json(
        &tree,
        &RenderOptions {
            max_depth: Some(3),
            ..RenderOptions::default()
        },
    )
    .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&limited).unwrap();
    assert_eq!(
        parsed["children"][0]["children"][0]["children"][0]["child_count"],
        1
    );
    drop(tree);
}

#[test]
fn hundred_thousand_siblings_are_sorted_by_start() {
    let mut spans = vec![span(1, None, 0)];
    // Reverse start order, so sorting has work to do.
    spans.extend((2..=100_001u64).map(|i| span(i, Some(1), 200_000 - i)));
    let tree = normalize(spans);
    let root = tree.root_node().unwrap();
    assert_eq!(root.children.len(), 100_000);
    let starts: Vec<Timestamp> = tree.children(root).map(|c| c.start_time).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    assert!(has(&tree, AnomalyKind::ClockSkew) || has(&tree, AnomalyKind::EndsAfterParent));
    // Anomaly lists are bounded however many spans are affected.
    assert!(tree.anomalies.len() <= 2 * orcheo_span_tree::normalize::MAX_ANOMALIES_PER_KIND + 5);
}

#[test]
fn duplicates_identical_and_different() {
    let mut different = span(2, Some(1), 5);
    different.name = "other".into();
    let tree = normalize(vec![
        span(1, None, 0),
        span(2, Some(1), 1),
        span(2, Some(1), 1),
        different,
    ]);
    assert_eq!(tree.nodes.len(), 3);
    assert!(has(&tree, AnomalyKind::DuplicateSpan));
    assert!(has(&tree, AnomalyKind::DuplicateSpanId));
}

#[test]
fn shared_client_server_id_gets_fresh_id_and_keeps_its_children() {
    use std::sync::Arc;
    let service = |name: &str| {
        Arc::new(orcheo_trace_model::Resource {
            attributes: vec![KeyValue::new("service.name", name)],
        })
    };
    let mut client = span(2, Some(1), 1);
    client.kind = SpanKind::Client;
    client.resource = service("frontend");
    let mut server = span(2, Some(1), 2);
    server.kind = SpanKind::Server;
    server.resource = service("backend");
    let mut server_child = span(3, Some(2), 3);
    server_child.resource = service("backend");
    let mut root = span(1, None, 0);
    root.resource = service("frontend");
    let tree = normalize(vec![root, server, client, server_child]);
    assert!(has(&tree, AnomalyKind::SharedSpanId));
    let client = tree
        .nodes
        .iter()
        .find(|n| n.span_kind == SpanKind::Client)
        .unwrap();
    let server = tree
        .nodes
        .iter()
        .find(|n| n.span_kind == SpanKind::Server)
        .unwrap();
    assert_eq!(client.span_id, span_id(2));
    assert_ne!(server.span_id, span_id(2));
    assert_eq!(server.parent_span_id, Some(span_id(2)));
    let child = tree.find(span_id(3)).unwrap();
    assert_eq!(child.parent_span_id, Some(server.span_id));
}

#[test]
fn no_root_in_a_live_trace_gets_a_placeholder_and_in_progress_spans() {
    // The run's root (99) has not ended, so it is not in the store yet; one node is running.
    let mut running = span(3, Some(99), 20);
    running.end_time = None;
    let tree = normalize(vec![span(2, Some(99), 0), running, span(4, Some(2), 5)]);
    let root = tree.root_node().unwrap();
    assert!(root.synthetic && root.in_progress());
    assert_eq!(root.span_id, span_id(99));
    assert_eq!(root.children.len(), 2);
    assert!(has(&tree, AnomalyKind::MissingRoot));
    assert!(!has(&tree, AnomalyKind::Orphan));
    assert!(tree.find(span_id(3)).unwrap().in_progress());
    assert_eq!(tree.stats.span_count, 3);
    assert_eq!(tree.stats.in_progress_count, 1);
    // The flat view lists real spans only.
    let flat: serde_json::Value =
        serde_json::from_slice(&render::flat_json(&tree).unwrap()).unwrap();
    assert_eq!(flat["spans"].as_array().unwrap().len(), 3);
}

#[test]
fn orphans_with_a_real_root_are_attached_and_reported() {
    let tree = normalize(vec![
        span(1, None, 0),
        span(2, Some(77), 1),
        span(3, Some(2), 2),
    ]);
    assert_eq!(tree.root_node().unwrap().span_id, span_id(1));
    let orphan = tree.find(span_id(2)).unwrap();
    assert!(orphan.flags.contains(&AnomalyKind::Orphan));
    assert_eq!(orphan.parent_span_id, Some(span_id(77)));
    assert_eq!(
        tree.nodes[orphan.parent.unwrap() as usize].span_id,
        span_id(1)
    );
}

#[test]
fn several_roots_prefer_the_workflow_span() {
    let mut workflow = span(5, None, 10);
    workflow.name = "workflow.execution".into();
    let tree = normalize(vec![span(1, None, 0), workflow, span(2, Some(5), 11)]);
    assert_eq!(tree.root_node().unwrap().span_id, span_id(5));
    assert!(has(&tree, AnomalyKind::MultipleRoots));
}

#[test]
fn empty_input_gives_an_empty_tree() {
    let tree = normalize(Vec::new());
    assert!(tree.nodes.is_empty() && tree.root.is_none() && tree.anomalies.is_empty());
    for bytes in [&b""[..], b"   \n", b"\xEF\xBB\xBF"] {
        let tree = decode_and_normalize(bytes, Format::Auto);
        assert!(tree.nodes.is_empty());
        assert_eq!(tree.anomalies[0].kind, AnomalyKind::DecodeError);
    }
}

#[test]
fn malformed_payloads_are_decode_errors_that_name_the_format_and_place() {
    let cases: [(&[u8], Format, &str); 7] = [
        (
            b"{\"resourceSpans\": [\n  {\"x\": \"caf\xe9\"}]}",
            Format::Auto,
            "auto: invalid UTF-8 at line 2, column 13",
        ),
        (
            b"{\"resourceSpans\": [",
            Format::Auto,
            "auto: EOF while parsing a list at line 1",
        ),
        (
            b"{\"resourceSpans\": 5}",
            Format::Auto,
            "invalid type: integer `5`",
        ),
        (b"{\"foo\": 1}", Format::Auto, "no known top-level key"),
        (
            b"{\"data\": []}",
            Format::Tempo,
            "tempo: payload looks like jaeger-v1",
        ),
        (
            b"\x0a\xff\xff\xff",
            Format::Auto,
            "otlp-proto: invalid protobuf",
        ),
        (
            b"[1,2,3]",
            Format::JaegerV1,
            "jaeger-v1: invalid type: integer `1`",
        ),
    ];
    for (bytes, format, expected) in cases {
        let err = orcheo_span_tree::decode(bytes, format)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(expected),
            "{err:?} should contain {expected:?}"
        );
    }
}

#[test]
fn unreadable_spans_are_dropped_and_reported_not_fatal() {
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"zz","spanId":"0000000000000001"},
        {"traceId":"00000000000000000000000000000001","spanId":"0000000000000000"},
        {"traceId":"00000000000000000000000000000001","spanId":"0000000000000002","name":"ok"}]}]}]}"#;
    let tree = decode_and_normalize(json, Format::Auto);
    assert_eq!(tree.nodes.len(), 1);
    assert_eq!(invalid_span_details(&tree).len(), 2);
}

#[test]
fn deeply_nested_attribute_values_are_refused_not_overflowed() {
    let depth = 100_000;
    let mut json = String::from(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","spanId":"01","attributes":[{"key":"k","value":"#,
    );
    json.push_str(&r#"{"arrayValue":{"values":["#.repeat(depth));
    json.push_str(&"]}}".repeat(depth));
    json.push_str("}]}]}]}]}");
    let tree = decode_and_normalize(json.as_bytes(), Format::Auto);
    assert_eq!(tree.anomalies[0].kind, AnomalyKind::DecodeError);
    assert!(
        tree.anomalies[0].detail.contains("recursion limit"),
        "{}",
        tree.anomalies[0].detail
    );
}

#[test]
fn huge_attribute_values_are_kept_and_can_be_bounded() {
    let mut s = span(1, None, 0);
    s.attributes
        .push(KeyValue::new("big", "x".repeat(5_000_000)));
    s.attributes.push(KeyValue::new(
        "nested",
        AttributeValue::Array(vec!["y".repeat(100_000).into()]),
    ));
    let mut tree = normalize(vec![s]);
    assert_eq!(tree.nodes[0].attributes[0].value.text_len(), 5_000_000);
    filter::apply(
        &mut tree,
        &ContentPolicy {
            attribute_max_chars: Some(1000),
            ..Default::default()
        },
    );
    assert_eq!(tree.nodes[0].attributes[0].value.text_len(), 1000);
    assert_eq!(tree.nodes[0].attributes[1].value.text_len(), 1000);
}

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A random forest of `n` spans: roots, orphans, cycles and self-parents, `FOLLOWS_FROM`
/// parents, children starting before their parents or ending after them, running spans, spans
/// ending before they start, token counts on most spans and a source's warning on some.
fn random_forest(rng: &mut XorShift, n: u64) -> Vec<orcheo_trace_model::RawSpan> {
    (1..=n)
        .map(|id| {
            let parent = match rng.next() % 10 {
                0 => None,
                1 => Some(n + 1 + rng.next() % 3),
                _ => Some(1 + rng.next() % n),
            };
            let mut s = span(id, parent, rng.next() % 1000);
            if rng.next().is_multiple_of(8) {
                s.links.push(SpanLink {
                    trace_id: s.trace_id,
                    span_id: span_id(1 + rng.next() % n),
                    kind: LinkKind::FollowsFrom,
                    attributes: Vec::new(),
                });
                s.parent_span_id = None;
            }
            match rng.next() % 10 {
                0 => s.end_time = None,
                1 => s.end_time = Some(Timestamp::from_unix_nanos(s.start_time.unix_nanos() - 1)),
                _ => {}
            }
            if !rng.next().is_multiple_of(3) {
                s.attributes = vec![
                    KeyValue::new(TOKEN_INPUT, (rng.next() % 5000).cast_signed()),
                    KeyValue::new(TOKEN_OUTPUT, (rng.next() % 900).cast_signed()),
                ];
            }
            if rng.next().is_multiple_of(12) {
                s.warnings.push(format!("clock adjustment on span {id}"));
            }
            s
        })
        .collect()
}

fn is_timing(kind: AnomalyKind) -> bool {
    matches!(
        kind,
        AnomalyKind::NegativeDuration | AnomalyKind::ClockSkew | AnomalyKind::EndsAfterParent
    )
}

/// Each node's tokens, the totals, the timing flags and the anomaly order are checked against
/// the finished tree itself, which says what each of them must be.
#[test]
fn random_forests_roll_up_count_and_check_times_as_their_tree_says() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for round in 0..300 {
        let n = 1 + rng.next() % 400;
        let tree = normalize(random_forest(&mut rng, n));
        let nodes = &tree.nodes;
        assert_eq!(tree.stats.span_count, n, "round {round}");

        // Tokens: a node's own usage plus its children's rolled-up usage, or none at all.
        let mut expected: Vec<Option<TokenUsage>> = vec![None; nodes.len()];
        for i in (0..nodes.len()).rev() {
            let mut usage = nodes[i].self_token_usage;
            for &c in &nodes[i].children {
                if let Some(child) = expected[c as usize] {
                    usage.get_or_insert_default().add(child);
                }
            }
            expected[i] = usage;
            assert_eq!(nodes[i].token_usage, usage, "round {round}, node {i}");
        }
        assert_eq!(tree.stats.token_usage, expected[0].unwrap_or_default());
        let running = nodes.iter().filter(|n| !n.synthetic && n.in_progress());
        assert_eq!(tree.stats.in_progress_count, running.count() as u64);

        // Timing: a span ending before it starts is flagged so; one hung under its true parent
        // and starting before it is flagged as skewed, and only such a span is.
        for node in nodes.iter().filter(|n| !n.synthetic) {
            let negative = node.end_time.is_some_and(|e| e < node.start_time);
            assert_eq!(
                node.flags.contains(&AnomalyKind::NegativeDuration),
                negative
            );
            let attached = [
                AnomalyKind::Orphan,
                AnomalyKind::MultipleRoots,
                AnomalyKind::Cycle,
            ]
            .iter()
            .any(|f| node.flags.contains(f));
            let skewed = node.parent.is_some_and(|p| {
                let parent = &nodes[p as usize];
                !parent.synthetic && !attached && node.start_time < parent.start_time
            });
            assert_eq!(
                node.flags.contains(&AnomalyKind::ClockSkew),
                skewed && !negative,
                "round {round}, span {}",
                node.span_id
            );
        }

        // Listed timing anomalies follow every other listed anomaly, the source's warnings
        // found while the nodes were built included; the per-kind counts of those past the cap
        // close the list.
        let listed: Vec<_> = tree
            .anomalies
            .iter()
            .filter(|a| !a.detail.ends_with("more of this kind not listed"))
            .collect();
        let first_timing = listed.iter().position(|a| is_timing(a.kind));
        if let Some(first) = first_timing {
            assert!(
                listed[first..].iter().all(|a| is_timing(a.kind)),
                "round {round}"
            );
        }
        let summaries = tree.anomalies.len() - listed.len();
        assert!(
            tree.anomalies[listed.len()..]
                .iter()
                .all(|a| a.span_id.is_none())
                && summaries <= AnomalyKind::ALL.len()
        );
    }
}

#[test]
fn garbage_and_mutated_payloads_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = [
        "orcheo/workflow-run.otlp.json",
        "tempo/v2-orcheo-run-partial.json",
        "jaeger-v1/ui_01-trace-object.json",
        "jaeger-v3/GetTrace.json",
    ]
    .iter()
    .map(|p| fixture(p))
    .collect();
    let proto_seed = {
        use opentelemetry_proto::tonic::trace::v1::TracesData;
        use prost::Message as _;
        let spans = orcheo_span_tree::decode(&seeds[0], Format::Auto)
            .unwrap()
            .spans;
        TracesData {
            resource_spans: helpers::proto::resource_spans(&spans),
        }
        .encode_to_vec()
    };
    let seeds: Vec<Vec<u8>> = seeds.into_iter().chain([proto_seed]).collect();
    for round in 0..2_000u64 {
        let bytes: Vec<u8> = if round % 4 == 0 {
            (0..rng.next() % 512).map(|_| rng.next() as u8).collect()
        } else {
            let mut b = seeds[(round % seeds.len() as u64) as usize].clone();
            for _ in 0..=rng.next() % 8 {
                let i = (rng.next() as usize) % b.len();
                match rng.next() % 3 {
                    0 => b[i] = rng.next() as u8,
                    1 => b.truncate(i.max(1)),
                    _ => b.insert(i, b"{}[]\",:0"[(rng.next() % 8) as usize]),
                }
            }
            b
        };
        if bytes.first() != Some(&b'{') {
            agrees_with_prost(&bytes);
        }
        let tree = decode_and_normalize(&bytes, Format::Auto);
        render::tree_document(&tree, &RenderOptions::default()).unwrap();
        render::flat_json(&tree).unwrap();
    }
}

/// Whatever the generated `prost` types accept, the hand-written reader reads the same way.
fn agrees_with_prost(bytes: &[u8]) {
    use opentelemetry_proto::tonic::trace::v1::TracesData;
    use prost::Message as _;
    let Ok(data) = TracesData::decode(bytes) else {
        return;
    };
    let (mut expected, mut anomalies) = (Vec::new(), Vec::new());
    orcheo_span_tree::formats::otlp_proto::convert(
        data.resource_spans,
        &mut expected,
        &mut anomalies,
    );
    let ours = orcheo_span_tree::decode(bytes, Format::OtlpProto).unwrap();
    assert_eq!(ours.spans, expected);
}

/// OTLP/JSON of `count` spans, one a line, the `bad`-th with an unusable span id.
fn json_spans(count: usize, bad: usize, last: &str) -> String {
    let mut lines: Vec<String> = (0..count)
        .map(|i| {
            let id = if i == bad {
                "zz".to_owned()
            } else {
                format!("{:016x}", i + 1)
            };
            format!(
                r#"{{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "{id}", "name": "n{i}", "startTimeUnixNano": "{i}"}}"#
            )
        })
        .collect();
    lines.push(last.to_owned());
    format!(
        "{{\"resourceSpans\": [{{\"scopeSpans\": [{{\"spans\": [\n{}\n]}}]}}]}}",
        lines.join(",\n")
    )
}

#[test]
fn a_large_json_trace_decodes_in_order_and_places_its_errors_in_the_payload() {
    // Enough spans for several threads on a machine with several cores; one thread otherwise.
    let good = r#"{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "ffffffffffffffff", "name": "last"}"#;
    let tree = decode_and_normalize(json_spans(3_000, 2_500, good).as_bytes(), Format::Auto);
    assert_eq!(tree.nodes.len(), 3_000);
    let invalid = invalid_span_details(&tree);
    assert_eq!(invalid.len(), 1);
    assert!(invalid[0].starts_with("span #2500: spanId"), "{invalid:?}");
    assert!(tree.nodes.iter().any(|n| n.name == "n2999"));

    // The last span is JSON but not a span: its name a number. Line 3,002, where the name is.
    let bad = r#"{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "ffffffffffffffff", "name": 7}"#;
    let tree = decode_and_normalize(json_spans(3_000, 2_500, bad).as_bytes(), Format::Auto);
    assert!(tree.nodes.is_empty());
    // The column of the number, as serde_json gives it parsing the whole payload at once.
    let column = bad.rfind('7').unwrap() + 1;
    assert!(
        tree.anomalies[0]
            .detail
            .ends_with(&format!("at line 3002, column {column}")),
        "{}",
        tree.anomalies[0].detail
    );
    assert!(
        tree.anomalies[0]
            .detail
            .contains("invalid type: integer `7`")
    );
}

#[test]
fn many_unreadable_spans_are_described_up_to_the_cap_and_all_counted() {
    use orcheo_span_tree::normalize::MAX_ANOMALIES_PER_KIND as CAP;
    // 6,000 spans (enough for several decoding threads), five in six with an unreadable id.
    let spans: Vec<String> = (0..6_000)
        .map(|i| {
            let id = if i % 6 == 0 {
                format!("{:016x}", i + 1)
            } else {
                "zz".to_owned()
            };
            format!(
                r#"{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"{id}","name":"n{i}"}}"#
            )
        })
        .collect();
    let json = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    );

    // The decoder describes at most the cap for each of its threads (at most four), and counts
    // the rest.
    let decoded = orcheo_span_tree::decode(json.as_bytes(), Format::Auto).unwrap();
    let invalid: Vec<_> = decoded
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::InvalidSpan)
        .collect();
    assert!(invalid.len() <= 4 * CAP, "{} described", invalid.len());
    let counted: usize = invalid.iter().map(|a| 1 + a.undescribed).sum();
    assert_eq!(counted, 5_000);

    // The tree lists the first of them in payload order, and says how many more there were.
    let tree = orcheo_span_tree::normalize_decoded(decoded);
    assert_eq!(tree.nodes.len(), 1_000);
    let listed = invalid_span_details(&tree);
    assert_eq!(listed.len(), CAP + 1);
    assert!(listed[0].starts_with("span #1: "), "{}", listed[0]);
    assert!(listed[1].starts_with("span #2: "), "{}", listed[1]);
    // Spans 1–5, 7–11, …: the 100th unreadable one is span #119.
    assert!(
        listed[CAP - 1].starts_with("span #119: "),
        "{}",
        listed[CAP - 1]
    );
    assert_eq!(listed[CAP], "4900 more of this kind not listed");
    assert!(tree.anomalies.iter().all(|a| a.undescribed == 0));
}

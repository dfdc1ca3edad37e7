//! Who may write what over OTLP: a span's tenant comes from its credential, a run never moves to
//! another tenant, a span never joins another tenant's trace, and one tenant's flood leaves the
//! others writing.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use orcheo_trace_model::TraceId;
use prost::Message as _;

use crate::helpers::{Db, Options, TestApp, jwt, on_each_backend, spawn_app_with};
use crate::ingest::{embedded, grpc_export, post, relays, writes_as};

on_each_backend!(
    another_tenant_cannot_move_a_run_or_join_its_trace_over_http,
    another_tenant_cannot_move_a_run_over_grpc,
    a_relay_and_a_local_sender_cannot_move_a_run_either,
    an_export_needs_a_token_with_the_write_scope,
    late_spans_of_a_cached_trace_are_served_at_once,
    a_trace_opened_as_its_run_ends_is_cached_and_late_spans_still_show,
    one_tenant_over_its_quotas_leaves_the_others_writing,
    a_span_left_out_says_nothing_about_the_runs_it_names,
    a_tenant_cannot_claim_an_unassigned_run_or_a_trace_with_others_spans,
    a_run_deleted_under_the_writer_costs_only_itself,
);

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// A finished run of `tenant`: its root names the tenant, its nodes only the execution.
fn run(trace: TraceId, execution: &str, tenant: &str, nodes: u64) -> Vec<ResourceSpans> {
    let mut spans = crate::helpers::otlp_proto_trace(trace, execution, nodes);
    spans[0].scope_spans[0].spans[0]
        .attributes
        .push(text("orcheo.execution.tenant", tenant));
    spans
}

/// What a sender knowing only the run's ids sends to take it: a new root span for the same
/// trace and execution, naming its own tenant.
fn takeover(trace: TraceId, execution: &str, tenant: &str) -> Vec<ResourceSpans> {
    let mut spans = run(trace, execution, tenant, 0);
    let root = &mut spans[0].scope_spans[0].spans[0];
    root.span_id = crate::helpers::span_id(77).to_bytes().to_vec();
    spans
}

/// A node added to the trace, naming no execution.
fn stray_node(trace: TraceId, n: u64) -> Vec<ResourceSpans> {
    let mut spans = crate::helpers::otlp_proto_trace(trace, "ignored", 1);
    let scope = &mut spans[0].scope_spans[0];
    scope.spans.remove(0);
    let node = &mut scope.spans[0];
    node.span_id = crate::helpers::span_id(n).to_bytes().to_vec();
    node.attributes.clear();
    node.name = format!("injected {n}");
    spans
}

async fn export_http(app: &TestApp, auth: &str, spans: Vec<ResourceSpans>) -> (u16, Vec<u8>) {
    let body = ExportTraceServiceRequest {
        resource_spans: spans,
    }
    .encode_to_vec();
    let (status, answer, _) = post(
        app,
        "application/x-protobuf",
        body,
        &[("authorization", auth)],
    )
    .await;
    (status, answer)
}

/// Exports over OTLP/HTTP; the answer must be 200. Returns the spans rejected and why.
async fn rejected(app: &TestApp, auth: &str, spans: Vec<ResourceSpans>) -> (i64, String) {
    let (status, answer) = export_http(app, auth, spans).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    ExportTraceServiceResponse::decode(answer.as_slice())
        .unwrap()
        .partial_success
        .map(|p| (p.rejected_spans, p.error_message))
        .unwrap_or_default()
}

async fn status_of(app: &TestApp, execution: &str, tenant: &str) -> u16 {
    app.get(
        &format!("/api/executions/{execution}/trace?view=tree"),
        Some(&jwt(tenant, "traces:read traces:read_content")),
    )
    .await
    .status
}

async fn span_names(app: &TestApp, execution: &str, tenant: &str) -> Vec<String> {
    let body = app
        .get(
            &format!("/api/executions/{execution}/trace?view=flat"),
            Some(&jwt(tenant, "traces:read")),
        )
        .await
        .json();
    body["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn refused_metric(app: &TestApp, tenant: &str, reason: &str) -> u64 {
    let metrics = app.get("/metrics", None).await.text;
    let prefix =
        format!("orcheo_otlp_spans_refused_total{{reason=\"{reason}\",tenant=\"{tenant}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

async fn another_tenant_cannot_move_a_run_or_join_its_trace_over_http(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let trace = crate::helpers::trace_id(41);
    let acme = writes_as("acme");
    let globex = writes_as("globex");
    assert_eq!(
        rejected(&app, &acme, run(trace, "exec_acme", "acme", 2))
            .await
            .0,
        0
    );
    assert_eq!(status_of(&app, "exec_acme", "acme").await, 200);

    // A new root naming the run and the other tenant.
    let (count, why) = rejected(&app, &globex, takeover(trace, "exec_acme", "globex")).await;
    assert_eq!(count, 1, "{why}");
    assert!(why.contains("another tenant"), "{why}");
    // The same root again, overwriting the run's own root span.
    let mut overwrite = run(trace, "exec_acme", "globex", 0);
    "taken".clone_into(&mut overwrite[0].scope_spans[0].spans[0].name);
    assert_eq!(rejected(&app, &globex, overwrite).await.0, 1);
    // A node with no execution, added to the run's trace.
    assert_eq!(rejected(&app, &globex, stray_node(trace, 50)).await.0, 1);
    // A new execution claiming the run's trace.
    assert_eq!(
        rejected(&app, &globex, takeover(trace, "exec_globex", "globex"))
            .await
            .0,
        1
    );

    // The run is still acme's, whole and unchanged; globex sees nothing.
    assert_eq!(status_of(&app, "exec_acme", "acme").await, 200);
    assert_eq!(status_of(&app, "exec_acme", "globex").await, 404);
    assert_eq!(status_of(&app, "exec_globex", "globex").await, 404);
    let names = span_names(&app, "exec_acme", "acme").await;
    assert_eq!(names, ["workflow.execution", "node 2", "node 3"]);
    assert_eq!(refused_metric(&app, "globex", "tenant_mismatch").await, 4);

    // A tenant's credential decides over the attribute: acme's spans naming globex are acme's.
    let other = crate::helpers::trace_id(42);
    assert_eq!(
        rejected(&app, &acme, run(other, "exec_acme_2", "globex", 1))
            .await
            .0,
        0
    );
    assert_eq!(status_of(&app, "exec_acme_2", "acme").await, 200);
    assert_eq!(status_of(&app, "exec_acme_2", "globex").await, 404);
    // Its own late node joins its own run.
    assert_eq!(rejected(&app, &acme, stray_node(trace, 51)).await.0, 0);
    let names = span_names(&app, "exec_acme", "acme").await;
    assert!(names.contains(&"injected 51".to_owned()), "{names:?}");
}

async fn another_tenant_cannot_move_a_run_over_grpc(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let mut client = TraceServiceClient::connect(app.otlp_grpc.clone().unwrap())
        .await
        .unwrap();
    let trace = crate::helpers::trace_id(43);
    let ok = client
        .export(grpc_export(
            &writes_as("acme"),
            run(trace, "exec_grpc", "acme", 1),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.partial_success.is_none());
    let refused = client
        .export(grpc_export(
            &writes_as("globex"),
            takeover(trace, "exec_grpc", "globex"),
        ))
        .await
        .unwrap()
        .into_inner()
        .partial_success
        .unwrap();
    assert_eq!(refused.rejected_spans, 1, "{}", refused.error_message);
    assert_eq!(status_of(&app, "exec_grpc", "acme").await, 200);
    assert_eq!(status_of(&app, "exec_grpc", "globex").await, 404);
    // Without a token, or with one that only reads.
    let status = client
        .export(ExportTraceServiceRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let reader = format!("Bearer {}", jwt("acme", "traces:read"));
    let status = client
        .export(grpc_export(&reader, run(trace, "exec_grpc", "acme", 1)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
}

async fn a_relay_and_a_local_sender_cannot_move_a_run_either(db: Db) {
    // A relay writes for the tenant each span names, but not over an owned run.
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let relay = relays();
    let trace = crate::helpers::trace_id(44);
    assert_eq!(
        rejected(&app, &relay, run(trace, "exec_relay", "acme", 1))
            .await
            .0,
        0
    );
    assert_eq!(status_of(&app, "exec_relay", "acme").await, 200);
    assert_eq!(
        rejected(&app, &relay, takeover(trace, "exec_relay", "globex"))
            .await
            .0,
        1
    );
    assert_eq!(status_of(&app, "exec_relay", "acme").await, 200);
    // A node naming no tenant joins the owner's run.
    assert_eq!(rejected(&app, &relay, stray_node(trace, 60)).await.0, 0);
    drop(app);

    // With no authentication at all (loopback only), the attribute is all there is: a run still
    // never moves.
    let options = Options {
        no_auth: true,
        ..embedded()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    assert_eq!(
        rejected(&app, "", run(trace, "exec_local", "acme", 1))
            .await
            .0,
        0
    );
    assert_eq!(
        rejected(&app, "", takeover(trace, "exec_local", "globex"))
            .await
            .0,
        1
    );
    let body = app
        .get("/api/executions/exec_local/trace?view=tree", None)
        .await
        .json();
    assert_eq!(body["execution"]["tenant"], "acme", "{body}");
}

async fn an_export_needs_a_token_with_the_write_scope(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let trace = crate::helpers::trace_id(45);
    let spans = || run(trace, "exec_scoped", "acme", 1);
    // The API's authentication is on, so the receivers need a token too.
    let (status, _) = export_http(&app, "", spans()).await;
    assert_eq!(status, 401);
    let (status, _) = export_http(&app, "Bearer not-a-token", spans()).await;
    assert_eq!(status, 401);
    let reader = format!("Bearer {}", jwt("acme", "traces:read traces:admin"));
    let (status, body) = export_http(&app, &reader, spans()).await;
    assert_eq!(status, 403);
    // Refused before the body's encoding is looked at: a JSON `Status`.
    let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        message["message"]
            .as_str()
            .unwrap()
            .contains("traces:write"),
        "{message}"
    );
    assert_eq!(status_of(&app, "exec_scoped", "acme").await, 404);
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("orcheo_otlp_requests_rejected_total{reason=\"forbidden\"} 1"),
        "{metrics}"
    );
}

async fn late_spans_of_a_cached_trace_are_served_at_once(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let trace = crate::helpers::trace_id(46);
    let acme = writes_as("acme");
    // The helpers' runs ended long ago, so the first answer is cached.
    assert_eq!(
        rejected(&app, &acme, run(trace, "exec_late", "acme", 1))
            .await
            .0,
        0
    );
    assert_eq!(span_names(&app, "exec_late", "acme").await.len(), 2);
    assert_eq!(span_names(&app, "exec_late", "acme").await.len(), 2);
    assert_eq!(rejected(&app, &acme, stray_node(trace, 70)).await.0, 0);
    assert_eq!(span_names(&app, "exec_late", "acme").await.len(), 3);
}

/// The same spans, moved in time so that the run ended a second ago.
fn just_ended(mut spans: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
    let ends = spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.end_time_unix_nano)
        .max()
        .unwrap();
    let shift = orcheo_trace_model::Timestamp::now().unix_nanos() - 1_000_000_000 - ends;
    for span in spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        span.start_time_unix_nano += shift;
        span.end_time_unix_nano += shift;
    }
    spans
}

async fn cache_bytes(app: &TestApp) -> u64 {
    let metrics = app.get("/metrics", None).await.text;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("orcheo_trace_cache_bytes "))
        .map(|n| n.trim().parse().unwrap())
        .unwrap()
}

async fn a_trace_opened_as_its_run_ends_is_cached_and_late_spans_still_show(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let trace = crate::helpers::trace_id(55);
    let acme = writes_as("acme");
    let spans = just_ended(run(trace, "exec_fresh", "acme", 1));
    assert_eq!(rejected(&app, &acme, spans).await.0, 0);
    assert_eq!(cache_bytes(&app).await, 0);
    assert_eq!(span_names(&app, "exec_fresh", "acme").await.len(), 2);
    // Kept at once, with the answer rendered from it.
    let cached = cache_bytes(&app).await;
    assert!(cached > 0);
    assert_eq!(span_names(&app, "exec_fresh", "acme").await.len(), 2);
    assert_eq!(cache_bytes(&app).await, cached, "served from the cache");
    // A span exported late drops the entry: the next answer has it.
    assert_eq!(rejected(&app, &acme, stray_node(trace, 70)).await.0, 0);
    assert_eq!(cache_bytes(&app).await, 0);
    assert_eq!(span_names(&app, "exec_fresh", "acme").await.len(), 3);
}

async fn one_tenant_over_its_quotas_leaves_the_others_writing(db: Db) {
    let mut limits = orcheo_ingest::IngestLimits::new();
    limits.local_spans.per_tenant = 6;
    limits.tenant_spans_per_second = 5;
    let options = Options {
        ingest_limits: Some(limits),
        ..embedded()
    };
    let Some(app) = spawn_app_with(db, options).await else {
        return;
    };
    let acme = writes_as("acme");
    let globex = writes_as("globex");
    // Eight spans pass the rate (the bucket held five: it may go into debt) but only six fit
    // acme's share.
    let (count, why) = rejected(
        &app,
        &acme,
        run(crate::helpers::trace_id(47), "exec_q1", "acme", 7),
    )
    .await;
    assert_eq!(count, 2, "{why}");
    assert!(why.contains("tenant's bound"), "{why}");
    // Now acme is in debt: its next export waits, with a delay to retry after.
    let (status, _, headers) = post(
        &app,
        "application/x-protobuf",
        ExportTraceServiceRequest {
            resource_spans: run(crate::helpers::trace_id(48), "exec_q2", "acme", 1),
        }
        .encode_to_vec(),
        &[("authorization", &acme)],
    )
    .await;
    assert_eq!(status, 429);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Globex keeps writing.
    assert_eq!(
        rejected(
            &app,
            &globex,
            run(crate::helpers::trace_id(49), "exec_q3", "globex", 2)
        )
        .await
        .0,
        0
    );
    assert_eq!(status_of(&app, "exec_q3", "globex").await, 200);
    assert_eq!(refused_metric(&app, "acme", "tenant_store_full").await, 2);
    assert_eq!(refused_metric(&app, "acme", "rate_limited").await, 2);
}

/// A span padded past the largest stored span (1 MiB), which the receiver leaves out.
fn padded(mut spans: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
    spans[0].scope_spans[0].spans[0]
        .attributes
        .push(text("padding", &"x".repeat(1_100_000)));
    spans
}

async fn a_span_left_out_says_nothing_about_the_runs_it_names(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let trace = crate::helpers::trace_id(50);
    let acme = writes_as("acme");
    let globex = writes_as("globex");
    assert_eq!(
        rejected(&app, &acme, run(trace, "exec_padded", "acme", 1))
            .await
            .0,
        0
    );
    let before = app
        .get(
            "/api/executions/exec_padded/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
        )
        .await
        .json();
    // Another tenant's root for the run, too large to store: it must not describe the run.
    let mut root = takeover(trace, "exec_padded", "globex");
    root[0].scope_spans[0].spans[0]
        .attributes
        .push(text("orcheo.workflow.id", "wf_stolen"));
    let (count, why) = rejected(&app, &globex, padded(root)).await;
    assert_eq!(count, 1, "{why}");
    // Nor may a left-out span register another run on the trace.
    assert_eq!(
        rejected(
            &app,
            &globex,
            padded(takeover(trace, "exec_padded_2", "globex"))
        )
        .await
        .0,
        1
    );
    let after = app
        .get(
            "/api/executions/exec_padded/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
        )
        .await
        .json();
    assert_eq!(after["execution"], before["execution"]);
    assert_eq!(
        status_of(&app, "exec_padded_2", "globex").await,
        404,
        "a run was registered from a span that was not stored"
    );
    let admin = app
        .get(
            "/api/executions/exec_padded_2/trace?view=tree",
            Some(&jwt("ops", "traces:admin")),
        )
        .await;
    assert_eq!(admin.status, 404);
}

async fn a_tenant_cannot_claim_an_unassigned_run_or_a_trace_with_others_spans(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let globex = writes_as("globex");
    // A relay's node naming the run but no tenant: the run is nobody's yet.
    let trace = crate::helpers::trace_id(51);
    let mut node = crate::helpers::otlp_proto_trace(trace, "exec_unassigned", 1);
    node[0].scope_spans[0].spans.remove(0);
    assert_eq!(rejected(&app, &relays(), node).await.0, 0);
    // A tenant's token cannot settle it; the relay's root can.
    assert_eq!(
        rejected(&app, &globex, takeover(trace, "exec_unassigned", "globex"))
            .await
            .0,
        1
    );
    assert_eq!(
        rejected(&app, &relays(), run(trace, "exec_unassigned", "acme", 0))
            .await
            .0,
        0
    );
    assert_eq!(status_of(&app, "exec_unassigned", "acme").await, 200);
    assert_eq!(status_of(&app, "exec_unassigned", "globex").await, 404);

    // Acme's nodes come first and name no run (its root is exported last): another tenant
    // cannot start a run on that trace, acme can.
    let trace = crate::helpers::trace_id(52);
    let acme = writes_as("acme");
    assert_eq!(rejected(&app, &acme, stray_node(trace, 80)).await.0, 0);
    assert_eq!(
        rejected(
            &app,
            &globex,
            takeover(trace, "exec_early_globex", "globex")
        )
        .await
        .0,
        1
    );
    assert_eq!(status_of(&app, "exec_early_globex", "globex").await, 404);
    assert_eq!(
        rejected(&app, &acme, run(trace, "exec_late_root", "acme", 0))
            .await
            .0,
        0
    );
    let names = span_names(&app, "exec_late_root", "acme").await;
    assert!(names.contains(&"injected 80".to_owned()), "{names:?}");
}

async fn a_run_deleted_under_the_writer_costs_only_itself(db: Db) {
    let Some(app) = spawn_app_with(db, embedded()).await else {
        return;
    };
    let acme = writes_as("acme");
    // A run in progress: its node registers it, its root comes later.
    let gone = crate::helpers::trace_id(53);
    let mut node = run(gone, "exec_gone", "acme", 1);
    node[0].scope_spans[0].spans.remove(0);
    assert_eq!(rejected(&app, &acme, node).await.0, 0);
    // Retention deletes it while the writer still takes it for registered.
    let cutoff = orcheo_trace_model::Timestamp::now();
    app.store.prune(cutoff).unwrap();
    // Its root, and another run's, in one export: the other run is still recorded whole.
    let mut both = run(gone, "exec_gone", "acme", 0);
    both.extend(run(crate::helpers::trace_id(54), "exec_kept", "acme", 1));
    assert_eq!(rejected(&app, &acme, both).await.0, 0);
    let kept = app
        .get(
            "/api/executions/exec_kept/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
        )
        .await
        .json();
    assert_eq!(kept["execution"]["status"], "completed", "{kept}");
    assert_eq!(kept["execution"]["span_count"], 2, "{kept}");
}

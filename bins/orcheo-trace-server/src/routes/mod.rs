//! The HTTP routes, one module per group, and what they share.

pub mod artifacts;
pub mod compare;
pub mod deletion;
pub mod executions;
pub mod export;
pub mod ops;
pub mod traces;
pub mod workflows;

use std::path::PathBuf;

use actix_web::web;
use orcheo_span_tree::filter::ContentPolicy;
use orcheo_trace_model::{TokenUsage, TraceId, TraceTree};
use orcheo_trace_store::Execution;
use serde::Serialize;

use crate::metrics::ServerMetrics;
use orcheo_trace_service::TraceService;

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState {
    pub traces: TraceService,
    /// Signs and checks artifact download links.
    pub links: crate::artifact_links::LinkSigner,
    /// `(name, template)`.
    pub dashboards: Vec<(String, String)>,
    pub page_max_spans: usize,
    pub artifact_dir: PathBuf,
    pub metrics: ServerMetrics,
    /// The configured trace backend's name (`embedded`, `tempo`…).
    pub backend: &'static str,
    /// The exporter of the server's own spans, when it exports them.
    pub exporter: Option<crate::telemetry::OwnTelemetry>,
    /// The OTLP receivers' span writer, when they run.
    pub writer_health: Option<std::sync::Arc<orcheo_ingest::health::WriterHealth>>,
}

impl AppState {
    /// The dashboard links of a trace.
    pub fn dashboards(
        &self,
        trace_id: Option<TraceId>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let Some(trace_id) = trace_id else {
            return serde_json::Map::new();
        };
        let id = trace_id.to_string();
        self.dashboards
            .iter()
            .map(|(name, template)| (name.clone(), template.replace("{trace_id}", &id).into()))
            .collect()
    }
}

/// Registers every route. Each path answers GET and HEAD (the same handler; actix leaves the
/// body out of a HEAD answer) and 405 with `Allow: GET, HEAD` to other methods.
pub fn configure(cfg: &mut web::ServiceConfig) {
    fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        web::resource(path)
            .route(
                web::route()
                    .guard(
                        actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()),
                    )
                    .to(handler),
            )
            .default_service(web::to(method_not_allowed))
    }
    cfg.service(get(
        "/api/executions/{execution_id}/trace",
        traces::get_trace,
    ))
    .service(get(
        "/api/executions/{execution_id}/trace/spans/{span_id}",
        traces::get_span,
    ))
    .service(get(
        "/api/executions/{execution_id}/export",
        export::export_trace,
    ))
    .service(get("/api/executions", executions::list_executions))
    // Before `/api/executions/{execution_id}` (DELETE only), which would otherwise take
    // `export` or `compare` for an id and answer a GET with 405. These two paths are theirs
    // alone: an execution whose id is `export` or `compare` cannot be deleted through the API.
    .service(get("/api/executions/export", export::export_executions))
    .service(get("/api/executions/compare", compare::compare_executions))
    .service(get("/api/workflows", workflows::list_workflows))
    .service(get(
        "/api/workflows/{workflow_id}/executions",
        workflows::list_workflow_executions,
    ))
    .service(get("/api/artifacts/{artifact_id}", artifacts::get_artifact))
    .service(get(
        "/api/artifacts/{artifact_id}/download",
        artifacts::download_artifact,
    ))
    .service(get("/healthz", ops::healthz))
    .service(get("/readyz", ops::readyz))
    .service(get("/metrics", ops::metrics))
    .service(get("/api/openapi.json", ops::openapi))
    .service(get("/", crate::viewer::page))
    .service(get("/executions/{execution_id}", crate::viewer::page))
    .service(get("/compare", crate::viewer::page))
    .service(get("/ui/{file}", crate::viewer::file))
    .service(
        web::resource("/api/executions/{execution_id}")
            .route(web::delete().to(deletion::delete_execution))
            .default_service(web::to(|| async {
                actix_web::HttpResponse::MethodNotAllowed()
                    .insert_header((actix_web::http::header::ALLOW, "DELETE"))
                    .finish()
            })),
    )
    .service(
        web::resource("/api/executions/{execution_id}/trace/live")
            .route(web::get().to(crate::live::live))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, "GET, HEAD"))
        .finish()
}

/// Where a page ends.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Pass as `cursor` to get the next page; `null` on the last.
    pub cursor: Option<String>,
}

/// The root span's attribute naming the run's thread.
const THREAD_ID: &str = "orcheo.execution.thread_id";

/// The thread a trace's root names (already redacted with the tree), if it is a non-empty text.
fn thread_id(tree: &TraceTree) -> Option<String> {
    let root = tree.nodes.get(tree.root? as usize)?;
    root.attributes
        .iter()
        .find(|kv| kv.key == THREAD_ID)
        .and_then(|kv| kv.value.as_str())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// An execution as the API shows it; the trace's totals when the trace was read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionView {
    pub id: String,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<String>,
    pub tenant: String,
    /// `running`, `completed`, `error` or `cancelled`.
    pub status: &'static str,
    /// What started the run (`manual`, `schedule`, `webhook`…).
    pub trigger: Option<String>,
    pub started_at: orcheo_trace_model::Timestamp,
    pub finished_at: Option<orcheo_trace_model::Timestamp>,
    /// Until now for a running execution.
    pub duration_ms: Option<f64>,
    pub error: Option<String>,
    /// The run's thread (the root span's `orcheo.execution.thread_id`); `null` when the trace
    /// was not read or does not say.
    pub thread_id: Option<String>,
    /// `null` when no trace was recorded.
    pub trace_id: Option<TraceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u64>,
    /// What the run's tokens cost at today's prices (of the execution's tenant); absent when
    /// no span had tokens (or, in a list, no span summary was recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<orcheo_pricing::RunCost>,
    /// With a free-text search (`q`): the spans where it matched, at most 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<SearchMatchView>>,
}

/// Where a free-text search matched an execution.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SearchMatch)]
pub struct SearchMatchView {
    pub span_id: orcheo_trace_model::SpanId,
    pub span_name: String,
    /// `name`, `node_id`, `error_message`, `error_type`, `error_code`, `attributes`, or (with
    /// `traces:read_content`) `prompt`, `response`, `message`, `content_attributes`.
    pub field: &'static str,
    /// At most 200 characters of the field around the hit.
    pub snippet: String,
}

impl ExecutionView {
    /// The execution's texts read off its spans (workflow, version, trigger, error) are redacted
    /// with `policy`, as the trace's are; the id and tenant are the caller's own keys.
    pub fn new(e: &Execution, tree: Option<&TraceTree>, policy: &ContentPolicy<'_>) -> Self {
        let end = e
            .finished_at
            .unwrap_or_else(orcheo_trace_model::Timestamp::now);
        let text = |t: &Option<String>| t.as_deref().map(|t| policy.redact(t).into_owned());
        Self {
            id: e.id.as_str().to_owned(),
            workflow_id: text(&e.workflow_id),
            workflow_version: text(&e.workflow_version),
            tenant: e.tenant.clone(),
            status: e.status.as_str(),
            trigger: text(&e.triggered_by),
            started_at: e.started_at,
            finished_at: e.finished_at,
            duration_ms: Some(e.started_at.millis_until(end).max(0.0)),
            error: text(&e.error),
            thread_id: tree.and_then(thread_id),
            trace_id: e.trace_id,
            token_usage: tree.map(|t| t.stats.token_usage),
            span_count: tree.map(|t| t.stats.span_count),
            error_count: tree.map(|t| t.stats.error_count),
            cost: None,
            matches: None,
        }
    }

    /// The execution with the totals and the cost of its loaded trace.
    pub fn of_trace(
        e: &Execution,
        loaded: &orcheo_trace_service::LoadedTrace,
        policy: &ContentPolicy<'_>,
    ) -> Self {
        Self::new(e, Some(&loaded.tree), policy).with_cost(loaded.costs.run.clone())
    }

    /// The run's cost.
    #[must_use]
    pub fn with_cost(mut self, cost: Option<orcheo_pricing::RunCost>) -> Self {
        self.cost = cost;
        self
    }

    /// The totals of the execution's span summaries, for a list that reads no trace.
    #[must_use]
    pub fn with_totals(
        mut self,
        totals: Option<&orcheo_trace_store::SummaryTotals>,
        cached_input: Option<u64>,
    ) -> Self {
        if let Some(t) = totals {
            self.token_usage = Some(
                TokenUsage::new(t.input_tokens, t.output_tokens).with_cached_input(cached_input),
            );
            self.span_count = Some(t.span_count);
            self.error_count = Some(t.error_count);
        }
        self
    }
}

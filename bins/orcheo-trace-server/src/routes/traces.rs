//! `GET /api/executions/{execution_id}/trace` and `…/trace/spans/{span_id}`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use orcheo_span_tree::render::{self, FlatSpan, RenderOptions};
use orcheo_trace_model::{Anomaly, SpanId, TraceTree};
use serde::{Deserialize, Serialize};

use crate::artifact_links::Minter;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::artifacts::location;
use crate::routes::{AppState, ExecutionView, PageInfo};
use orcheo_pricing::TraceCosts;
use orcheo_trace_service::{LoadedTrace, Page, PageError, SourceInfo};
use orcheo_trace_store::Execution;

/// `flat` (the default): Orcheo's flat span list, the shape Canvas reads; `tree`: the nested
/// span tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Tree,
    #[default]
    Flat,
}

/// The tree view's page size when the request names no `limit` (capped by the server's
/// `ORCHEO_TRACE_PAGE_MAX_SPANS`). The flat view's is the cap itself: a client that never pages
/// (Canvas reads the first page) gets whole traces up to it.
pub const TREE_PAGE_SPANS: usize = 2000;

/// Query of the trace route. Keys it does not know (a client's cache buster such as Canvas's
/// `_refresh`) are ignored.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TraceQuery {
    /// `flat` (default) or `tree`.
    #[serde(default)]
    #[param(inline)]
    pub view: View,
    /// `false` withholds prompt, response and message text (counts and markers stay). Content
    /// is withheld anyway without the `traces:read_content` scope.
    #[serde(default)]
    pub include_content: Option<bool>,
    /// Levels below the root to include in the tree view (deeper spans are counted in
    /// `child_count`, not shown).
    #[serde(default)]
    #[param(minimum = 0, maximum = 1_000_000)]
    pub depth: Option<u32>,
    /// Most spans in this page (capped by the server's `ORCHEO_TRACE_PAGE_MAX_SPANS`). Without
    /// it, the flat view holds up to that cap and the tree view up to 2,000 spans.
    #[serde(default)]
    #[param(minimum = 1, maximum = 100_000)]
    pub limit: Option<u32>,
    /// The `page_info.cursor` of the previous page.
    #[serde(default)]
    #[param(pattern = "^o[1-9][0-9]{0,8}$")]
    pub cursor: Option<String>,
}

/// The page a query names over `total` spans (see `orcheo_trace_service::paging`).
fn page(query: &TraceQuery, default: usize, max: usize, total: usize) -> Result<Page, ApiError> {
    if query.depth.is_some_and(|d| d > 1_000_000) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "depth must be within 0..=1000000",
        ));
    }
    Page::of(query.cursor.as_deref(), query.limit, default, max, total).map_err(|e| match e {
        PageError::InvalidCursor => ApiError::bad_request("invalid_cursor", e.to_string()),
        PageError::InvalidLimit => ApiError::bad_request("invalid_request", e.to_string()),
    })
}

fn page_info(page: &Page) -> PageInfo {
    PageInfo {
        has_next_page: page.has_next(),
        cursor: page.next_cursor.clone(),
    }
}

fn withhold(caller: &Caller, query: &TraceQuery) -> bool {
    !caller.scopes.read_content || query.include_content == Some(false)
}

fn json(body: impl Into<Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(body.into())
}

fn to_internal(e: &serde_json::Error) -> ApiError {
    ApiError::Internal(format!("cannot render the trace: {e}"))
}

/// The execution's trace, normalized.
#[utoipa::path(
    get,
    path = "/api/executions/{execution_id}/trace",
    tag = "traces",
    params(
        ("execution_id" = String, Path, description = "The execution's id.", pattern = r"^[A-Za-z0-9._:-]{1,128}$"),
        TraceQuery
    ),
    responses(
        (status = 200, description = "The trace (`view=flat`, the default: `FlatTraceResponse`; `view=tree`: `TraceResponse`).", body = crate::openapi::TraceBody),
        (status = 400, description = "Malformed id or query.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:read`.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "`not_found`: no such execution (or another tenant's); `trace_unavailable`: no trace recorded.", body = crate::openapi::ErrorResponse),
        (status = 502, description = "The trace store answered something unusable.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The trace store is down and no summary is cached; see `Retry-After`.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn get_trace(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<TraceQuery>,
) -> Result<HttpResponse, ApiError> {
    let execution = state.traces.execution(&caller.audience(), &path).await?;
    let withhold = withhold(&caller, &query);
    let loaded = state.traces.trace(&execution, withhold).await?;
    // Artifact links: for this caller, who may read the execution, carrying its tenant.
    let link_expiry = state.links.expiry();
    // Which files are here can change after the trace was cached (an upload comes later), so
    // it is asked every time, and is part of the key.
    let held = if query.view == View::Tree {
        held_artifacts(&state, &execution.tenant, &loaded.tree).await?
    } else {
        BTreeSet::new()
    };
    // Everything the body depends on besides the (finished, cached) trace itself.
    let key = format!(
        "{:?}|{withhold}|{:?}|{:?}|{:?}|{link_expiry}|{}",
        query.view,
        query.depth,
        query.limit,
        query.cursor,
        fingerprint(&held)
    );
    if let Some(body) = loaded.rendered(&key) {
        return Ok(json(body));
    }
    let view = ExecutionView::of_trace(&execution, &loaded, &state.traces.policy());
    let dashboards = state.dashboards(execution.trace_id);
    let max = state.page_max_spans;
    let query = query.into_inner();
    let state_for_links = state.clone();
    let tenant = execution.tenant.clone();
    let body = web::block(move || -> Result<Bytes, ApiError> {
        let links = Minter::new(&state_for_links.links, &tenant, link_expiry);
        let tree = &loaded.tree;
        let body = Bytes::from(match query.view {
            View::Tree => {
                let linked = links.with_download_urls(tree, &held);
                let tree = linked.as_ref().unwrap_or(tree);
                tree_body(
                    tree,
                    &loaded.costs,
                    &query,
                    max,
                    &view,
                    &dashboards,
                    &loaded.source,
                )?
            }
            View::Flat => flat_body(tree, &query, max, &view, &loaded.source, &links)?,
        });
        loaded.keep_rendered(key, body.clone());
        Ok(body)
    })
    .await??;
    Ok(json(body))
}

/// The ids of the tree's artifacts that this server holds the file of: recorded for an
/// execution of `tenant` (the download route's rule) at a location it serves. One statement
/// for the whole trace; none when the trace names no artifact.
async fn held_artifacts(
    state: &AppState,
    tenant: &str,
    tree: &TraceTree,
) -> Result<BTreeSet<String>, ApiError> {
    let ids: BTreeSet<String> = tree
        .nodes
        .iter()
        .flat_map(orcheo_trace_model::SpanNode::artifacts)
        .map(|a| a.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(ids);
    }
    let store = state.traces.store().clone();
    let tenant = tenant.to_owned();
    let rows = web::block(move || {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        store.held_artifacts(&tenant, &ids)
    })
    .await??;
    Ok(rows
        .into_iter()
        .filter(|(_, uri)| matches!(location(uri), Ok(Some(_))))
        .map(|(id, _)| id)
        .collect())
}

/// A short stand-in for a set of ids in a cache key.
fn fingerprint(ids: &BTreeSet<String>) -> String {
    let mut hasher = DefaultHasher::new();
    ids.hash(&mut hasher);
    format!("{}:{:016x}", ids.len(), hasher.finish())
}

/// Writes `,"cost":…` into a node of the tree view: its own tokens' cost, `null` when it has
/// none.
fn cost_of(costs: &TraceCosts) -> impl FnMut(&mut Vec<u8>, u32) -> Result<(), serde_json::Error> {
    move |out, index| {
        out.extend_from_slice(b",\"cost\":");
        serde_json::to_writer(out, &costs.span(index))
    }
}

fn tree_body(
    tree: &TraceTree,
    costs: &TraceCosts,
    query: &TraceQuery,
    max: usize,
    execution: &ExecutionView,
    dashboards: &serde_json::Map<String, serde_json::Value>,
    source: &SourceInfo,
) -> Result<Vec<u8>, ApiError> {
    let page = page(query, TREE_PAGE_SPANS, max, tree.nodes.len())?;
    let (start, end) = (page.spans.start, page.spans.end);
    let mut out = Vec::with_capacity(256 + (end - start) * 512);
    out.extend_from_slice(b"{\"execution\":");
    serde_json::to_writer(&mut out, execution).map_err(|e| to_internal(&e))?;
    out.extend_from_slice(b",\"root\":");
    let end_index = u32::try_from(end).ok();
    if start == 0 {
        let options = RenderOptions {
            max_depth: query.depth,
            end: end_index,
        };
        render::write_subtree_with(&mut out, tree, tree.root, &options, &mut cost_of(costs))
            .map_err(|e| to_internal(&e))?;
    } else {
        out.extend_from_slice(b"null");
    }
    // Later pages: the page's spans as subtrees, each under a parent an earlier page gave.
    out.extend_from_slice(b",\"subtrees\":[");
    let mut first = true;
    for index in start..end {
        let node = &tree.nodes[index];
        let starts_subtree = start > 0 && node.parent.is_none_or(|p| (p as usize) < start);
        let within_depth = query.depth.is_none_or(|d| node.depth <= d);
        if !starts_subtree || !within_depth {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        let options = RenderOptions {
            max_depth: query.depth.map(|d| d - node.depth),
            end: end_index,
        };
        render::write_subtree_with(
            &mut out,
            tree,
            u32::try_from(index).ok(),
            &options,
            &mut cost_of(costs),
        )
        .map_err(|e| to_internal(&e))?;
    }
    out.extend_from_slice(b"],\"anomalies\":");
    serde_json::to_writer(&mut out, &tree.anomalies).map_err(|e| to_internal(&e))?;
    out.extend_from_slice(b",\"dashboards\":");
    serde_json::to_writer(&mut out, dashboards).map_err(|e| to_internal(&e))?;
    out.extend_from_slice(b",\"source\":");
    serde_json::to_writer(&mut out, source).map_err(|e| to_internal(&e))?;
    out.extend_from_slice(b",\"page_info\":");
    serde_json::to_writer(&mut out, &page_info(&page)).map_err(|e| to_internal(&e))?;
    out.push(b'}');
    Ok(out)
}

/// The flat view (`view=flat`, the default), Orcheo's existing shape. Without `limit`, a trace
/// of up to `ORCHEO_TRACE_PAGE_MAX_SPANS` spans comes whole; a larger one is cut, and says so.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlatTraceResponse<'a> {
    pub execution: &'a ExecutionView,
    pub spans: Vec<FlatSpan<'a>>,
    /// The trace's anomalies, then a `truncated` note when spans follow this answer.
    pub anomalies: Vec<FlatAnomaly<'a>>,
    pub source: &'a SourceInfo,
    /// Real spans in the whole trace.
    pub span_count: usize,
    /// `true`: spans follow this answer; fetch them with `page_info.cursor`.
    pub truncated: bool,
    pub page_info: PageInfo,
}

/// An entry of the flat view's anomalies: one of the trace's, or the note that the answer was
/// cut, in the same shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FlatAnomaly<'a> {
    Found(&'a Anomaly),
    Truncated(TruncatedNote),
}

/// The note a cut answer carries among its anomalies.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TruncatedNote {
    pub kind: TruncatedKind,
    /// Always `null`: the note concerns the answer, not a span.
    pub span_id: Option<SpanId>,
    /// Which spans this answer holds, and the cursor of the rest.
    pub detail: String,
}

/// `truncated`: the answer holds part of the trace's spans.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TruncatedKind {
    Truncated,
}

fn flat_body(
    tree: &TraceTree,
    query: &TraceQuery,
    max: usize,
    execution: &ExecutionView,
    source: &SourceInfo,
    links: &Minter<'_>,
) -> Result<Vec<u8>, ApiError> {
    let spans: Vec<_> = tree.nodes.iter().filter(|n| !n.synthetic).collect();
    let total = spans.len();
    let page = page(query, max, max, total)?;
    let (start, end) = (page.spans.start, page.spans.end);
    let mut anomalies: Vec<_> = tree.anomalies.iter().map(FlatAnomaly::Found).collect();
    let truncated = end < total;
    if truncated {
        anomalies.push(FlatAnomaly::Truncated(TruncatedNote {
            kind: TruncatedKind::Truncated,
            span_id: None,
            detail: format!(
                "this answer holds spans {} to {end} of {total}; the rest follow with \
                 `cursor={}` (page_info.cursor)",
                start + 1,
                page.next_cursor.as_deref().unwrap_or_default()
            ),
        }));
    }
    let body = FlatTraceResponse {
        execution,
        spans: spans[start..end]
            .iter()
            .map(|n| FlatSpan {
                attributes: links
                    .sign_attributes(&n.attributes)
                    .map_or_else(|| Cow::Borrowed(n.attributes.as_slice()), Cow::Owned),
                ..FlatSpan::new(n)
            })
            .collect(),
        anomalies,
        source,
        span_count: total,
        truncated,
        page_info: page_info(&page),
    };
    serde_json::to_vec(&body).map_err(|e| to_internal(&e))
}

/// Query of the span route (unknown keys are ignored).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpanQuery {
    /// `false` withholds prompt, response and message text.
    #[serde(default)]
    pub include_content: Option<bool>,
}

/// One span in full: content, attributes, events; its children are counted, not included.
#[utoipa::path(
    get,
    path = "/api/executions/{execution_id}/trace/spans/{span_id}",
    tag = "traces",
    params(
        ("execution_id" = String, Path, description = "The execution's id.", pattern = r"^[A-Za-z0-9._:-]{1,128}$"),
        ("span_id" = String, Path, description = "The span's id (16 hex digits, not all zero).", pattern = r"^(?!0+$)[0-9a-fA-F]{1,16}$"),
        SpanQuery
    ),
    responses(
        (status = 200, description = "The span.", body = crate::openapi::SpanResponse),
        (status = 400, description = "Malformed id.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 404, description = "No such execution or span.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The trace store is down; see `Retry-After`.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn get_span(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<SpanQuery>,
) -> Result<HttpResponse, ApiError> {
    let (execution_id, span_id) = path.into_inner();
    let span_id: SpanId = span_id
        .parse()
        .map_err(|e| ApiError::bad_request("invalid_span_id", format!("invalid span id: {e}")))?;
    let execution = state
        .traces
        .execution(&caller.audience(), &execution_id)
        .await?;
    let withhold = !caller.scopes.read_content || query.include_content == Some(false);
    let loaded = state.traces.trace(&execution, withhold).await?;
    let held = held_artifacts(&state, &execution.tenant, &loaded.tree).await?;
    // Finding the span is a scan of the whole trace, and rendering it can be large: both on the
    // blocking pool.
    let out = web::block(move || span_answer(&execution, &loaded, span_id, &held)).await??;
    Ok(json(out))
}

/// `GET …/spans/{span_id}`'s body: the span, without its children, and where it came from.
fn span_answer(
    execution: &Execution,
    loaded: &LoadedTrace,
    span_id: SpanId,
    held: &BTreeSet<String>,
) -> Result<Vec<u8>, ApiError> {
    let mut tree: Cow<'_, TraceTree> = Cow::Borrowed(&loaded.tree);
    let index = tree
        .nodes
        .iter()
        .position(|n| n.span_id == span_id && !n.synthetic)
        .ok_or_else(|| {
            ApiError::NotFound(format!("no span {span_id} in this execution's trace"))
        })?;
    if !tree.nodes[index].artifacts().is_empty() {
        let node = &mut tree.to_mut().nodes[index];
        for artifact in node.content.iter_mut().flat_map(|c| c.artifacts.iter_mut()) {
            artifact.available = held.contains(&artifact.id);
        }
    }
    let tree = tree.as_ref();
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"execution_id\":");
    serde_json::to_writer(&mut out, &execution.id).map_err(|e| to_internal(&e))?;
    out.extend_from_slice(b",\"trace_id\":");
    serde_json::to_writer(&mut out, &tree.trace_id).map_err(|e| to_internal(&e))?;
    out.extend_from_slice(b",\"span\":");
    let options = RenderOptions {
        max_depth: Some(0),
        end: None,
    };
    render::write_subtree_with(
        &mut out,
        tree,
        u32::try_from(index).ok(),
        &options,
        &mut cost_of(&loaded.costs),
    )
    .map_err(|e| to_internal(&e))?;
    out.extend_from_slice(b",\"source\":");
    serde_json::to_writer(&mut out, &loaded.source).map_err(|e| to_internal(&e))?;
    out.push(b'}');
    Ok(out)
}

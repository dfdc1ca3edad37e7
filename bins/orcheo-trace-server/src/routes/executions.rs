//! `GET /api/executions`: the caller's executions, newest first, filtered and cursor-paged, each
//! with the token, span and error totals of its recorded span summaries; a search over every
//! execution (duration, tokens, model, error type, cost, free text with the matching spans).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use orcheo_trace_model::{ExecutionStatus, Timestamp};
use orcheo_trace_service::summary_cost;
use orcheo_trace_store::{CostBound, Cursor, ListFilter, ModelTokens, RunPricer, SearchMatch};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::{AppState, ExecutionView, PageInfo, SearchMatchView};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;
/// Most traces a free-text search takes from the trace store (Tempo) for runs not yet indexed.
pub const MAX_TRACE_STORE_HITS: usize = 100;
/// Longest workflow id a run records, so the longest useful prefix.
const MAX_WORKFLOW_PREFIX_CHARS: usize = 256;

/// Filters of the list, and of the export of its results (unknown keys are ignored). A filter
/// added here and to [`ListQuery::filter`] applies to both.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One workflow, by its exact id.
    pub workflow_id: Option<String>,
    /// Workflows whose id starts with this text (case-sensitive; `%` and `_` are plain
    /// characters).
    #[param(max_length = 256)]
    pub workflow_prefix: Option<String>,
    /// `running`, `completed`, `error` or `cancelled`.
    #[param(pattern = "^(running|completed|error|cancelled)?$")]
    pub status: Option<String>,
    /// Started at or after (RFC 3339).
    #[param(format = DateTime)]
    pub started_after: Option<String>,
    /// Started before (RFC 3339).
    #[param(format = DateTime)]
    pub started_before: Option<String>,
    /// Only executions whose run itself ended in error (status `error`, `true`) or did not
    /// (`false`).
    #[serde(default, deserialize_with = "flag")]
    pub has_error: Option<bool>,
    /// Only executions any of whose recorded spans failed (status `ERROR`, `true`), even if the
    /// run finished, or none of whose did (`false`).
    #[serde(default, deserialize_with = "flag")]
    pub has_failing_span: Option<bool>,
    /// Ran at least this many milliseconds (a run still running is left out by any duration
    /// bound).
    #[param(value_type = Option<u64>, minimum = 0)]
    pub min_duration_ms: Option<String>,
    /// Ran at most this many milliseconds (a run still running is left out).
    #[param(value_type = Option<u64>, minimum = 0)]
    pub max_duration_ms: Option<String>,
    /// Spent at least this many tokens (input and output, over its recorded spans).
    #[param(value_type = Option<u64>, minimum = 0)]
    pub min_tokens: Option<String>,
    /// Spent at most this many tokens (a run without token counts spent 0).
    #[param(value_type = Option<u64>, minimum = 0)]
    pub max_tokens: Option<String>,
    /// Any of its spans called this model, exactly as the spans name it (the answering
    /// model, else the one asked for).
    #[param(max_length = 256)]
    pub model: Option<String>,
    /// Any of its spans failed with this error type (`RateLimitError`) or error code
    /// (`orcheo.error.code`), exactly.
    #[param(max_length = 256)]
    pub error_type: Option<String>,
    /// Cost at least this many US dollars, at today's prices. A run with tokens the price table
    /// cannot price never matches a cost bound. With a cost bound a page may hold fewer runs
    /// than `limit` (even none) and still have a next page: follow `page_info.cursor`.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub min_cost: Option<String>,
    /// Cost at most this many US dollars (see `min_cost`).
    #[param(value_type = Option<f64>, minimum = 0)]
    pub max_cost: Option<String>,
    /// Free text, at most 256 characters: its words, as a phrase (case and punctuation
    /// ignored), in any span's name, node id, error message, error type or code, or attribute
    /// values; with `traces:read_content` also in prompt, response and message text. Each
    /// listed execution then says where it matched (`matches`).
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// Another tenant's executions (callers with `traces:admin` only; others always see their
    /// own tenant's).
    pub tenant: Option<String>,
}

/// Paging of the list (unknown keys are ignored).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `page_info.cursor` of the previous page.
    #[param(pattern = r"^([0-9]{1,18}\.[A-Za-z0-9._:-]{1,128})?$")]
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The store's filter for these parameters: an empty value (`?status=`) is no filter, a
    /// malformed one a 400. `tenant` picks the tenant to list from the one asked for (the
    /// caller's rule, [`Caller::list_tenant`]); the query then names the tenant listed, so that
    /// it says what was searched. `search_content`: whether `q` may find prompt, response and
    /// message text (the trace route's content rule); a cost bound prices with `prices`.
    pub fn filter(
        &mut self,
        tenant: impl FnOnce(Option<&str>) -> Option<String>,
        search_content: bool,
        prices: std::sync::Arc<orcheo_pricing::PriceTable>,
    ) -> Result<ListFilter, ApiError> {
        self.blanks_as_none();
        self.tenant = tenant(self.tenant.as_deref());
        let status = self
            .status
            .as_deref()
            .map(|s| {
                s.parse::<ExecutionStatus>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_request",
                        format!("status: {s:?} is not running, completed, error or cancelled"),
                    )
                })
            })
            .transpose()?;
        if let Some(prefix) = &self.workflow_prefix
            && prefix.chars().count() > MAX_WORKFLOW_PREFIX_CHARS
        {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("workflow_prefix must be at most {MAX_WORKFLOW_PREFIX_CHARS} characters"),
            ));
        }
        check_texts(self)?;
        let (min_duration_ms, max_duration_ms) = (
            whole("min_duration_ms", self.min_duration_ms.as_deref())?,
            whole("max_duration_ms", self.max_duration_ms.as_deref())?,
        );
        let (min_tokens, max_tokens) = (
            whole("min_tokens", self.min_tokens.as_deref())?,
            whole("max_tokens", self.max_tokens.as_deref())?,
        );
        let (min_usd, max_usd) = (
            dollars("min_cost", self.min_cost.as_deref())?,
            dollars("max_cost", self.max_cost.as_deref())?,
        );
        let cost = (min_usd.is_some() || max_usd.is_some()).then(|| CostBound {
            min_usd,
            max_usd,
            pricer: std::sync::Arc::new(ListPricer(prices)),
        });
        Ok(ListFilter {
            tenant: self.tenant.clone(),
            workflow_id: self.workflow_id.clone(),
            workflow_prefix: self.workflow_prefix.clone(),
            status,
            started_after: time("started_after", self.started_after.as_deref())?,
            started_before: time("started_before", self.started_before.as_deref())?,
            has_error: self.has_error,
            has_failing_span: self.has_failing_span,
            min_duration_ms,
            max_duration_ms,
            min_tokens,
            max_tokens,
            model: self.model.clone(),
            error_type: self.error_type.clone(),
            cost,
            q: self.q.clone(),
            search_content,
            q_trace_ids: Vec::new(),
        })
    }

    /// `?status=` (an empty value) is the same as no filter, for every parameter.
    fn blanks_as_none(&mut self) {
        for field in [
            &mut self.workflow_id,
            &mut self.workflow_prefix,
            &mut self.status,
            &mut self.tenant,
            &mut self.min_duration_ms,
            &mut self.max_duration_ms,
            &mut self.min_tokens,
            &mut self.max_tokens,
            &mut self.model,
            &mut self.error_type,
            &mut self.min_cost,
            &mut self.max_cost,
            &mut self.q,
        ] {
            if field.as_deref() == Some("") {
                *field = None;
            }
        }
    }
}

/// With `q`, the runs kept in Tempo that the database has not indexed yet: the traces Tempo
/// finds for the words join the filter's matches.
pub(crate) async fn add_trace_store_hits(state: &AppState, filter: &mut ListFilter) {
    if let Some(q) = filter.q.as_deref()
        && let Ok(words) = orcheo_trace_store::query_words(q)
    {
        filter.q_trace_ids = state
            .traces
            .find_text_in_store(words, MAX_TRACE_STORE_HITS)
            .await;
    }
}

/// `true` or `false`; an empty value (`has_error=`) is no filter, as for every other parameter.
fn flag<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<bool>, D::Error> {
    match Option::<String>::deserialize(value)?.as_deref() {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "{other:?} is not true or false"
        ))),
    }
}

/// A whole number parameter, with a clear message when it is not one.
fn whole(name: &str, text: Option<&str>) -> Result<Option<u64>, ApiError> {
    text.map(|t| match t.parse::<u64>() {
        Ok(n) if i64::try_from(n).is_ok() => Ok(n),
        Ok(_) => Err(ApiError::bad_request(
            "invalid_request",
            format!("{name}: {t} is larger than {}", i64::MAX),
        )),
        Err(_) => Err(ApiError::bad_request(
            "invalid_request",
            format!("{name}: {t:?} is not a whole number, 0 or more"),
        )),
    })
    .transpose()
}

/// A US dollar amount parameter.
fn dollars(name: &str, text: Option<&str>) -> Result<Option<f64>, ApiError> {
    text.map(|t| match t.parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd >= 0.0 => Ok(usd),
        _ => Err(ApiError::bad_request(
            "invalid_request",
            format!("{name}: {t:?} is not a number of US dollars, 0 or more"),
        )),
    })
    .transpose()
}

/// Prices a listed run as the list shows its cost: a run with unpriced tokens has no cost to
/// bound; one without tokens costs 0.
struct ListPricer(std::sync::Arc<orcheo_pricing::PriceTable>);

impl RunPricer for ListPricer {
    fn run_usd(&self, tenant: &str, tokens: &[ModelTokens]) -> Option<f64> {
        match summary_cost(self.0.for_tenant(tenant), tokens) {
            None => Some(0.0),
            Some(cost) if cost.complete => Some(cost.usd.unwrap_or(0.0)),
            Some(_) => None,
        }
    }
}

fn match_view(m: SearchMatch) -> SearchMatchView {
    SearchMatchView {
        span_id: m.span_id,
        span_name: m.span_name,
        field: m.field.as_str(),
        snippet: m.snippet,
    }
}

/// A page of executions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionList {
    pub executions: Vec<ExecutionView>,
    pub page_info: PageInfo,
}

/// An RFC 3339 time; valid times outside what the store holds (before 1970, after 2262)
/// clamp to the nearest end, so a filter never fails on a far-off bound.
fn time(name: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    let Some(t) = text else { return Ok(None) };
    let latest = Timestamp::from_unix_nanos(i64::MAX.unsigned_abs());
    if let Some(time) = Timestamp::parse_rfc3339(t) {
        return Ok(Some(time.min(latest)));
    }
    let year = t.get(..4).and_then(|y| y.parse::<u32>().ok());
    let rest_valid = t
        .get(4..)
        .is_some_and(|rest| Timestamp::parse_rfc3339(&format!("2000{rest}")).is_some());
    match year {
        Some(y) if rest_valid && y < 1970 => Ok(Some(Timestamp::from_unix_nanos(0))),
        Some(y) if rest_valid && y > 2200 => Ok(Some(latest)),
        _ => Err(ApiError::bad_request(
            "invalid_request",
            format!("{name}: {t:?} is not an RFC 3339 time"),
        )),
    }
}

/// The search texts' bounds: at most 256 characters each.
fn check_texts(query: &ListQuery) -> Result<(), ApiError> {
    for (name, value) in [
        ("model", &query.model),
        ("error_type", &query.error_type),
        ("q", &query.q),
    ] {
        if let Some(v) = value
            && v.chars().count() > 256
        {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("{name} must be at most 256 characters"),
            ));
        }
    }
    Ok(())
}

/// Lists executions.
#[utoipa::path(
    get,
    path = "/api/executions",
    tag = "executions",
    params(ListQuery, PageQuery),
    responses(
        (status = 200, description = "A page of executions, newest first.", body = ExecutionList),
        (status = 400, description = "A malformed filter, search text or cursor.", body = crate::openapi::ErrorResponse),
        (status = 401, description = "No or bad token.", body = crate::openapi::ErrorResponse),
        (status = 403, description = "The token lacks `traces:read`.", body = crate::openapi::ErrorResponse),
        (status = 503, description = "The database is unavailable.", body = crate::openapi::ErrorResponse),
    ),
    security(("bearer" = []), ())
)]
pub(crate) async fn list_executions(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut query = query.into_inner();
    let mut filter = query.filter(
        |requested| caller.list_tenant(requested),
        caller.scopes.read_content,
        state.traces.shared_prices(),
    )?;
    let searched = filter.q.is_some();
    let mut page = page.into_inner();
    if page.cursor.as_deref() == Some("") {
        page.cursor = None;
    }
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    let cursor = page.cursor.take();
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("limit must be within 1..={MAX_LIMIT}"),
        ));
    }
    let cursor = cursor
        .as_deref()
        .map(|c| {
            Cursor::decode(c).map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))
        })
        .transpose()?;
    // Asked only of a query that is valid through and through; the first page only: later
    // pages continue from where the database's matches left off.
    if cursor.is_none() {
        add_trace_store_hits(&state, &mut filter).await;
    }
    let store = state.traces.store().clone();
    let (rows, next, totals, models, mut matches) = web::block(move || {
        let (rows, next) = store.list_executions(&filter, cursor.as_ref(), limit as usize)?;
        let ids: Vec<_> = rows.iter().map(|e| e.id.clone()).collect();
        let matches: HashMap<_, _> = store.search_matches(&filter, &ids)?.into_iter().collect();
        let totals: HashMap<_, _> = store.summary_totals(&ids)?.into_iter().collect();
        let mut models: HashMap<_, Vec<_>> = HashMap::new();
        for (id, group) in store.summary_model_tokens(&ids)? {
            models.entry(id).or_default().push(group);
        }
        Ok::<_, orcheo_trace_store::StoreError>((rows, next, totals, models, matches))
    })
    .await?
    .map_err(|e| match e {
        // A value the route let through that the store refuses (a bound past its range).
        orcheo_trace_store::StoreError::Invalid { .. } => {
            ApiError::bad_request("invalid_request", e.to_string())
        }
        other => other.into(),
    })?;
    let policy = state.traces.policy();
    let prices = state.traces.prices();
    Ok(HttpResponse::Ok().json(ExecutionList {
        executions: rows
            .iter()
            .map(|e| {
                let groups = models.get(&e.id).map_or(&[][..], Vec::as_slice);
                let cached = groups
                    .iter()
                    .filter_map(|g| g.tokens.cached_input)
                    .reduce(u64::saturating_add);
                // Priced by the names as stored; shown redacted, as the trace shows them.
                let cost = summary_cost(prices.for_tenant(&e.tenant), groups).map(|mut cost| {
                    for model in &mut cost.unpriced_models {
                        *model = policy.redact(model).into_owned();
                    }
                    cost
                });
                let mut view = ExecutionView::new(e, None, &policy)
                    .with_totals(totals.get(&e.id), cached)
                    .with_cost(cost);
                if searched {
                    view.matches = Some(
                        matches
                            .remove(&e.id)
                            .unwrap_or_default()
                            .into_iter()
                            .map(match_view)
                            .collect(),
                    );
                }
                view
            })
            .collect(),
        page_info: PageInfo {
            has_next_page: next.is_some(),
            cursor: next.map(|c| c.encode()),
        },
    }))
}

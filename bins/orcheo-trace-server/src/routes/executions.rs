//! `GET /api/executions`: the caller's executions, newest first, filtered and cursor-paged, each
//! with the token, span and error totals of its recorded span summaries.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use orcheo_trace_model::{ExecutionStatus, Timestamp};
use orcheo_trace_service::summary_cost;
use orcheo_trace_store::{Cursor, ListFilter};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::{AppState, ExecutionView, PageInfo};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;
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
    /// it says what was searched.
    pub fn filter(
        &mut self,
        tenant: impl FnOnce(Option<&str>) -> Option<String>,
    ) -> Result<ListFilter, ApiError> {
        for field in [
            &mut self.workflow_id,
            &mut self.workflow_prefix,
            &mut self.status,
            &mut self.tenant,
        ] {
            if field.as_deref() == Some("") {
                *field = None;
            }
        }
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
        Ok(ListFilter {
            tenant: self.tenant.clone(),
            workflow_id: self.workflow_id.clone(),
            workflow_prefix: self.workflow_prefix.clone(),
            status,
            started_after: time("started_after", self.started_after.as_deref())?,
            started_before: time("started_before", self.started_before.as_deref())?,
            has_error: self.has_error,
            has_failing_span: self.has_failing_span,
        })
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

/// Lists executions.
#[utoipa::path(
    get,
    path = "/api/executions",
    tag = "executions",
    params(ListQuery, PageQuery),
    responses(
        (status = 200, description = "A page of executions, newest first.", body = ExecutionList),
        (status = 400, description = "A malformed filter or cursor.", body = crate::openapi::ErrorResponse),
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
    let filter = query
        .into_inner()
        .filter(|requested| caller.list_tenant(requested))?;
    let mut query = page.into_inner();
    if query.cursor.as_deref() == Some("") {
        query.cursor = None;
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("limit must be within 1..={MAX_LIMIT}"),
        ));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            Cursor::decode(c).map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))
        })
        .transpose()?;
    let store = state.traces.store().clone();
    let (rows, next, totals, models) = web::block(move || {
        let (rows, next) = store.list_executions(&filter, cursor.as_ref(), limit as usize)?;
        let ids: Vec<_> = rows.iter().map(|e| e.id.clone()).collect();
        let totals: HashMap<_, _> = store.summary_totals(&ids)?.into_iter().collect();
        let mut models: HashMap<_, Vec<_>> = HashMap::new();
        for (id, group) in store.summary_model_tokens(&ids)? {
            models.entry(id).or_default().push(group);
        }
        Ok::<_, orcheo_trace_store::StoreError>((rows, next, totals, models))
    })
    .await??;
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
                ExecutionView::new(e, None, &policy)
                    .with_totals(totals.get(&e.id), cached)
                    .with_cost(cost)
            })
            .collect(),
        page_info: PageInfo {
            has_next_page: next.is_some(),
            cursor: next.map(|c| c.encode()),
        },
    }))
}

//! `artifacts`: what a node produced, and where it is stored.

use diesel::prelude::*;
use orcheo_trace_model::{ExecutionId, SpanId, Timestamp};

use crate::connection::AnyConnection;
use crate::error::{StoreError, check_len};
use crate::executions::{nanos, time};
use crate::schema::artifacts as ar;

/// An artifact's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    pub artifact_id: String,
    pub execution_id: ExecutionId,
    pub span_id: Option<SpanId>,
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: Option<u64>,
    /// Where the bytes are (`file:…`, `s3://…`); the server resolves it.
    pub storage_uri: String,
    pub created_at: Timestamp,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ar)]
struct Row {
    artifact_id: String,
    execution_id: String,
    span_id: Option<String>,
    name: Option<String>,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    storage_uri: String,
    created_at: i64,
}

/// Records an artifact (again: replaces the record).
pub(crate) fn register(conn: &mut AnyConnection, a: &ArtifactRecord) -> Result<(), StoreError> {
    check_len("artifact_id", &a.artifact_id, 256)?;
    check_len("storage_uri", &a.storage_uri, 4096)?;
    for (field, value, max) in [
        ("name", &a.name, 1024),
        ("content_type", &a.content_type, 255),
    ] {
        if let Some(v) = value {
            check_len(field, v, max)?;
        }
    }
    let size = a
        .size_bytes
        .map(|n| {
            i64::try_from(n).map_err(|_| StoreError::Invalid {
                field: "size_bytes",
                reason: "too large".into(),
            })
        })
        .transpose()?;
    let values = (
        ar::execution_id.eq(a.execution_id.as_str()),
        ar::span_id.eq(a.span_id.map(|s| s.to_string())),
        ar::name.eq(a.name.as_deref()),
        ar::content_type.eq(a.content_type.as_deref()),
        ar::size_bytes.eq(size),
        ar::storage_uri.eq(&a.storage_uri),
        ar::created_at.eq(nanos(a.created_at)?),
    );
    conn.transaction(|conn| {
        let updated = diesel::update(ar::table.find(&a.artifact_id))
            .set(values.clone())
            .execute(conn)?;
        if updated == 0 {
            let inserted = diesel::insert_into(ar::table)
                .values((ar::artifact_id.eq(&a.artifact_id), values.clone()))
                .execute(conn);
            // Registered at this moment by another writer too (PostgreSQL lets both see no row):
            // the record exists now, so this one updates it.
            if let Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) = inserted
            {
                diesel::update(ar::table.find(&a.artifact_id))
                    .set(values)
                    .execute(conn)?;
                return Ok(());
            }
            inserted.map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => StoreError::UnknownExecution(a.execution_id.to_string()),
                other => other.into(),
            })?;
        }
        Ok(())
    })
}

pub(crate) fn get(
    conn: &mut AnyConnection,
    artifact_id: &str,
) -> Result<Option<ArtifactRecord>, StoreError> {
    let Some(row) = ar::table
        .find(artifact_id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        table: "artifacts",
        reason,
    };
    Ok(Some(ArtifactRecord {
        execution_id: ExecutionId::new(row.execution_id).map_err(|e| corrupt(e.to_string()))?,
        span_id: row
            .span_id
            .as_deref()
            .map(SpanId::from_hex)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
        artifact_id: row.artifact_id,
        name: row.name,
        content_type: row.content_type,
        size_bytes: row.size_bytes.and_then(|n| u64::try_from(n).ok()),
        storage_uri: row.storage_uri,
        created_at: time(row.created_at),
    }))
}

/// Ids asked for per statement: far below SQLite's and PostgreSQL's bind-parameter limits.
const HELD_BATCH: usize = 1000;

/// Which of `artifact_ids` have a record of an execution of `tenant`, with where each is stored:
/// one statement for a trace's artifacts (one per thousand ids beyond that).
pub(crate) fn held(
    conn: &mut AnyConnection,
    tenant: &str,
    artifact_ids: &[&str],
) -> Result<Vec<(String, String)>, StoreError> {
    use crate::schema::workflow_executions as we;
    let mut out = Vec::new();
    for batch in artifact_ids.chunks(HELD_BATCH) {
        let rows: Vec<(String, String)> = ar::table
            .inner_join(we::table)
            .filter(ar::artifact_id.eq_any(batch))
            .filter(we::tenant_id.eq(tenant))
            .select((ar::artifact_id, ar::storage_uri))
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
}

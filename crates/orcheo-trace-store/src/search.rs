//! `execution_search`: the searchable text of every span of every execution, one row per
//! (execution, span, field kind), with a full-text index (SQLite FTS5, PostgreSQL `tsvector`).
//!
//! Rows hold what the API would show: the caller redacts the tree before [`span_texts`] reads
//! it. Prompt, response and message text is marked `content`, and searched only for callers
//! that may read content. Each row carries its execution's tenant.

use std::fmt::Write as _;

use diesel::prelude::*;
use orcheo_trace_model::{AttributeValue, ExecutionId, SpanId, SpanNode, semconv};

use crate::connection::AnyConnection;
use crate::error::StoreError;
use crate::executions::nanos;
use crate::schema::{execution_search as es, workflow_executions as we};

/// Longest free-text query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Each field's text is cut to this many bytes (at a character boundary) before it is stored.
pub const MAX_FIELD_BYTES: usize = 4096;
/// Error types and codes are cut to this many characters (they are matched exactly).
const MAX_ERROR_KEY_CHARS: usize = 256;
/// Most matches reported per execution.
pub const MAX_MATCHES_PER_EXECUTION: usize = 3;
/// Longest snippet, in characters.
pub const MAX_SNIPPET_CHARS: usize = 200;

/// Which part of a span a searchable text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchField {
    /// The span's name.
    Name,
    /// `orcheo.node.id`.
    NodeId,
    /// The error's (or failed status's) message.
    ErrorMessage,
    /// The error's type (an exception type).
    ErrorType,
    /// `orcheo.error.code`.
    ErrorCode,
    /// The values of the span's attributes (other than content attributes).
    Attributes,
    /// Prompt text (content).
    Prompt,
    /// Response text (content).
    Response,
    /// Message text (content).
    Message,
    /// Attributes that carry prompt, response or message text (content).
    ContentAttributes,
}

impl SearchField {
    /// Every field, in the order a span's texts are listed.
    pub const ALL: [Self; 10] = [
        Self::Name,
        Self::NodeId,
        Self::ErrorMessage,
        Self::ErrorType,
        Self::ErrorCode,
        Self::Attributes,
        Self::Prompt,
        Self::Response,
        Self::Message,
        Self::ContentAttributes,
    ];

    /// The name the API and the table use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::NodeId => "node_id",
            Self::ErrorMessage => "error_message",
            Self::ErrorType => "error_type",
            Self::ErrorCode => "error_code",
            Self::Attributes => "attributes",
            Self::Prompt => "prompt",
            Self::Response => "response",
            Self::Message => "message",
            Self::ContentAttributes => "content_attributes",
        }
    }

    /// Whether the field is prompt, response or message text (`traces:read_content` only).
    pub fn is_content(self) -> bool {
        matches!(
            self,
            Self::Prompt | Self::Response | Self::Message | Self::ContentAttributes
        )
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// One searchable text of a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanText {
    pub span_id: SpanId,
    pub span_name: String,
    pub field: SearchField,
    pub text: String,
}

/// Where a search matched an execution: which span, which field, and the text around the hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchMatch {
    pub span_id: SpanId,
    pub span_name: String,
    pub field: SearchField,
    /// At most [`MAX_SNIPPET_CHARS`] characters around the first matching word.
    pub snippet: String,
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Appends the strings of `value` (lists and maps too) to `into`, a line each.
fn strings_of(value: &AttributeValue, into: &mut String) {
    match value {
        AttributeValue::String(s) if !s.is_empty() => {
            if !into.is_empty() {
                into.push('\n');
            }
            into.push_str(s);
        }
        AttributeValue::Array(items) => {
            for item in items {
                strings_of(item, into);
            }
        }
        AttributeValue::Map(entries) => {
            for kv in entries {
                strings_of(&kv.value, into);
            }
        }
        _ => {}
    }
}

/// The searchable texts of a span, as the node shows them: redact the tree first (the rows hold
/// what the API would show, never raw secrets), but do not withhold its content (content rows
/// are marked and kept from callers without `traces:read_content` at query time). Each field
/// is cut to [`MAX_FIELD_BYTES`]; empty fields are left out.
pub fn span_texts(node: &SpanNode) -> Vec<SpanText> {
    let mut fields: Vec<(SearchField, String)> = Vec::new();
    let mut add = |field: SearchField, text: &str| {
        if text.trim().is_empty() {
            return;
        }
        match fields.iter_mut().find(|(f, _)| *f == field) {
            Some((_, existing)) => {
                if existing.len() < MAX_FIELD_BYTES {
                    existing.push('\n');
                    existing.push_str(text);
                }
            }
            None => fields.push((field, text.to_owned())),
        }
    };
    add(SearchField::Name, &node.name);
    let mut attributes = String::new();
    let mut content_attributes = String::new();
    for kv in &node.attributes {
        if kv.key == semconv::NODE_ID {
            if let AttributeValue::String(id) = &kv.value {
                add(SearchField::NodeId, id);
            }
        } else if semconv::is_content_attribute(&kv.key) {
            strings_of(&kv.value, &mut content_attributes);
        } else if attributes.len() < MAX_FIELD_BYTES {
            strings_of(&kv.value, &mut attributes);
        }
    }
    if let Some(message) = node.status.message.as_deref() {
        add(SearchField::ErrorMessage, message);
    }
    for error in node.error.as_deref().into_iter().chain(node.errors()) {
        if let Some(message) = error.message.as_deref()
            && node.status.message.as_deref() != Some(message)
        {
            add(SearchField::ErrorMessage, message);
        }
        if let Some(kind) = error.error_type.as_deref() {
            add(SearchField::ErrorType, kind);
        }
        if let Some(code) = error.code.as_deref() {
            add(SearchField::ErrorCode, code);
        }
    }
    add(SearchField::Attributes, &attributes);
    for (field, items) in [
        (SearchField::Prompt, node.prompts()),
        (SearchField::Response, node.responses()),
        (SearchField::Message, node.messages()),
    ] {
        for item in items {
            if let Some(text) = item.content.as_deref() {
                add(field, text);
            }
        }
    }
    add(SearchField::ContentAttributes, &content_attributes);
    fields
        .into_iter()
        .map(|(field, text)| {
            let text = match field {
                // Matched exactly: the first type or code, whole.
                SearchField::ErrorType | SearchField::ErrorCode => text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(MAX_ERROR_KEY_CHARS)
                    .collect(),
                _ => cut(text, MAX_FIELD_BYTES),
            };
            SpanText {
                span_id: node.span_id,
                span_name: node.name.chars().take(1000).collect(),
                field,
                text,
            }
        })
        .collect()
}

/// The words of a query (letters and digits, lowercased): what both full-text indexes match,
/// as a phrase. A query is refused when it is too long; one without words has none (it matches
/// nothing).
pub fn query_words(q: &str) -> Result<Vec<String>, StoreError> {
    let invalid = |reason: String| StoreError::Invalid { field: "q", reason };
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid(format!("longer than {MAX_QUERY_CHARS} characters")));
    }
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    Ok(words)
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQLite: whether the text holds the phrase (its words joined by spaces), as
    /// [`holds_phrase`] says; registered on every connection of the store's pool.
    fn orcheo_phrase(
        text: diesel::sql_types::Text,
        phrase: diesel::sql_types::Text,
    ) -> diesel::sql_types::Bool;
}

/// Makes `orcheo_phrase(text, phrase)` callable on a SQLite connection.
pub(crate) fn register_phrase_function(
    conn: &mut diesel::sqlite::SqliteConnection,
) -> diesel::QueryResult<()> {
    orcheo_phrase_utils::register_impl(conn, |text: String, phrase: String| {
        let words: Vec<&str> = phrase.split(' ').filter(|w| !w.is_empty()).collect();
        holds_phrase(&text, &words)
    })
}

/// Whether `text` holds `words` (lowercased, as [`query_words`] gives them) one after another:
/// the text is split at every character that is not a letter or digit and each piece is
/// lowercased, as the query was. On SQLite this decides, row by row, what the full-text index
/// proposes (asking the index about one row costs as much as reading the phrase's hits near
/// it).
pub(crate) fn holds_phrase(text: &str, words: &[&str]) -> bool {
    let Some(first) = words.first() else {
        return false;
    };
    let same =
        |piece: &str, word: &str| piece.chars().flat_map(char::to_lowercase).eq(word.chars());
    let pieces: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect();
    pieces.iter().enumerate().any(|(at, piece)| {
        same(piece, first)
            && pieces.len() - at >= words.len()
            && pieces[at + 1..]
                .iter()
                .zip(&words[1..])
                .all(|(piece, word)| same(piece, word))
    })
}

/// The query's words as the phrase both backends' row tests take: PostgreSQL's
/// `phraseto_tsquery` and SQLite's `orcheo_phrase` (FTS5's `MATCH` takes [`fts_phrase`]).
pub(crate) fn phrase(words: &[String]) -> String {
    words.join(" ")
}

/// A cheap test a row must pass before the full-text index is asked about it alone:
/// `AND {column} LIKE '%word%'` (`ILIKE` on PostgreSQL) for each word made of ASCII letters and
/// digits only (ASCII case is folded as the index folds it; a word with other letters is left to
/// the index). Asking SQLite's index about one row costs as much as reading the phrase's hits
/// near it, so the rows that cannot hold the words are turned away first. The words are inlined: they are letters and
/// digits, checked here again.
pub(crate) fn like_prefilter(conn: &AnyConnection, words: &[String], column: &str) -> String {
    // PostgreSQL's `LIKE` keeps case; `ILIKE` folds it.
    let like = match conn {
        AnyConnection::Sqlite(_) => "LIKE",
        AnyConnection::Postgresql(_) => "ILIKE",
    };
    let mut sql = String::new();
    for w in words
        .iter()
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        let _ = write!(sql, " AND {column} {like} '%{w}%'");
    }
    sql
}

/// The words as an FTS5 phrase: quoted, quotes doubled.
pub(crate) fn fts_phrase(words: &[String]) -> String {
    format!("\"{}\"", words.join(" ").replace('"', "\"\""))
}

/// SQLite's FTS5 index a search reads: the one over every row, or (for a caller who may not
/// read content) the one over the rows that are not prompt, response or message text.
pub(crate) fn fts_table(content: bool) -> &'static str {
    if content {
        "execution_search_fts"
    } else {
        "execution_search_plain_fts"
    }
}

/// The tenant of each of `executions` that is stored.
fn tenants(
    conn: &mut AnyConnection,
    executions: &[&str],
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    Ok(we::table
        .filter(we::execution_id.eq_any(executions))
        .select((we::execution_id, we::tenant_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Writes the texts of spans of `execution`: each span's rows replace the ones it had (a span
/// indexed again, say with its final status, is not indexed twice).
pub(crate) fn write(
    conn: &mut AnyConnection,
    execution: &ExecutionId,
    texts: &[SpanText],
) -> Result<usize, StoreError> {
    if texts.is_empty() {
        return Ok(0);
    }
    let tenant = tenants(conn, &[execution.as_str()])?
        .remove(execution.as_str())
        .ok_or_else(|| StoreError::UnknownExecution(execution.to_string()))?;
    let mut spans: Vec<String> = texts.iter().map(|t| t.span_id.to_string()).collect();
    spans.sort();
    spans.dedup();
    for chunk in spans.chunks(500) {
        diesel::delete(
            es::table
                .filter(es::execution_id.eq(execution.as_str()))
                .filter(es::span_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    // The last text of a (span, field) wins, as the later report of a span does.
    let mut rows: Vec<&SpanText> = Vec::with_capacity(texts.len());
    let mut at: std::collections::HashMap<(SpanId, SearchField), usize> =
        std::collections::HashMap::with_capacity(texts.len());
    for text in texts {
        match at.entry((text.span_id, text.field)) {
            std::collections::hash_map::Entry::Occupied(slot) => rows[*slot.get()] = text,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(rows.len());
                rows.push(text);
            }
        }
    }
    let values: Vec<_> = rows
        .iter()
        .map(|t| {
            (
                es::execution_id.eq(execution.as_str()),
                es::span_id.eq(t.span_id.to_string()),
                es::field.eq(t.field.as_str()),
                es::tenant_id.eq(tenant.as_str()),
                es::content.eq(i32::from(t.field.is_content())),
                es::span_name.eq(t.span_name.as_str()),
                es::text.eq(t.text.as_str()),
            )
        })
        .collect();
    // Seven parameters a row: 500 rows a statement stays under both backends' limits. The
    // two-backend connection cannot express a multi-row insert; each backend can.
    for chunk in values.chunks(500) {
        let insert = diesel::insert_into(es::table).values(chunk);
        match conn {
            AnyConnection::Postgresql(pg) => insert.execute(pg),
            AnyConnection::Sqlite(sqlite) => insert.execute(sqlite),
        }?;
    }
    Ok(rows.len())
}

/// Replaces every search row of `execution` with `texts`, and marks it indexed at `at` (a run
/// whose trace lives in Tempo or Jaeger, indexed once from its fetched tree).
pub(crate) fn replace(
    conn: &mut AnyConnection,
    execution: &ExecutionId,
    texts: &[SpanText],
    at: orcheo_trace_model::Timestamp,
) -> Result<usize, StoreError> {
    let at = nanos(at)?;
    conn.transaction(|conn| {
        diesel::delete(es::table.filter(es::execution_id.eq(execution.as_str()))).execute(conn)?;
        let written = write(conn, execution, texts)?;
        diesel::update(we::table.find(execution.as_str()))
            .set(we::search_indexed_at.eq(Some(at)))
            .execute(conn)?;
        Ok(written)
    })
}

/// See [`crate::Store::executions_to_index`].
pub(crate) fn to_index(
    conn: &mut AnyConnection,
    all: bool,
    after: Option<&ExecutionId>,
    limit: usize,
) -> Result<Vec<ExecutionId>, StoreError> {
    let mut query = we::table
        .select(we::execution_id)
        .order(we::execution_id)
        .limit(i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(we::execution_id.gt(after.as_str().to_owned()));
    }
    if !all {
        // On the `(execution_id, span_id, field)` index: one probe a run.
        query = query.filter(diesel::dsl::not(diesel::dsl::exists(
            es::table.filter(es::execution_id.eq(we::execution_id)),
        )));
    }
    query
        .load::<String>(conn)?
        .into_iter()
        .map(|id| {
            ExecutionId::new(&id).map_err(|e| StoreError::Corrupt {
                table: "workflow_executions",
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Gives an execution's search rows the tenant it settled on.
pub(crate) fn set_tenant(
    conn: &mut AnyConnection,
    execution: &ExecutionId,
    tenant: &str,
) -> Result<(), StoreError> {
    diesel::update(es::table.filter(es::execution_id.eq(execution.as_str())))
        .filter(es::tenant_id.ne(tenant))
        .set(es::tenant_id.eq(tenant))
        .execute(conn)?;
    Ok(())
}

/// Deletes an execution's search rows.
pub(crate) fn delete(conn: &mut AnyConnection, execution: &ExecutionId) -> Result<(), StoreError> {
    diesel::delete(es::table.filter(es::execution_id.eq(execution.as_str()))).execute(conn)?;
    Ok(())
}

/// What a free-text search looks for, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextQuery {
    pub words: Vec<String>,
    pub tenant: Option<String>,
    pub content: bool,
}

/// Where the search matched each of `executions` (in the order given; executions without a
/// match left out), at most [`MAX_MATCHES_PER_EXECUTION`] each, spans in the order indexed.
pub(crate) fn matches(
    conn: &mut AnyConnection,
    query: &TextQuery,
    executions: &[ExecutionId],
) -> Result<Vec<(ExecutionId, Vec<SearchMatch>)>, StoreError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    if executions.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = executions.iter().map(ExecutionId::as_str).collect();
    // The page's own rows, each asked whether it holds the phrase (on SQLite by
    // `orcheo_phrase`, behind a `LIKE` of each word: `rowid IN (all rows that match)` would read
    // the phrase's every hit first, which for a common phrase is most of the table).
    let (test, after) = match conn {
        AnyConnection::Sqlite(_) => ("orcheo_phrase(execution_search.text, ", "))"),
        // The stored words, row by row: `IS TRUE` keeps the planner from reading the index
        // for every row that holds the phrase to intersect it with the page's runs.
        AnyConnection::Postgresql(_) => (
            "(execution_search.words @@ phraseto_tsquery('simple', ",
            ")) IS TRUE)",
        ),
    };
    let before = format!(
        "(1 = 1{} AND {test}",
        like_prefilter(conn, &query.words, "execution_search.text"),
    );
    let phrase = phrase(&query.words);
    let mut select = es::table
        .filter(es::execution_id.eq_any(&ids))
        .filter(sql::<Bool>(&before).bind::<Text, _>(phrase).sql(after))
        .select((
            es::execution_id,
            es::span_id,
            es::span_name,
            es::field,
            es::text,
        ))
        .order((es::execution_id, es::id))
        .into_boxed();
    if let Some(tenant) = &query.tenant {
        select = select.filter(es::tenant_id.eq(tenant.clone()));
    }
    if !query.content {
        select = select.filter(es::content.eq(0));
    }
    let rows: Vec<(String, String, String, String, String)> = select.load(conn)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        table: "execution_search",
        reason,
    };
    let mut found: std::collections::HashMap<&str, Vec<SearchMatch>> =
        std::collections::HashMap::new();
    for (execution, span, name, field, text) in rows {
        let Some(id) = ids.iter().find(|id| **id == execution) else {
            continue;
        };
        let list = found.entry(id).or_default();
        if list.len() >= MAX_MATCHES_PER_EXECUTION {
            continue;
        }
        list.push(SearchMatch {
            span_id: SpanId::from_hex(&span).map_err(|e| corrupt(e.to_string()))?,
            span_name: name,
            field: SearchField::parse(&field)
                .ok_or_else(|| corrupt(format!("unknown field {field:?}")))?,
            snippet: snippet(&text, &query.words),
        });
    }
    Ok(executions
        .iter()
        .filter_map(|e| Some((e.clone(), found.remove(e.as_str())?)))
        .collect())
}

/// At most [`MAX_SNIPPET_CHARS`] characters of `text` around the first of `words` found in it
/// (the start of the text when none is found as typed: the index also matches across
/// punctuation and accents).
pub(crate) fn snippet(text: &str, words: &[String]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lower: Vec<char> = chars
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let hit = words.first().and_then(|word| {
        let word: Vec<char> = word.chars().collect();
        (!word.is_empty())
            .then(|| lower.windows(word.len()).position(|w| w == word.as_slice()))
            .flatten()
    });
    if chars.len() <= MAX_SNIPPET_CHARS {
        return text.to_owned();
    }
    let at = hit.unwrap_or(0);
    let start = at.saturating_sub(MAX_SNIPPET_CHARS / 3);
    let end = (start + MAX_SNIPPET_CHARS).min(chars.len());
    let start = end.saturating_sub(MAX_SNIPPET_CHARS);
    chars[start..end].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ascii_words_are_tested_with_like_and_they_are_inlined_safely() {
        use diesel::Connection as _;
        let conn = crate::connection::AnyConnection::Sqlite(
            diesel::sqlite::SqliteConnection::establish(":memory:").unwrap(),
        );
        let words = ["refund", "café", "42", ""].map(str::to_owned);
        assert_eq!(
            super::like_prefilter(&conn, &words, "s.text"),
            " AND s.text LIKE '%refund%' AND s.text LIKE '%42%'"
        );
        assert_eq!(
            super::like_prefilter(&conn, &["it's".to_owned()], "s.text"),
            ""
        );
    }

    #[test]
    fn a_phrase_is_its_words_in_order_whatever_stands_between_them() {
        let holds = |text: &str, words: &[&str]| holds_phrase(text, words);
        assert!(holds("Refund approved.", &["refund", "approved"]));
        assert!(holds("the refund -- APPROVED!", &["refund", "approved"]));
        assert!(holds("openai.RateLimitError", &["ratelimiterror"]));
        assert!(holds("Café Crème brûlée", &["crème", "brûlée"]));
        assert!(!holds("refund was approved", &["refund", "approved"]));
        assert!(!holds("refunded approved", &["refund", "approved"]));
        assert!(!holds("approved refund", &["refund", "approved"]));
        assert!(!holds("a late refund", &["refund", "approved"]));
        assert!(!holds("anything", &[]));
        // Each piece is compared whole, after lowercasing, as the query's words were made.
        let words = query_words("İstanbul ORDER").unwrap();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        assert!(holds("to İSTANBUL order 7", &words));
    }

    #[test]
    fn a_snippet_is_bounded_and_holds_the_hit() {
        let text = format!("{} needle {}", "a".repeat(500), "b".repeat(500));
        let s = snippet(&text, &["needle".to_owned()]);
        assert!(s.chars().count() <= MAX_SNIPPET_CHARS);
        assert!(s.contains("needle"));
        assert_eq!(
            snippet("short Needle", &["needle".to_owned()]),
            "short Needle"
        );
    }

    #[test]
    fn queries_have_a_bound_and_their_words_are_letters_and_digits() {
        assert_eq!(query_words("?!").ok(), Some(Vec::new()));
        assert!(query_words(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert_eq!(
            query_words("Rate-limit, 429").ok(),
            Some(vec![
                "rate".to_owned(),
                "limit".to_owned(),
                "429".to_owned()
            ])
        );
    }
}

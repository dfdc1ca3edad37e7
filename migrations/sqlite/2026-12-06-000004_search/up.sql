-- Search over every execution: the text of each span's fields, one row per (execution, span,
-- field kind), redacted as the API shows it and cut to 4 KiB. `content` is 1 for prompt,
-- response and message text (shown only to callers that may read content). The tenant is the
-- execution's, so that a search never reaches another tenant's rows.
CREATE TABLE execution_search (
    -- The rowid, which the full-text index below refers to (kept stable by being declared).
    id INTEGER PRIMARY KEY NOT NULL,
    execution_id TEXT NOT NULL REFERENCES workflow_executions (execution_id) ON DELETE CASCADE,
    span_id TEXT NOT NULL CHECK (length(span_id) = 16),
    field TEXT NOT NULL CHECK (length(field) BETWEEN 1 AND 32),
    tenant_id TEXT NOT NULL CHECK (length(tenant_id) BETWEEN 1 AND 128),
    content INTEGER NOT NULL CHECK (content IN (0, 1)),
    span_name TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE UNIQUE INDEX execution_search_span_field ON execution_search (execution_id, span_id, field);
-- The `error_type` filter: a span's error type or code, exactly.
CREATE INDEX execution_search_error_type ON execution_search (text, tenant_id, execution_id)
    WHERE field IN ('error_type', 'error_code');

-- The words of every row's text (FTS5 over the table above, kept in step by the triggers),
-- case folded but accents kept, as PostgreSQL's `simple` configuration does.
CREATE VIRTUAL TABLE execution_search_fts USING fts5(
    text, content = 'execution_search', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER execution_search_insert AFTER INSERT ON execution_search BEGIN
    INSERT INTO execution_search_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER execution_search_delete AFTER DELETE ON execution_search BEGIN
    INSERT INTO execution_search_fts (execution_search_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER execution_search_update AFTER UPDATE OF text ON execution_search BEGIN
    INSERT INTO execution_search_fts (execution_search_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    INSERT INTO execution_search_fts (rowid, text) VALUES (new.id, new.text);
END;

-- The same over the rows a caller without the content scope searches (names, node ids, errors,
-- attribute values): a phrase that only prompts and responses hold is not read row by row to
-- find that none of them may be shown. Its rows are a subset of the table's, so it is never
-- rebuilt from the whole table: the triggers below are all that write it.
CREATE VIRTUAL TABLE execution_search_plain_fts USING fts5(
    text, content = 'execution_search', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER execution_search_plain_insert AFTER INSERT ON execution_search
    WHEN new.content = 0 BEGIN
    INSERT INTO execution_search_plain_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER execution_search_plain_delete AFTER DELETE ON execution_search
    WHEN old.content = 0 BEGIN
    INSERT INTO execution_search_plain_fts (execution_search_plain_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
END;
-- One trigger for both steps, so that the old words always go before the new ones come.
CREATE TRIGGER execution_search_plain_update AFTER UPDATE OF text, content ON execution_search BEGIN
    INSERT INTO execution_search_plain_fts (execution_search_plain_fts, rowid, text)
        SELECT 'delete', old.id, old.text WHERE old.content = 0;
    INSERT INTO execution_search_plain_fts (rowid, text)
        SELECT new.id, new.text WHERE new.content = 0;
END;

-- When a run's trace (kept in Tempo or Jaeger) was indexed from its fetched tree; NULL: not
-- yet (runs received by this server are indexed as their spans arrive).
ALTER TABLE workflow_executions ADD COLUMN search_indexed_at BIGINT;

-- The `model` filter: the runs any of whose spans names a model.
CREATE INDEX workflow_trace_summary_model ON workflow_trace_summary (model, execution_id);

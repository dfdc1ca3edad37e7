-- Times are nanoseconds since the Unix epoch (BIGINT), the model's one time type on both backends.
CREATE TABLE workflow_executions (
    execution_id TEXT PRIMARY KEY NOT NULL CHECK (length(execution_id) BETWEEN 1 AND 128),
    workflow_id TEXT CHECK (workflow_id IS NULL OR length(workflow_id) <= 256),
    workflow_version TEXT CHECK (workflow_version IS NULL OR length(workflow_version) <= 64),
    tenant_id TEXT NOT NULL DEFAULT 'default' CHECK (length(tenant_id) BETWEEN 1 AND 128),
    triggered_by TEXT CHECK (triggered_by IS NULL OR length(triggered_by) <= 256),
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'error', 'cancelled')),
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    error TEXT,
    trace_id TEXT CHECK (trace_id IS NULL OR length(trace_id) = 32),
    traceparent TEXT CHECK (traceparent IS NULL OR length(traceparent) = 55),
    trace_started_at BIGINT,
    trace_completed_at BIGINT,
    trace_last_span_at BIGINT
);
CREATE INDEX workflow_executions_workflow_started ON workflow_executions (workflow_id, started_at DESC, execution_id DESC);
CREATE INDEX workflow_executions_tenant_started ON workflow_executions (tenant_id, started_at DESC, execution_id DESC);
CREATE INDEX workflow_executions_status_started ON workflow_executions (status, started_at DESC, execution_id DESC);
CREATE INDEX workflow_executions_started ON workflow_executions (started_at DESC, execution_id DESC);
CREATE INDEX workflow_executions_trace_id ON workflow_executions (trace_id);

-- One row: the last `updated_seq` handed out. Taken in the writing transaction, so sequence order
-- is commit order (a reader resuming after N never misses a row committed later with a lower N).
CREATE TABLE trace_seq (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO trace_seq (id, value) VALUES (1, 0);

CREATE TABLE workflow_trace_summary (
    execution_id TEXT NOT NULL REFERENCES workflow_executions (execution_id) ON DELETE CASCADE,
    span_id TEXT NOT NULL CHECK (length(span_id) = 16),
    parent_span_id TEXT CHECK (parent_span_id IS NULL OR length(parent_span_id) = 16),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    status_code TEXT NOT NULL CHECK (status_code IN ('UNSET', 'OK', 'ERROR')),
    status_message TEXT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    updated_seq BIGINT NOT NULL,
    PRIMARY KEY (execution_id, span_id)
);
CREATE INDEX workflow_trace_summary_seq ON workflow_trace_summary (execution_id, updated_seq);

CREATE TABLE local_spans (
    trace_id TEXT NOT NULL CHECK (length(trace_id) = 32),
    span_id TEXT NOT NULL CHECK (length(span_id) = 16),
    execution_id TEXT,
    received_at BIGINT NOT NULL,
    start_time BIGINT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX local_spans_received ON local_spans (received_at);

-- One row: how many local spans are stored, kept with every insert and delete, so the total cap
-- is checked without counting a large table.
CREATE TABLE local_span_total (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO local_span_total (id, value) VALUES (1, 0);

CREATE TABLE artifacts (
    artifact_id TEXT PRIMARY KEY NOT NULL CHECK (length(artifact_id) BETWEEN 1 AND 256),
    execution_id TEXT NOT NULL REFERENCES workflow_executions (execution_id) ON DELETE CASCADE,
    span_id TEXT CHECK (span_id IS NULL OR length(span_id) = 16),
    name TEXT,
    content_type TEXT,
    size_bytes BIGINT,
    storage_uri TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX artifacts_execution ON artifacts (execution_id);

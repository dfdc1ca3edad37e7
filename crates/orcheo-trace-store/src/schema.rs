// The tables of `migrations/` (the same on SQLite and PostgreSQL).

diesel::table! {
    workflow_executions (execution_id) {
        execution_id -> Text,
        workflow_id -> Nullable<Text>,
        workflow_version -> Nullable<Text>,
        tenant_id -> Text,
        triggered_by -> Nullable<Text>,
        status -> Text,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        error -> Nullable<Text>,
        trace_id -> Nullable<Text>,
        traceparent -> Nullable<Text>,
        trace_started_at -> Nullable<BigInt>,
        trace_completed_at -> Nullable<BigInt>,
        trace_last_span_at -> Nullable<BigInt>,
        search_indexed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    trace_seq (id) {
        id -> Integer,
        value -> BigInt,
    }
}

diesel::table! {
    workflow_trace_summary (execution_id, span_id) {
        execution_id -> Text,
        span_id -> Text,
        parent_span_id -> Nullable<Text>,
        name -> Text,
        kind -> Text,
        start_time -> BigInt,
        end_time -> Nullable<BigInt>,
        status_code -> Text,
        status_message -> Nullable<Text>,
        input_tokens -> Nullable<BigInt>,
        output_tokens -> Nullable<BigInt>,
        updated_seq -> BigInt,
        model -> Nullable<Text>,
        provider -> Nullable<Text>,
        cached_input_tokens -> Nullable<BigInt>,
    }
}

diesel::table! {
    local_spans (trace_id, span_id) {
        trace_id -> Text,
        span_id -> Text,
        execution_id -> Nullable<Text>,
        received_at -> BigInt,
        start_time -> BigInt,
        payload -> Binary,
        tenant_id -> Text,
    }
}

diesel::table! {
    local_span_tenant_total (tenant_id) {
        tenant_id -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    local_span_total (id) {
        id -> Integer,
        value -> BigInt,
    }
}

diesel::table! {
    artifacts (artifact_id) {
        artifact_id -> Text,
        execution_id -> Text,
        span_id -> Nullable<Text>,
        name -> Nullable<Text>,
        content_type -> Nullable<Text>,
        size_bytes -> Nullable<BigInt>,
        storage_uri -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    execution_search (id) {
        id -> BigInt,
        execution_id -> Text,
        span_id -> Text,
        field -> Text,
        tenant_id -> Text,
        content -> Integer,
        span_name -> Text,
        text -> Text,
    }
}

diesel::joinable!(execution_search -> workflow_executions (execution_id));
diesel::joinable!(workflow_trace_summary -> workflow_executions (execution_id));
diesel::joinable!(artifacts -> workflow_executions (execution_id));

diesel::allow_tables_to_appear_in_same_query!(
    workflow_executions,
    trace_seq,
    workflow_trace_summary,
    local_spans,
    local_span_tenant_total,
    local_span_total,
    artifacts,
    execution_search,
);

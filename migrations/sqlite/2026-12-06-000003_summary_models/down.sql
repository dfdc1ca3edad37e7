ALTER TABLE workflow_trace_summary DROP COLUMN cached_input_tokens;
ALTER TABLE workflow_trace_summary DROP COLUMN provider;
ALTER TABLE workflow_trace_summary DROP COLUMN model;

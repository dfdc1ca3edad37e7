DROP INDEX workflow_trace_summary_model;
ALTER TABLE workflow_executions DROP COLUMN search_indexed_at;
DROP TABLE execution_search;

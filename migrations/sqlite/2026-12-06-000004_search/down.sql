DROP INDEX workflow_trace_summary_model;
ALTER TABLE workflow_executions DROP COLUMN search_indexed_at;
DROP TRIGGER execution_search_update;
DROP TRIGGER execution_search_delete;
DROP TRIGGER execution_search_insert;
DROP TABLE execution_search_fts;
DROP TABLE execution_search;

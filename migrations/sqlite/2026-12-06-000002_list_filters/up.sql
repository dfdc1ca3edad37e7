-- The executions list's filters: whether any span of a run failed (an EXISTS on the run's
-- summaries with status ERROR), and a tenant's workflows by id prefix, counted and grouped
-- without reading the rows.
CREATE INDEX workflow_trace_summary_status ON workflow_trace_summary (execution_id, status_code);
CREATE INDEX workflow_executions_tenant_workflow ON workflow_executions (tenant_id, workflow_id, started_at);

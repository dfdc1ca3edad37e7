DROP TABLE artifacts;
DROP TABLE local_span_total;
DROP TABLE local_spans;
DROP TABLE workflow_trace_summary;
DROP TABLE trace_seq;
DROP TABLE workflow_executions;

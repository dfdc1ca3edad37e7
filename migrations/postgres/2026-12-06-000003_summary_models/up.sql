-- What each span's tokens were spent on, so that the executions list can cost a run from its
-- span summaries (per model, at read time, so that a price change applies to past runs) without
-- reading its trace: the model that answered (else the one asked for), its provider, and the
-- part of the input tokens read from the provider's prompt cache. Summaries written before
-- these columns existed name no model: their tokens are shown unpriced.
ALTER TABLE workflow_trace_summary ADD COLUMN model TEXT;
ALTER TABLE workflow_trace_summary ADD COLUMN provider TEXT;
ALTER TABLE workflow_trace_summary ADD COLUMN cached_input_tokens BIGINT;

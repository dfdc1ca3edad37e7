DROP TABLE local_span_tenant_total;
ALTER TABLE local_spans DROP COLUMN tenant_id;

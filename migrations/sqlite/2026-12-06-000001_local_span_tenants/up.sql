-- Whose each received span is (the tenant that wrote it), so that one tenant's spans can be
-- bounded without counting the others'. Spans stored before this column existed count as the
-- default tenant's.
ALTER TABLE local_spans ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default'
    CHECK (length(tenant_id) BETWEEN 1 AND 128);

-- How many local spans each tenant has, kept with every insert and delete like the total.
CREATE TABLE local_span_tenant_total (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO local_span_tenant_total (tenant_id, value)
    SELECT tenant_id, COUNT(*) FROM local_spans GROUP BY tenant_id;

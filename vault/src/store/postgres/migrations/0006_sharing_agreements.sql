-- Sharing agreements: which domain's pseudonyms may be translated into which other domain's,
-- for what purpose and until when (ops::sharing). One row per (tenant, name), never updated:
-- revoking deletes it.
CREATE TABLE IF NOT EXISTS sharing_agreements (
    tenant_id   bigint NOT NULL,
    name        text COLLATE "C" NOT NULL,
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

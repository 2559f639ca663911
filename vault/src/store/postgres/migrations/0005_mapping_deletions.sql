-- A counter of mapping deletions per tenant, raised by every single-mapping delete (the retention
-- reaper) in the same transaction. Nodes read it with the tenant's change counter at the start of
-- every request and drop what their known-mappings table remembers of the tenant when it moved
-- (store::postgres::known). Erasure and shredding raise the change counter itself.
ALTER TABLE tenant_generations ADD COLUMN IF NOT EXISTS deletions bigint NOT NULL DEFAULT 0;

-- Valv schema version 1. Every table holds what the embedded store holds: identifiers only as
-- AES-256-GCM ciphertexts, keys only wrapped by the root key. Key columns use the "C" collation
-- so that names sort by bytes, as in the embedded store.

CREATE SEQUENCE valv_ids START 1;

-- Tenants and their change counters (id 0, the operator chain, has a counter but no tenant).
CREATE TABLE tenants (
    id          bigint PRIMARY KEY CHECK (id > 0),
    name        text COLLATE "C" NOT NULL UNIQUE,
    record      jsonb NOT NULL
);
CREATE TABLE tenant_generations (
    tenant_id   bigint PRIMARY KEY,
    generation  bigint NOT NULL CHECK (generation >= 0)
);

CREATE TABLE key_rings (
    tenant_id   bigint PRIMARY KEY,
    ring        jsonb NOT NULL
);
CREATE TABLE key_usage (
    tenant_id   bigint NOT NULL,
    version     integer NOT NULL,
    reserved    bigint NOT NULL CHECK (reserved >= 0),
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE domains (
    id          bigint PRIMARY KEY,
    tenant_id   bigint NOT NULL,
    name        text COLLATE "C" NOT NULL,
    record      jsonb NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE purposes (
    tenant_id   bigint NOT NULL,
    name        text COLLATE "C" NOT NULL,
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE record_policies (
    tenant_id   bigint NOT NULL,
    name        text COLLATE "C" NOT NULL,
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE principals (
    id                  text COLLATE "C" PRIMARY KEY,
    tenant_id           bigint,
    client_cert_sha256  text COLLATE "C" UNIQUE,
    record              jsonb NOT NULL
);
CREATE INDEX principals_by_tenant ON principals (tenant_id);

-- One mapping per (domain, pseudonym); the epoch is part of the pseudonym's storage form.
CREATE TABLE mappings (
    domain_id   bigint NOT NULL,
    pseudonym   bytea NOT NULL,
    tenant_id   bigint NOT NULL,
    epoch       integer NOT NULL,
    subject     bytea NOT NULL CHECK (length(subject) = 16),
    created_ms  bigint NOT NULL,
    expires_ms  bigint NOT NULL,
    ciphertext  bytea,
    PRIMARY KEY (domain_id, pseudonym)
);
-- The blind index of `random` domains: one token per identifier and domain.
CREATE TABLE blind_index (
    domain_id   bigint NOT NULL,
    blind       bytea NOT NULL CHECK (length(blind) = 16),
    pseudonym   bytea NOT NULL,
    PRIMARY KEY (domain_id, blind),
    FOREIGN KEY (domain_id, pseudonym) REFERENCES mappings (domain_id, pseudonym)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

-- Consent histories: append-only (rows are never changed; erasure deletes a subject's rows).
CREATE TABLE consent_events (
    tenant_id   bigint NOT NULL,
    subject     bytea NOT NULL CHECK (length(subject) = 16),
    purpose     text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
    event       jsonb NOT NULL,
    PRIMARY KEY (tenant_id, subject, purpose, seq)
);
CREATE FUNCTION valv_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'valv: % rows are append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION valv_refuse_update();
CREATE TABLE consent_texts (
    tenant_id   bigint NOT NULL,
    purpose     text COLLATE "C" NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, purpose, version)
);
CREATE TRIGGER consent_texts_append_only BEFORE UPDATE ON consent_texts
    FOR EACH ROW EXECUTE FUNCTION valv_refuse_update();
CREATE TABLE evidence (
    tenant_id   bigint NOT NULL,
    id          bytea NOT NULL,
    ciphertext  bytea NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE restrictions (
    tenant_id   bigint NOT NULL,
    subject     text COLLATE "C" NOT NULL,
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);
CREATE TABLE tombstones (
    tenant_id   bigint NOT NULL,
    subject     text COLLATE "C" NOT NULL,
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);
-- Each tenant's subject-event log; `subject_event_heads` hands out its sequence numbers.
CREATE TABLE subject_events (
    tenant_id   bigint NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
    record      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE TRIGGER subject_events_append_only BEFORE UPDATE ON subject_events
    FOR EACH ROW EXECUTE FUNCTION valv_refuse_update();
CREATE TABLE subject_event_heads (
    tenant_id   bigint PRIMARY KEY,
    last_seq    bigint NOT NULL
);
CREATE TABLE marks (
    key         text COLLATE "C" PRIMARY KEY
);

-- Audit chains: entries (protobuf `AuditEntry`), a head row per chain that appenders lock so
-- that two nodes can never fork a chain, and signed checkpoints.
CREATE TABLE audit_heads (
    chain       bigint PRIMARY KEY,
    seq         bigint NOT NULL,
    hash        bytea NOT NULL
);
CREATE TABLE audit_entries (
    chain       bigint NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
    entry       bytea NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION valv_refuse_update();
CREATE TABLE audit_checkpoints (
    chain       bigint NOT NULL,
    seq         bigint NOT NULL,
    checkpoint  bytea NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- Background jobs (the lease columns decide which node runs one) and operations waiting for
-- approval.
CREATE TABLE jobs (
    id              bigint PRIMARY KEY,
    tenant_id       bigint NOT NULL,
    state           text COLLATE "C" NOT NULL,
    lease_owner     text NOT NULL,
    lease_until_ms  bigint NOT NULL,
    record          jsonb NOT NULL
);
CREATE TABLE pending_ops (
    id          bigint PRIMARY KEY,
    tenant_id   bigint NOT NULL,
    state       text COLLATE "C" NOT NULL,
    record      jsonb NOT NULL
);

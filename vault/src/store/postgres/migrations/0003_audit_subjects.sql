-- The audit subject index: which entries of a chain name a subject handle (as the entry's
-- subject or an item's), so an access request finds them without reading the chain. Written in
-- the append's transaction; append-only like the entries. Entries stored before this migration
-- are indexed by the migration itself (in Rust: they are protobuf).
CREATE TABLE audit_subjects (
    chain       bigint NOT NULL,
    subject     text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL,
    PRIMARY KEY (chain, subject, seq),
    FOREIGN KEY (chain, seq) REFERENCES audit_entries (chain, seq)
);
CREATE TRIGGER audit_subjects_append_only BEFORE UPDATE OR DELETE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION valv_refuse_update();

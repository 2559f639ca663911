-- Consent events carry a MAC (engine::integrity::ConsentSealer). Events stored before that get
-- theirs once, at the first start of a build that seals them (the vault computes it; the
-- database cannot). So the append-only guard of consent_events allows exactly one change: an
-- event without a MAC gaining one, every other field kept (containment: the new JSON holds every
-- key and value of the old one). Anything else is still refused.
CREATE OR REPLACE FUNCTION valv_consent_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id = OLD.tenant_id AND NEW.subject = OLD.subject
       AND NEW.purpose = OLD.purpose AND NEW.seq = OLD.seq
       AND coalesce(OLD.event->>'mac', '') = '' AND coalesce(NEW.event->>'mac', '') <> ''
       AND OLD.event <@ NEW.event THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'valv: % rows are append-only', TG_TABLE_NAME;
END $$;
DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events;
CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION valv_consent_seal_only();

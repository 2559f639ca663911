//! Authenticated rows: a record that decides who may do what (a principal, a purpose, a domain,
//! a record policy, a tenant's settings, a restriction, a tombstone) carries an HMAC-SHA256 under a key derived from its
//! tenant's key ring (the operators' ring for operators), and so does every consent event
//! ([`ConsentSealer`]). Whoever can write the store but does not hold the root key cannot add a
//! principal, give one a role, loosen a purpose or forge a consent without the row failing its
//! check. Pure: the MAC over a record's canonical form and its check;
//! `app::rows` seals on write and verifies on read.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use valv_kms::SecretKey;

use crate::{
    model::{ConsentEvent, ConsentEventKind, SubjectHandle},
    store::records::{
        AgreementRecord, DomainRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord,
        RestrictionRecord, TenantRecord, TombstoneRecord,
    },
};

/// A record that carries a MAC.
pub trait Authenticated: Serialize + Clone + PartialEq + Send + Sync + 'static {
    /// What it is, for the MAC's domain separation, metrics and audit (`principal`, `purpose`…).
    const KIND: &'static str;
    /// Its name or id within the chain, for logs and audit (never an identifier).
    fn label(&self) -> String;
    /// The stored MAC (hex; empty if none).
    fn mac(&self) -> &str;
    /// Sets the MAC.
    fn set_mac(&mut self, mac: String);
    /// The record as the MAC covers it: everything but the MAC itself, and fields the store may
    /// change on its own.
    fn covered(&self) -> Self {
        let mut c = self.clone();
        c.set_mac(String::new());
        c
    }
}

/// A record that names the key ring that authenticates it: its tenant, or 0 for operators.
/// (Restrictions and tombstones do not; they are sealed and checked in their tenant's ring.)
pub trait Chained: Authenticated {
    /// The key ring's tenant id.
    fn chain(&self) -> u64;
}

fn hmac(key: &SecretKey, kind: &str, record: &impl Serialize) -> Option<Vec<u8>> {
    let body = serde_json::to_vec(record).ok()?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret()).ok()?;
    mac.update(b"valv/v1/row\0");
    mac.update(kind.as_bytes());
    mac.update(b"\0");
    mac.update(&body);
    Some(mac.finalize().into_bytes().to_vec())
}

/// The MAC of `record` under `key` (hex).
pub fn mac<T: Authenticated>(key: &SecretKey, record: &T) -> String {
    hmac(key, T::KIND, &record.covered())
        .map(hex::encode)
        .unwrap_or_default()
}

/// Whether `record` carries a valid MAC under `key` (constant-time comparison).
pub fn verify<T: Authenticated>(key: &SecretKey, record: &T) -> bool {
    let (Ok(stored), Some(expected)) = (
        hex::decode(record.mac()),
        hmac(key, T::KIND, &record.covered()),
    ) else {
        return false;
    };
    stored.len() == expected.len() && bool::from(stored.ct_eq(&expected))
}

/// The accessors every authenticated record has: its kind, its chain, its label and its MAC.
macro_rules! authenticated {
    ($record:ty, $kind:literal, |$r:ident| $chain:expr, $label:ident) => {
        impl Chained for $record {
            fn chain(&self) -> u64 {
                let $r = self;
                $chain
            }
        }
        authenticated!($record, $kind, $label);
    };
    ($record:ty, $kind:literal, $label:ident) => {
        impl Authenticated for $record {
            const KIND: &'static str = $kind;
            fn label(&self) -> String {
                self.$label.clone()
            }
            fn mac(&self) -> &str {
                &self.mac
            }
            fn set_mac(&mut self, mac: String) {
                self.mac = mac;
            }
        }
    };
}

authenticated!(
    PrincipalRecord,
    "principal",
    |r| r.tenant_id.unwrap_or(0),
    id
);
authenticated!(PurposeRecord, "purpose", |r| r.tenant_id, name);
authenticated!(DomainRecord, "domain", |r| r.tenant_id, name);
authenticated!(RecordPolicyRecord, "record-policy", |r| r.tenant_id, name);
authenticated!(AgreementRecord, "sharing-agreement", |r| r.tenant_id, name);

authenticated!(RestrictionRecord, "restriction", subject);

impl Chained for TenantRecord {
    fn chain(&self) -> u64 {
        self.id
    }
}

impl Authenticated for TombstoneRecord {
    const KIND: &'static str = "tombstone";
    fn label(&self) -> String {
        self.subject.clone()
    }
    fn mac(&self) -> &str {
        &self.mac
    }
    fn set_mac(&mut self, mac: String) {
        self.mac = mac;
    }
    fn covered(&self) -> Self {
        // The counts of what was deleted are filled in by the store inside the erasure's unit
        // of work; they decide nothing.
        Self {
            mac: String::new(),
            mappings: 0,
            consent_events: 0,
            evidence: 0,
            ..self.clone()
        }
    }
}

impl Authenticated for TenantRecord {
    const KIND: &'static str = "tenant";
    fn label(&self) -> String {
        self.name.clone()
    }
    fn mac(&self) -> &str {
        &self.mac
    }
    fn set_mac(&mut self, mac: String) {
        self.mac = mac;
    }
    fn covered(&self) -> Self {
        // Shredding is marked by the store inside the unit of work that deletes the key ring;
        // without the ring nothing of the tenant can be verified or used anyway.
        Self {
            mac: String::new(),
            shredded_ms: 0,
            ..self.clone()
        }
    }
}

/// Seals and checks consent events. A history is append-only and its order decides (the
/// latest event is in force), so the MAC covers the event's sequence number, its subject and
/// purpose as well as every field: an event forged, moved to another subject or purpose, or
/// two events swapped, fails. Deleting the latest event (rolling a withdrawal back) leaves
/// every remaining event valid — no row MAC can see a missing row; the audit chain and its
/// witness record the withdrawal.
///
/// Read on the hot path (every consent-checked re-identification), so it is built once per
/// call: the keyed HMAC state with the domain label absorbed is cloned per event, and the
/// event is fed field by field in a fixed binary layout (no serialisation, no allocation).
#[derive(Clone)]
pub struct ConsentSealer {
    keyed: Hmac<Sha256>,
}

impl ConsentSealer {
    /// A sealer under the tenant's row-integrity key.
    pub fn new(key: &SecretKey) -> Option<Self> {
        let mut keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret()).ok()?;
        keyed.update(b"valv/v1/consent-event\0");
        Some(Self { keyed })
    }

    fn digest(&self, subject: &SubjectHandle, purpose: &str, e: &ConsentEvent) -> Vec<u8> {
        // Destructured without `..`: a field added to the event must be added here.
        let ConsentEvent {
            seq,
            kind,
            text_version,
            method,
            at_ms,
            valid_until_ms,
            recorded_by,
            channel,
            receipt_id,
            text_sha256,
            guardian_ref,
            evidence_bytes,
            evidence_media_type,
            subject_domain,
            subject_pseudonym,
            mac: _,
        } = e;
        let mut m = self.keyed.clone();
        let text = |m: &mut Hmac<Sha256>, s: &str| {
            m.update(&u64::try_from(s.len()).unwrap_or(u64::MAX).to_be_bytes());
            m.update(s.as_bytes());
        };
        m.update(subject);
        text(&mut m, purpose);
        m.update(&seq.to_be_bytes());
        m.update(&[match kind {
            ConsentEventKind::Granted => 1,
            ConsentEventKind::Withdrawn => 2,
        }]);
        m.update(&text_version.to_be_bytes());
        m.update(&at_ms.to_be_bytes());
        m.update(&valid_until_ms.to_be_bytes());
        m.update(&evidence_bytes.to_be_bytes());
        for s in [
            method,
            recorded_by,
            channel,
            receipt_id,
            text_sha256,
            guardian_ref,
            evidence_media_type,
            subject_domain,
            subject_pseudonym,
        ] {
            text(&mut m, s);
        }
        m.finalize().into_bytes().to_vec()
    }

    /// Sets `event`'s MAC for its place (`event.seq`) in `subject`'s history of `purpose`.
    pub fn seal(&self, subject: &SubjectHandle, purpose: &str, event: &mut ConsentEvent) {
        event.mac = hex::encode(self.digest(subject, purpose, event));
    }

    /// Whether `event` carries a valid MAC for its place (constant-time comparison).
    pub fn verify(&self, subject: &SubjectHandle, purpose: &str, event: &ConsentEvent) -> bool {
        let Ok(stored) = hex::decode(&event.mac) else {
            return false;
        };
        let expected = self.digest(subject, purpose, event);
        stored.len() == expected.len() && bool::from(stored.ct_eq(&expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::Role;

    fn principal() -> PrincipalRecord {
        PrincipalRecord {
            id: "0123456789abcdef".into(),
            tenant_id: Some(3),
            name: "analyst".into(),
            roles: vec![Role::Tokenizer],
            token_sha256: "aa".into(),
            ..PrincipalRecord::default()
        }
    }

    #[test]
    fn a_sealed_row_verifies_and_any_change_breaks_it() {
        let key = SecretKey::from_bytes([9; 32]);
        let mut p = principal();
        p.mac = mac(&key, &p);
        assert!(verify(&key, &p));
        assert!(
            !verify(&SecretKey::from_bytes([8; 32]), &p),
            "another tenant's key"
        );
        let changes: [&dyn Fn(&mut PrincipalRecord); 5] = [
            &|p| p.roles.push(Role::Reidentifier),
            &|p| p.purposes.push("research".into()),
            &|p| p.token_sha256.push('b'),
            &|p| p.revoked = true,
            &|p| p.tenant_id = Some(4),
        ];
        for change in changes {
            let mut q = p.clone();
            change(&mut q);
            assert!(!verify(&key, &q));
        }
        let mut unsealed = principal();
        assert!(!verify(&key, &unsealed), "no MAC, no use");
        unsealed.mac = "zz".into();
        assert!(!verify(&key, &unsealed));
    }

    #[test]
    fn a_consent_event_is_bound_to_its_place_and_every_field() {
        let sealer = ConsentSealer::new(&SecretKey::from_bytes([9; 32])).unwrap();
        let subject = [7u8; 16];
        let mut e = ConsentEvent {
            seq: 2,
            kind: ConsentEventKind::Granted,
            text_version: 3,
            method: "bankid".into(),
            at_ms: 1_000,
            recorded_by: "desk".into(),
            ..ConsentEvent::default()
        };
        sealer.seal(&subject, "research", &mut e);
        assert!(sealer.verify(&subject, "research", &e));
        assert!(!sealer.verify(&[8; 16], "research", &e), "another subject");
        assert!(!sealer.verify(&subject, "care", &e), "another purpose");
        let other = ConsentSealer::new(&SecretKey::from_bytes([8; 32])).unwrap();
        assert!(!other.verify(&subject, "research", &e), "another tenant");
        let changes: [&dyn Fn(&mut ConsentEvent); 7] = [
            &|e| e.seq = 3,
            &|e| e.kind = ConsentEventKind::Withdrawn,
            &|e| e.text_version = 4,
            &|e| e.valid_until_ms = 5,
            &|e| e.at_ms += 1,
            &|e| e.subject_pseudonym.push('x'),
            &|e| e.mac.clear(),
        ];
        for change in changes {
            let mut f = e.clone();
            change(&mut f);
            assert!(!sealer.verify(&subject, "research", &f));
        }
        // Fields are length-framed: moving a byte from one text to the next is a change.
        let mut a = e.clone();
        a.method = "bankidd".into();
        a.recorded_by = "esk".into();
        let mut b = e.clone();
        b.method = "bankid".into();
        b.recorded_by = "desk".into();
        sealer.seal(&subject, "research", &mut b);
        a.mac = b.mac.clone();
        assert!(!sealer.verify(&subject, "research", &a));
    }

    #[test]
    fn a_tenant_row_survives_its_shredding_mark_only() {
        let key = SecretKey::from_bytes([9; 32]);
        let mut t = TenantRecord {
            id: 3,
            name: "clinic".into(),
            age_of_consent: 16,
            ..TenantRecord::default()
        };
        t.mac = mac(&key, &t);
        let mut shredded = t.clone();
        shredded.shredded_ms = 5;
        assert!(verify(&key, &shredded));
        let mut younger = t;
        younger.age_of_consent = 13;
        assert!(!verify(&key, &younger));
    }
}

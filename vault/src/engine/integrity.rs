//! Authenticated rows: a record that decides who may do what (a principal, a purpose, a domain,
//! a record policy, a tenant's settings) carries an HMAC-SHA256 under a key derived from its
//! tenant's key ring (the operators' ring for operators). Whoever can write the store but does
//! not hold the root key cannot add a principal, give one a role, or loosen a purpose without
//! the row failing its check. Pure: the MAC over a record's canonical form and its check;
//! `app::rows` seals on write and verifies on read.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use valv_kms::SecretKey;

use crate::store::records::{
    DomainRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord, TenantRecord,
};

/// A record that carries a MAC.
pub trait Authenticated: Serialize + Clone + PartialEq + Send + Sync + 'static {
    /// What it is, for the MAC's domain separation, metrics and audit (`principal`, `purpose`…).
    const KIND: &'static str;
    /// The key ring that authenticates it: its tenant, or 0 for operators.
    fn chain(&self) -> u64;
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
        impl Authenticated for $record {
            const KIND: &'static str = $kind;
            fn chain(&self) -> u64 {
                let $r = self;
                $chain
            }
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

impl Authenticated for TenantRecord {
    const KIND: &'static str = "tenant";
    fn chain(&self) -> u64 {
        self.id
    }
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

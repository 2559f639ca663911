//! Consent receipts: the signed JSON document a subject gets for each consent, shared by the
//! server (which issues them) and `valvctl receipt verify` (which checks one offline).
//!
//! The fields follow the parts of ISO/IEC TS 27560 and the Kantara Consent Receipt that apply to
//! one consent: receipt id, controller (tenant), time, collection method and channel, purpose with
//! its legal basis and the consent text version and hash, validity, and a *pseudonymous* subject
//! reference (the tenant-keyed subject handle) — never an identifier.
//!
//! Format: the document is `serde_json`'s pretty form of [`Receipt`]. The signature is Ed25519
//! over the compact JSON of the body (every field but `signature`). Verification parses the
//! document, re-renders it and requires the exact same bytes, then checks the signature: a
//! receipt altered by one byte — even whitespace — fails.

use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format tag of this version.
pub const VERSION: &str = "valv-consent-receipt/1";

/// The purpose as the subject consented to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPurpose {
    /// Purpose name.
    pub name: String,
    /// GDPR Art. 6 basis (`consent`).
    pub legal_basis: String,
    /// GDPR Art. 9: explicit consent for special categories.
    pub explicit_consent: bool,
    /// Consent text version agreed to.
    pub text_version: u32,
    /// SHA-256 of that text, hex.
    pub text_sha256: String,
}

/// Everything a receipt states (what is signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBody {
    /// [`VERSION`].
    pub version: String,
    /// Unique id (32 hex characters).
    pub receipt_id: String,
    /// The controller: the tenant's name.
    pub tenant: String,
    /// When the consent was recorded, ms since the Unix epoch.
    pub consent_timestamp_ms: i64,
    /// Pseudonymous subject reference, `subject:<hex>` (tenant-keyed; no identifier).
    pub subject_ref: String,
    /// For a minor: the guardian who consented, `subject:<hex>`.
    pub guardian_ref: Option<String>,
    /// The purpose.
    pub purpose: ReceiptPurpose,
    /// `bankid`, `sms-otp`, `signature`, `oral`, `paper` or `web`.
    pub collection_method: String,
    /// Where consent was collected.
    pub channel: String,
    /// Valid from (= the timestamp), ms.
    pub valid_from_ms: i64,
    /// Valid until, ms; 0 = until withdrawn.
    pub valid_until_ms: i64,
    /// Whether evidence (e.g. a signed document) is stored, encrypted, with the consent.
    pub evidence_stored: bool,
    /// The principal that recorded the consent.
    pub recorded_by: String,
    /// Position of the consent event in the subject's history for this purpose.
    pub event_seq: u64,
}

/// The signature block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSignature {
    /// `Ed25519`.
    pub alg: String,
    /// [`key_id`] of the signing key.
    pub key_id: String,
    /// Signature, hex.
    pub value: String,
}

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// What is signed.
    #[serde(flatten)]
    pub body: ReceiptBody,
    /// The signature over the body.
    pub signature: ReceiptSignature,
}

/// Id of a public key: the first 8 bytes of its SHA-256, hex.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// The bytes the signature covers.
pub fn signed_bytes(body: &ReceiptBody) -> Vec<u8> {
    // Serialising plain structs of strings and integers cannot fail.
    serde_json::to_vec(body).unwrap_or_default()
}

/// Renders a signed receipt as issued.
pub fn render(receipt: &Receipt) -> String {
    serde_json::to_string_pretty(receipt).unwrap_or_default()
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptProblem {
    /// Not a receipt of this format.
    Malformed(String),
    /// Bytes differ from the issued rendering (something was edited).
    Altered,
    /// Signed by another key.
    WrongKey,
    /// The signature does not match the body.
    BadSignature,
}

impl std::fmt::Display for ReceiptProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "not a consent receipt: {why}"),
            Self::Altered => f.write_str("the receipt was altered after it was issued"),
            Self::WrongKey => f.write_str("the receipt was signed by another key"),
            Self::BadSignature => f.write_str("the signature does not match the receipt"),
        }
    }
}

/// Checks a receipt's bytes and signature against `public_key`; returns it when valid.
pub fn verify(text: &str, public_key: &[u8]) -> Result<Receipt, ReceiptProblem> {
    let receipt: Receipt =
        serde_json::from_str(text).map_err(|e| ReceiptProblem::Malformed(e.to_string()))?;
    if receipt.body.version != VERSION || receipt.signature.alg != "Ed25519" {
        return Err(ReceiptProblem::Malformed(
            "unknown version or algorithm".into(),
        ));
    }
    if render(&receipt) != text.trim_end_matches('\n') {
        return Err(ReceiptProblem::Altered);
    }
    if receipt.signature.key_id != key_id(public_key) {
        return Err(ReceiptProblem::WrongKey);
    }
    let signature =
        hex::decode(&receipt.signature.value).map_err(|_| ReceiptProblem::BadSignature)?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&signed_bytes(&receipt.body), &signature)
        .map_err(|_| ReceiptProblem::BadSignature)?;
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    fn body() -> ReceiptBody {
        ReceiptBody {
            version: VERSION.into(),
            receipt_id: "00112233445566778899aabbccddeeff".into(),
            tenant: "acme".into(),
            consent_timestamp_ms: 1,
            subject_ref: "subject:abcd".into(),
            guardian_ref: None,
            purpose: ReceiptPurpose {
                name: "research".into(),
                legal_basis: "consent".into(),
                explicit_consent: true,
                text_version: 2,
                text_sha256: "ff".into(),
            },
            collection_method: "bankid".into(),
            channel: "portal".into(),
            valid_from_ms: 1,
            valid_until_ms: 0,
            evidence_stored: true,
            recorded_by: "p".into(),
            event_seq: 1,
        }
    }

    #[test]
    fn a_receipt_altered_by_any_one_byte_fails() {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap_or_else(|_| panic!("key"));
        let public = pair.public_key().as_ref().to_vec();
        let body = body();
        let receipt = Receipt {
            signature: ReceiptSignature {
                alg: "Ed25519".into(),
                key_id: key_id(&public),
                value: hex::encode(pair.sign(&signed_bytes(&body))),
            },
            body,
        };
        let text = render(&receipt);
        assert_eq!(verify(&text, &public).as_ref(), Ok(&receipt));
        assert!(verify(&format!("{text}\n"), &public).is_ok());
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let Ok(altered) = String::from_utf8(bytes) else {
                continue;
            };
            assert!(
                verify(&altered, &public).is_err(),
                "byte {i} altered but accepted"
            );
        }
        let other = Ed25519KeyPair::from_seed_unchecked(&[8; 32]).unwrap_or_else(|_| panic!("key"));
        assert_eq!(
            verify(&text, other.public_key().as_ref()),
            Err(ReceiptProblem::WrongKey)
        );
    }
}

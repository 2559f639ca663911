//! Consent receipts: built from the stored consent event, signed with the tenant's receipt key
//! (Ed25519, derived from its signing secret), and checked again online. The format and the
//! offline check live in `valv_proto::receipt`, shared with `valvctl receipt verify`.

use std::sync::Arc;

use valv_proto::receipt::{self, Receipt, ReceiptBody, ReceiptPurpose, ReceiptSignature};

use crate::{
    app::App,
    authz::Caller,
    engine::{
        consent::{ConsentEvent, ConsentStatus, status},
        subject::SubjectHandle,
    },
    error::{VaultError, VaultResult},
    store::records::{PurposeRecord, Role},
};

/// A subject handle as receipts and exports show it.
pub fn subject_ref(handle: &SubjectHandle) -> String {
    format!("subject:{}", hex::encode(handle))
}

fn parse_subject_ref(text: &str) -> Option<SubjectHandle> {
    let bytes = hex::decode(text.strip_prefix("subject:")?).ok()?;
    bytes.try_into().ok()
}

/// Signs the receipt of a grant that was just stored.
pub async fn issue(
    app: &App,
    tenant_id: u64,
    purpose: &PurposeRecord,
    subject: &SubjectHandle,
    event: &ConsentEvent,
) -> VaultResult<String> {
    let tenant = app
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| VaultError::Internal("tenant record missing".into()))?;
    let body = ReceiptBody {
        version: receipt::VERSION.into(),
        receipt_id: event.receipt_id.clone(),
        tenant: tenant.name,
        consent_timestamp_ms: event.at_ms,
        subject_ref: subject_ref(subject),
        guardian_ref: (!event.guardian_ref.is_empty()).then(|| event.guardian_ref.clone()),
        purpose: ReceiptPurpose {
            name: purpose.name.clone(),
            legal_basis: "consent".into(),
            explicit_consent: purpose.explicit_consent,
            text_version: event.text_version,
            text_sha256: event.text_sha256.clone(),
        },
        collection_method: event.method.clone(),
        channel: event.channel.clone(),
        valid_from_ms: event.at_ms,
        valid_until_ms: event.valid_until_ms,
        evidence_stored: event.evidence_bytes > 0,
        recorded_by: event.recorded_by.clone(),
        event_seq: event.seq,
    };
    let key = app.keys.tenant_keys(tenant_id).await?.receipt_signing_key();
    let signature = ReceiptSignature {
        alg: "Ed25519".into(),
        key_id: receipt::key_id(&key.public_key()),
        value: hex::encode(key.sign(&receipt::signed_bytes(&body))),
    };
    Ok(receipt::render(&Receipt { body, signature }))
}

/// The tenant's name and receipt public key (consent-manager, auditor).
pub async fn public_key(app: &Arc<App>, caller: &Caller) -> VaultResult<(String, [u8; 32])> {
    let tenant_id = reader(caller)?;
    let tenant = app
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| VaultError::Internal("tenant record missing".into()))?;
    let key = app.keys.tenant_keys(tenant_id).await?.receipt_signing_key();
    Ok((tenant.name, key.public_key()))
}

fn reader(caller: &Caller) -> VaultResult<u64> {
    caller
        .tenant_with(Role::ConsentManager)
        .or_else(|_| caller.tenant_with(Role::Auditor))
}

/// The outcome of an online check.
#[derive(Debug)]
pub struct Verification {
    /// Signature, bytes and stored event all agree.
    pub valid: bool,
    /// What is wrong otherwise.
    pub problem: String,
    /// The receipt's id, when it parsed.
    pub receipt_id: String,
    /// The subject's consent for the purpose now (valid receipts only).
    pub status: Option<ConsentStatus>,
}

/// Checks a receipt against the tenant's key and the consent the vault holds.
pub async fn verify(app: &Arc<App>, caller: &Caller, text: &str) -> VaultResult<Verification> {
    let tenant_id = reader(caller)?;
    if text.len() > 64 * 1024 {
        return Err(VaultError::invalid("receipt", "at most 65536 bytes"));
    }
    let (_, key) = public_key(app, caller).await?;
    let invalid = |problem: String, receipt_id: String| Verification {
        valid: false,
        problem,
        receipt_id,
        status: None,
    };
    let parsed = match receipt::verify(text, &key) {
        Ok(r) => r,
        Err(problem) => return Ok(invalid(problem.to_string(), String::new())),
    };
    let body = parsed.body;
    let Some(subject) = parse_subject_ref(&body.subject_ref) else {
        return Ok(invalid(
            "malformed subject reference".into(),
            body.receipt_id,
        ));
    };
    let history = app
        .consent_history(tenant_id, subject, &body.purpose.name)
        .await?;
    let held = history.iter().find(|e| e.seq == body.event_seq);
    let matches = held.is_some_and(|e| {
        e.receipt_id == body.receipt_id
            && e.at_ms == body.consent_timestamp_ms
            && e.text_version == body.purpose.text_version
            && e.text_sha256 == body.purpose.text_sha256
            && e.valid_until_ms == body.valid_until_ms
            && e.method == body.collection_method
    });
    if !matches {
        return Ok(invalid(
            "signed by this tenant, but the vault holds no such consent (erased?)".into(),
            body.receipt_id,
        ));
    }
    Ok(Verification {
        valid: true,
        problem: String::new(),
        receipt_id: body.receipt_id,
        status: Some(status(history.last(), app.now_ms())),
    })
}

//! Conversions between wire messages and the vault's own types.

use valv_proto::v1 as pb;

use crate::{
    engine::{
        consent::{ConsentEvent, ConsentEventKind, ConsentStatus, Verdict},
        identifier::IdentifierKind,
        record::FieldError,
        scheme::Scheme,
    },
    error::{VaultError, VaultResult},
    store::records::{
        DomainRecord, LegalBasis, PrincipalRecord, PurposeRecord, RecordPolicyRecord, Role,
        TenantRecord,
    },
};

/// Wire kind → kind (`None` for unspecified).
pub fn kind(v: i32) -> VaultResult<Option<IdentifierKind>> {
    use pb::IdentifierKind as K;
    Ok(
        match K::try_from(v).map_err(|_| VaultError::invalid("kind", "unknown identifier kind"))? {
            K::Unspecified => None,
            K::Opaque => Some(IdentifierKind::Opaque),
            K::Email => Some(IdentifierKind::Email),
            K::Phone => Some(IdentifierKind::Phone),
            K::SePersonnummer => Some(IdentifierKind::SePersonnummer),
            K::NoFodselsnummer => Some(IdentifierKind::NoFodselsnummer),
            K::DkCpr => Some(IdentifierKind::DkCpr),
            K::FiHetu => Some(IdentifierKind::FiHetu),
        },
    )
}

fn kind_out(k: IdentifierKind) -> pb::IdentifierKind {
    use pb::IdentifierKind as K;
    match k {
        IdentifierKind::Opaque => K::Opaque,
        IdentifierKind::Email => K::Email,
        IdentifierKind::Phone => K::Phone,
        IdentifierKind::SePersonnummer => K::SePersonnummer,
        IdentifierKind::NoFodselsnummer => K::NoFodselsnummer,
        IdentifierKind::DkCpr => K::DkCpr,
        IdentifierKind::FiHetu => K::FiHetu,
    }
}

/// Wire scheme → scheme.
pub fn scheme(v: i32) -> VaultResult<Option<Scheme>> {
    use pb::Scheme as S;
    Ok(
        match S::try_from(v).map_err(|_| VaultError::invalid("scheme", "unknown scheme"))? {
            S::Unspecified => None,
            S::Keyed => Some(Scheme::Keyed),
            S::Random => Some(Scheme::Random),
            S::FormatPreserving => Some(Scheme::FormatPreserving),
        },
    )
}

fn scheme_out(s: Scheme) -> pb::Scheme {
    match s {
        Scheme::Keyed => pb::Scheme::Keyed,
        Scheme::Random => pb::Scheme::Random,
        Scheme::FormatPreserving => pb::Scheme::FormatPreserving,
    }
}

/// Wire legal basis → legal basis.
pub fn legal_basis(v: i32) -> VaultResult<Option<LegalBasis>> {
    use pb::LegalBasis as L;
    Ok(
        match L::try_from(v)
            .map_err(|_| VaultError::invalid("legal_basis", "unknown legal basis"))?
        {
            L::Unspecified => None,
            L::Consent => Some(LegalBasis::Consent),
            L::Contract => Some(LegalBasis::Contract),
            L::LegalObligation => Some(LegalBasis::LegalObligation),
            L::VitalInterests => Some(LegalBasis::VitalInterests),
            L::PublicTask => Some(LegalBasis::PublicTask),
            L::LegitimateInterests => Some(LegalBasis::LegitimateInterests),
        },
    )
}

fn legal_basis_out(l: LegalBasis) -> pb::LegalBasis {
    use pb::LegalBasis as L;
    match l {
        LegalBasis::Consent => L::Consent,
        LegalBasis::Contract => L::Contract,
        LegalBasis::LegalObligation => L::LegalObligation,
        LegalBasis::VitalInterests => L::VitalInterests,
        LegalBasis::PublicTask => L::PublicTask,
        LegalBasis::LegitimateInterests => L::LegitimateInterests,
    }
}

/// Wire roles → roles.
pub fn roles(v: &[i32]) -> VaultResult<Vec<Role>> {
    use pb::Role as R;
    v.iter()
        .enumerate()
        .map(|(i, r)| match R::try_from(*r) {
            Ok(R::Operator) => Ok(Role::Operator),
            Ok(R::TenantAdmin) => Ok(Role::TenantAdmin),
            Ok(R::Tokenizer) => Ok(Role::Tokenizer),
            Ok(R::Reidentifier) => Ok(Role::Reidentifier),
            Ok(R::ConsentManager) => Ok(Role::ConsentManager),
            Ok(R::SubjectOfficer) => Ok(Role::SubjectOfficer),
            Ok(R::KeyOfficer) => Ok(Role::KeyOfficer),
            Ok(R::Auditor) => Ok(Role::Auditor),
            Ok(R::Translator) => Ok(Role::Translator),
            _ => Err(VaultError::invalid(
                format!("roles[{i}]"),
                "unknown or unspecified role",
            )),
        })
        .collect()
}

/// Role → wire.
pub fn role_out(r: Role) -> pb::Role {
    use pb::Role as R;
    match r {
        Role::Operator => R::Operator,
        Role::TenantAdmin => R::TenantAdmin,
        Role::Tokenizer => R::Tokenizer,
        Role::Reidentifier => R::Reidentifier,
        Role::ConsentManager => R::ConsentManager,
        Role::SubjectOfficer => R::SubjectOfficer,
        Role::KeyOfficer => R::KeyOfficer,
        Role::Auditor => R::Auditor,
        Role::Translator => R::Translator,
    }
}

/// Wire consent method → its name.
pub fn method(v: i32) -> VaultResult<String> {
    use pb::ConsentMethod as M;
    Ok(match M::try_from(v).map_err(|_| VaultError::invalid("method", "unknown consent method"))? {
        M::Unspecified => return Err(VaultError::invalid("method", "must be set")),
        M::Bankid => "bankid",
        M::SmsOtp => "sms-otp",
        M::Signature => "signature",
        M::Oral => "oral",
        M::Paper => "paper",
        M::Web => "web",
    }
    .to_owned())
}

fn method_out(m: &str) -> pb::ConsentMethod {
    use pb::ConsentMethod as M;
    match m {
        "bankid" => M::Bankid,
        "sms-otp" => M::SmsOtp,
        "signature" => M::Signature,
        "oral" => M::Oral,
        "paper" => M::Paper,
        "web" => M::Web,
        _ => M::Unspecified,
    }
}

/// Record policy → wire policy.
pub fn record_policy(p: &RecordPolicyRecord) -> pb::RecordPolicy {
    pb::RecordPolicy {
        name: p.name.clone(),
        fields: p
            .fields
            .iter()
            .map(|f| pb::RecordField {
                pointer: f.pointer.clone(),
                domain: f.domain.clone(),
                required: f.required,
            })
            .collect(),
        drop: p.drop.clone(),
        updated_unix_ms: p.updated_ms,
    }
}

/// A refused record's errors, each field named `records[i]` + its pointer.
pub fn record_error(index: usize, errors: Vec<FieldError>) -> pb::RecordError {
    pb::RecordError {
        errors: errors
            .into_iter()
            .map(|e| pb::ItemError {
                field: format!("records[{index}]{}", e.pointer),
                rule: e.rule,
            })
            .collect(),
    }
}

/// Verdict → wire verdict.
pub fn verdict(v: Verdict) -> pb::Verdict {
    match v {
        Verdict::Released => pb::Verdict::Released,
        Verdict::NoConsent => pb::Verdict::NoConsent,
        Verdict::ConsentWithdrawn => pb::Verdict::ConsentWithdrawn,
        Verdict::ConsentExpired => pb::Verdict::ConsentExpired,
        Verdict::NotFound => pb::Verdict::NotFound,
        Verdict::Denied => pb::Verdict::Denied,
        Verdict::KeyDestroyed => pb::Verdict::KeyDestroyed,
        Verdict::Restricted => pb::Verdict::Restricted,
    }
}

/// Consent status → wire status.
pub fn consent_status(s: ConsentStatus) -> pb::ConsentStatus {
    match s {
        ConsentStatus::None => pb::ConsentStatus::None,
        ConsentStatus::Granted => pb::ConsentStatus::Granted,
        ConsentStatus::Withdrawn => pb::ConsentStatus::Withdrawn,
        ConsentStatus::Expired => pb::ConsentStatus::Expired,
    }
}

/// Tenant → wire.
pub fn tenant(t: &TenantRecord) -> pb::Tenant {
    pb::Tenant {
        name: t.name.clone(),
        created_unix_ms: t.created_ms,
    }
}

/// Domain → wire.
pub fn domain(d: &DomainRecord) -> pb::Domain {
    pb::Domain {
        name: d.name.clone(),
        kind: kind_out(d.kind).into(),
        scheme: scheme_out(d.scheme).into(),
        reversible: d.reversible,
        retention_seconds: d.retention_seconds,
        epoch: d.epoch,
        created_unix_ms: d.created_ms,
        retention_since_last_use: d.retention_since_last_use,
        consent_purpose: d.consent_purpose.clone(),
    }
}

/// Purpose → wire.
pub fn purpose(p: &PurposeRecord) -> pb::Purpose {
    pb::Purpose {
        name: p.name.clone(),
        legal_basis: legal_basis_out(p.legal_basis).into(),
        min_text_version: p.min_text_version,
        default_consent_validity_seconds: p.default_consent_validity_seconds,
        description: p.description.clone(),
        created_unix_ms: p.created_ms,
        updated_unix_ms: p.updated_ms,
        explicit_consent: p.explicit_consent,
        domains: p.domains.clone(),
        erase_on_withdrawal: p.erase_on_withdrawal,
        evidence_retention_seconds: p.evidence_retention_seconds,
        text_versions: p.text_versions,
    }
}

/// Consent text → wire.
pub fn consent_text(t: &crate::store::records::ConsentTextRecord) -> pb::ConsentText {
    pb::ConsentText {
        purpose: t.purpose.clone(),
        version: t.version,
        text: t.text.clone(),
        sha256: t.sha256.clone(),
        added_unix_ms: t.added_ms,
    }
}

/// Principal → wire (never the token hash).
pub fn principal(p: &PrincipalRecord) -> pb::Principal {
    pb::Principal {
        id: p.id.clone(),
        name: p.name.clone(),
        roles: p.roles.iter().map(|r| role_out(*r).into()).collect(),
        purposes: p.purposes.clone(),
        revoked: p.revoked,
        created_unix_ms: p.created_ms,
        client_cert_sha256: p.client_cert_sha256.clone().unwrap_or_default(),
        created_by: p.created_by.clone(),
        enrolled_unix_ms: p.enrolled_ms,
        enrolment_expires_unix_ms: p
            .enrolment
            .as_ref()
            .filter(|e| e.claimed_ms == 0)
            .map_or(0, |e| e.expires_ms),
    }
}

/// Changes → wire.
pub fn changes(changes: &[(String, String, String)]) -> Vec<pb::AuditChange> {
    changes
        .iter()
        .map(|(field, before, after)| pb::AuditChange {
            field: field.clone(),
            before: before.clone(),
            after: after.clone(),
        })
        .collect()
}

/// An enrolment → wire (its code declassified on purpose: it goes to its creator, once).
pub fn enrolment(e: &crate::ops::enrolment::Enrolment) -> pb::Enrolment {
    pb::Enrolment {
        principal: Some(principal(&e.principal)),
        code: String::from_utf8_lossy(e.code.expose_secret()).into_owned(),
        expires_unix_ms: e.expires_ms,
    }
}

/// Consent event → wire.
pub fn consent_event(purpose: &str, e: &ConsentEvent) -> pb::ConsentEvent {
    pb::ConsentEvent {
        seq: e.seq,
        purpose: purpose.to_owned(),
        kind: match e.kind {
            ConsentEventKind::Granted => pb::ConsentEventKind::Granted,
            ConsentEventKind::Withdrawn => pb::ConsentEventKind::Withdrawn,
        }
        .into(),
        text_version: e.text_version,
        method: method_out(&e.method).into(),
        at_unix_ms: e.at_ms,
        valid_until_unix_ms: e.valid_until_ms,
        recorded_by: e.recorded_by.clone(),
        channel: e.channel.clone(),
        receipt_id: e.receipt_id.clone(),
        text_sha256: e.text_sha256.clone(),
        guardian_ref: e.guardian_ref.clone(),
        evidence_bytes: e.evidence_bytes,
        evidence_media_type: e.evidence_media_type.clone(),
        subject_domain: e.subject_domain.clone(),
        subject_pseudonym: e.subject_pseudonym.clone(),
    }
}

/// Sharing agreement → wire.
pub fn agreement(a: &crate::store::records::AgreementRecord) -> pb::SharingAgreement {
    pb::SharingAgreement {
        name: a.name.clone(),
        from_domain: a.from_domain.clone(),
        to_domain: a.to_domain.clone(),
        purpose: a.purpose.clone(),
        recipient: a.recipient.clone(),
        legal_basis: a.legal_basis.clone(),
        valid_until_unix_ms: a.valid_until_ms,
        created_unix_ms: a.created_ms,
        created_by: a.created_by.clone(),
        approved_by: a.approved_by.clone(),
    }
}

/// Wire → sharing agreement (the vault sets who and when).
pub fn agreement_in(a: pb::SharingAgreement) -> crate::store::records::AgreementRecord {
    crate::store::records::AgreementRecord {
        name: a.name,
        from_domain: a.from_domain,
        to_domain: a.to_domain,
        purpose: a.purpose,
        recipient: a.recipient,
        legal_basis: a.legal_basis,
        valid_until_ms: a.valid_until_unix_ms,
        ..Default::default()
    }
}

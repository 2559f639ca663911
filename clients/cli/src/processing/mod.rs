//! `valvctl tenant record-of-processing`: the tenant's record of processing activities (GDPR
//! Art. 30) as the vault knows it, for a data protection officer to attach to the
//! organisation's register — as JSON, Markdown or a self-contained HTML page.
//!
//! The vault gathers the facts (`GetRecordOfProcessing`); this module turns them into a
//! [`Document`] in words (pure, [`document`]), which `layout` arranges once and `markdown` and
//! `html` render. JSON is the
//! document itself, so all three say the same.

mod html;
mod layout;
mod markdown;

use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;
use valv_client::{Valv, pb};

use crate::output::{enum_word, time_text};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The document as JSON.
    Json,
    /// Markdown, for a wiki or a register kept as text.
    Md,
    /// One self-contained HTML page (no scripts, no external requests), to print or attach.
    Html,
}

/// Runs the command.
pub async fn run(valv: &Valv, json: bool, format: Format) -> anyhow::Result<ExitCode> {
    let record = valv
        .admin()
        .get_record_of_processing(pb::GetRecordOfProcessingRequest {})
        .await?
        .into_inner();
    let doc = document(&record);
    let format = if json { Format::Json } else { format };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
        Format::Md => print!("{}", markdown::render(&layout::blocks(&doc))),
        Format::Html => print!("{}", html::render(&layout::blocks(&doc))),
    }
    Ok(ExitCode::SUCCESS)
}

/// The record in words.
#[derive(Debug, Serialize)]
pub struct Document {
    pub tenant: String,
    pub tenant_created: String,
    pub generated: String,
    pub purposes: Vec<PurposeDoc>,
    pub domains: Vec<DomainDoc>,
    pub record_policies: Vec<PolicyDoc>,
    pub recipients: Vec<RecipientDoc>,
    pub keys: KeysDoc,
    pub measures: Vec<MeasureDoc>,
    pub settings: SettingsDoc,
    pub principals: Vec<RoleDoc>,
    pub audit: AuditDoc,
    /// What Art. 30(1) asks for that the vault cannot know.
    pub to_complete: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RecipientDoc {
    pub agreement: String,
    pub recipient: String,
    pub purpose: String,
    pub legal_basis: String,
    pub from_domain: String,
    pub to_domain: String,
    pub valid_until: String,
}

#[derive(Debug, Serialize)]
pub struct PurposeDoc {
    pub name: String,
    pub description: String,
    pub legal_basis: String,
    /// Special categories (Art. 9): explicit consent.
    pub special_categories: bool,
    pub domains: Vec<String>,
    pub consent: Option<ConsentDoc>,
    pub reidentifiers: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ConsentDoc {
    pub minimum_text_version: u32,
    pub text: Option<TextDoc>,
    pub validity: String,
    pub evidence_kept: String,
    pub erase_on_withdrawal: bool,
    pub granted: u64,
    pub withdrawn: u64,
    pub expired: u64,
}

#[derive(Debug, Serialize)]
pub struct TextDoc {
    pub version: u32,
    pub sha256: String,
    pub added: String,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct DomainDoc {
    pub name: String,
    pub identifiers: String,
    pub scheme: String,
    pub reversible: bool,
    pub retention: String,
    pub epoch: u32,
    pub mappings: u64,
    pub purposes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PolicyDoc {
    pub name: String,
    pub fields: Vec<FieldDoc>,
    pub dropped: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct FieldDoc {
    pub pointer: String,
    pub domain: String,
    pub required: bool,
}

#[derive(Debug, Serialize)]
pub struct KeysDoc {
    pub root_provider: String,
    pub root_fit_for_production: bool,
    pub unseal: Option<String>,
    pub versions: Vec<VersionDoc>,
}

#[derive(Debug, Serialize)]
pub struct VersionDoc {
    pub version: u32,
    pub state: String,
    pub created: String,
    pub records: u64,
    pub encryptions: u64,
}

#[derive(Debug, Serialize)]
pub struct MeasureDoc {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct SettingsDoc {
    pub age_of_consent: u32,
    pub new_identifiers_per_hour: String,
    pub requests_per_second: String,
}

#[derive(Debug, Serialize)]
pub struct RoleDoc {
    pub role: String,
    pub principals: u64,
}

#[derive(Debug, Serialize)]
pub struct AuditDoc {
    pub entries: u64,
    pub checkpoints: u64,
    pub last_checkpoint: String,
}

/// A period for people: whole days, hours or minutes where it divides, else seconds.
pub(crate) fn period(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn legal_basis(b: pb::LegalBasis) -> String {
    match b {
        pb::LegalBasis::Consent => "consent (Art. 6(1)(a))",
        pb::LegalBasis::Contract => "contract (Art. 6(1)(b))",
        pb::LegalBasis::LegalObligation => "legal obligation (Art. 6(1)(c))",
        pb::LegalBasis::VitalInterests => "vital interests (Art. 6(1)(d))",
        pb::LegalBasis::PublicTask => "public task (Art. 6(1)(e))",
        pb::LegalBasis::LegitimateInterests => "legitimate interests (Art. 6(1)(f))",
        pb::LegalBasis::Unspecified => "not given",
    }
    .to_owned()
}

fn kind(k: pb::IdentifierKind) -> String {
    match k {
        pb::IdentifierKind::Opaque => "opaque identifiers (as given)",
        pb::IdentifierKind::Email => "e-mail addresses",
        pb::IdentifierKind::Phone => "telephone numbers (E.164)",
        pb::IdentifierKind::SePersonnummer => "Swedish personnummer and samordningsnummer",
        pb::IdentifierKind::NoFodselsnummer => "Norwegian fødselsnummer and D-numbers",
        pb::IdentifierKind::DkCpr => "Danish CPR numbers",
        pb::IdentifierKind::FiHetu => "Finnish personal identity codes (HETU)",
        pb::IdentifierKind::Unspecified => "not given",
    }
    .to_owned()
}

fn retention(d: &pb::Domain) -> String {
    let mut text = match (d.retention_seconds, d.retention_since_last_use) {
        (0, _) => "until erased".to_owned(),
        (s, false) => format!("{} after creation", period(s)),
        (s, true) => format!("{} after last use", period(s)),
    };
    if !d.consent_purpose.is_empty() {
        text.push_str(&format!(
            ", and no longer than the consent for {}",
            d.consent_purpose
        ));
    }
    text
}

fn quota(n: u64) -> String {
    match n {
        0 => "no limit".to_owned(),
        n => n.to_string(),
    }
}

fn purpose_doc(p: &pb::ProcessingPurpose) -> PurposeDoc {
    let purpose = p.purpose.clone().unwrap_or_default();
    let consent = (purpose.legal_basis() == pb::LegalBasis::Consent).then(|| ConsentDoc {
        minimum_text_version: purpose.min_text_version,
        text: p.current_text.as_ref().map(|t| TextDoc {
            version: t.version,
            sha256: t.sha256.clone(),
            added: time_text(t.added_unix_ms),
            text: t.text.clone(),
        }),
        validity: match purpose.default_consent_validity_seconds {
            0 => "no end unless given at the grant".to_owned(),
            s => period(s),
        },
        evidence_kept: match purpose.evidence_retention_seconds {
            0 => "until the subject is erased".to_owned(),
            s => format!("{} after the consent ends", period(s)),
        },
        erase_on_withdrawal: purpose.erase_on_withdrawal,
        granted: p.consents_granted,
        withdrawn: p.consents_withdrawn,
        expired: p.consents_expired,
    });
    PurposeDoc {
        legal_basis: legal_basis(purpose.legal_basis()),
        special_categories: purpose.explicit_consent,
        domains: if purpose.domains.is_empty() {
            vec!["every domain".to_owned()]
        } else {
            purpose.domains.clone()
        },
        consent,
        reidentifiers: p.reidentifiers.clone(),
        description: purpose.description,
        name: purpose.name,
    }
}

/// The record in words (pure).
pub fn document(r: &pb::RecordOfProcessing) -> Document {
    let tenant = r.tenant.clone().unwrap_or_default();
    let keys = r.keys.clone().unwrap_or_default();
    let settings = r.settings.unwrap_or_default();
    let audit = r.audit.unwrap_or_default();
    Document {
        tenant: tenant.name,
        tenant_created: time_text(tenant.created_unix_ms),
        generated: time_text(r.generated_unix_ms),
        purposes: r.purposes.iter().map(purpose_doc).collect(),
        domains: r
            .domains
            .iter()
            .map(|d| {
                let domain = d.domain.clone().unwrap_or_default();
                DomainDoc {
                    identifiers: kind(domain.kind()),
                    scheme: enum_word(domain.scheme().as_str_name(), "SCHEME_"),
                    retention: retention(&domain),
                    reversible: domain.reversible,
                    epoch: domain.epoch,
                    mappings: d.mappings,
                    purposes: d.purposes.clone(),
                    name: domain.name,
                }
            })
            .collect(),
        recipients: r
            .sharing_agreements
            .iter()
            .map(|a| RecipientDoc {
                agreement: a.name.clone(),
                recipient: a.recipient.clone(),
                purpose: a.purpose.clone(),
                legal_basis: a.legal_basis.clone(),
                from_domain: a.from_domain.clone(),
                to_domain: a.to_domain.clone(),
                valid_until: time_text(a.valid_until_unix_ms),
            })
            .collect(),
        record_policies: r
            .record_policies
            .iter()
            .map(|p| PolicyDoc {
                name: p.name.clone(),
                fields: p
                    .fields
                    .iter()
                    .map(|f| FieldDoc {
                        pointer: f.pointer.clone(),
                        domain: f.domain.clone(),
                        required: f.required,
                    })
                    .collect(),
                dropped: p.drop.clone(),
            })
            .collect(),
        keys: KeysDoc {
            unseal: (keys.unseal_shares > 0)
                .then(|| format!("{} of {} shares", keys.unseal_threshold, keys.unseal_shares)),
            root_provider: keys.root_provider,
            root_fit_for_production: keys.root_fit_for_production,
            versions: keys
                .tenant_key_versions
                .iter()
                .map(|v| VersionDoc {
                    version: v.version,
                    state: enum_word(v.state().as_str_name(), "KEY_VERSION_STATE_"),
                    created: time_text(v.created_unix_ms),
                    records: v.records,
                    encryptions: v.encryptions,
                })
                .collect(),
        },
        measures: r
            .measures
            .iter()
            .map(|m| MeasureDoc {
                name: m.name.clone(),
                description: m.description.clone(),
            })
            .collect(),
        settings: SettingsDoc {
            age_of_consent: settings.age_of_consent,
            new_identifiers_per_hour: quota(settings.new_identifiers_per_hour),
            requests_per_second: quota(settings.requests_per_second),
        },
        principals: r
            .principals
            .iter()
            .map(|c| RoleDoc {
                role: enum_word(c.role().as_str_name(), "ROLE_"),
                principals: c.principals,
            })
            .collect(),
        audit: AuditDoc {
            entries: audit.entries,
            checkpoints: audit.checkpoints,
            last_checkpoint: time_text(audit.last_checkpoint_unix_ms),
        },
        to_complete: [
            "the name and contact details of the controller, any joint controller, the \
             representative and the data protection officer (Art. 30(1)(a))",
            "the categories of data subjects, and the categories of personal data beyond the \
             identifiers listed here (Art. 30(1)(c))",
            "recipients other than those of the sharing agreements above (which receive \
             pseudonyms only), and transfers to third countries, with their safeguards \
             (Art. 30(1)(d), (e))",
            "the processing done by the systems that hold the pseudonyms",
        ]
        .map(str::to_owned)
        .to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_in_the_largest_whole_unit() {
        assert_eq!(period(86_400), "1 day");
        assert_eq!(period(90 * 86_400), "90 days");
        assert_eq!(period(7_200), "2 hours");
        assert_eq!(period(90), "90 seconds");
        assert_eq!(period(120), "2 minutes");
    }
}

//! `tenant`, `domain`, `purpose`, `principal`: setting a tenant up (operator, tenant-admin).

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use valv_client::{Valv, pb};

use crate::{consent, output::print};

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Show or change the caller's tenant settings (tenant-admin).
    Settings {
        /// Below this age (from the birth date in personnummer, fødselsnummer, CPR, HETU) a
        /// consent needs a guardian.
        #[arg(long)]
        age_of_consent: Option<u32>,
    },
    /// Create a tenant; prints its first tenant-admin token (shown once).
    Create {
        /// Tenant name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Opaque,
    Email,
    Phone,
    SePersonnummer,
    NoFodselsnummer,
    DkCpr,
    FiHetu,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    Keyed,
    Random,
    FormatPreserving,
}

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Create a domain.
    Create {
        /// Domain name, e.g. patients.research.
        name: String,
        /// Identifier kind.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Pseudonym scheme.
        #[arg(long, value_enum, default_value = "keyed")]
        scheme: SchemeArg,
        /// Keep identifiers (encrypted) so they can be re-identified.
        #[arg(long)]
        reversible: bool,
        /// Mappings expire after this many seconds (0 = never).
        #[arg(long, default_value_t = 0)]
        retention_seconds: u64,
        /// Count the retention from a mapping's last use instead of its creation.
        #[arg(long)]
        since_last_use: bool,
        /// A mapping lives no longer than the subject's consent for this purpose.
        #[arg(long, default_value = "")]
        consent_purpose: String,
    },
    /// List domains.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Basis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterests,
}

#[derive(Debug, Subcommand)]
pub enum PurposeCmd {
    /// Define (create or update) a purpose.
    Define {
        /// Purpose name, e.g. research-export.
        name: String,
        /// GDPR Art. 6 legal basis.
        #[arg(long, value_enum)]
        legal_basis: Basis,
        /// Consents to older text versions do not count.
        #[arg(long, default_value_t = 1)]
        min_text_version: u32,
        /// Validity of consents granted without an end, in days (0 = no end).
        #[arg(long, default_value_t = 0)]
        default_validity_days: u64,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// GDPR Art. 9: special categories, explicit consent (receipts say so).
        #[arg(long)]
        explicit_consent: bool,
        /// A domain the purpose covers (repeat; none = every domain).
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Withdrawing consent erases the subject's mappings in the covered domains.
        #[arg(long)]
        erase_on_withdrawal: bool,
        /// Keep consent evidence this many days after withdrawal or expiry (0 = until erasure).
        #[arg(long, default_value_t = 0)]
        evidence_retention_days: u64,
    },
    /// List purposes.
    List,
    /// Consent texts of a purpose (versioned; grants name the version agreed to).
    #[command(subcommand)]
    Text(consent::TextCmd),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    TenantAdmin,
    Tokenizer,
    Reidentifier,
    ConsentManager,
    SubjectOfficer,
    KeyOfficer,
    Auditor,
    /// Only an operator may create one (a second operator, for the two-person rule).
    Operator,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCmd {
    /// Create a principal; prints its bearer token (shown once).
    Create {
        /// Principal name.
        name: String,
        /// Role (repeat for several).
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<RoleArg>,
        /// Purpose a reidentifier may use (repeat for several).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        /// Bind an mTLS client certificate: SHA-256 of its DER, hex.
        #[arg(long, default_value = "")]
        client_cert_sha256: String,
    },
    /// List principals.
    List,
    /// Revoke a principal at once.
    Revoke {
        /// Principal id.
        id: String,
    },
}

fn domain_json(d: &pb::Domain) -> serde_json::Value {
    json!({"name": d.name, "kind": d.kind().as_str_name(), "scheme": d.scheme().as_str_name(),
           "reversible": d.reversible, "retention_seconds": d.retention_seconds, "epoch": d.epoch})
}

fn principal_json(p: &pb::Principal) -> serde_json::Value {
    let roles: Vec<&str> = p.roles().map(|r| r.as_str_name()).collect();
    json!({"id": p.id, "name": p.name, "roles": roles, "purposes": p.purposes, "revoked": p.revoked})
}

/// `tenant …`.
pub(crate) async fn run_tenant(
    valv: &Valv,
    json: bool,
    cmd: TenantCmd,
) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantCmd::Settings { age_of_consent } => {
            return consent::run_settings(valv, json, age_of_consent).await;
        }
        TenantCmd::Create { name } => {
            let r = valv
                .admin()
                .create_tenant(pb::CreateTenantRequest {
                    name,
                    admin_name: String::new(),
                })
                .await?
                .into_inner();
            let tenant = r.tenant.map(|t| t.name).unwrap_or_default();
            print(
                json,
                json!({"tenant": tenant, "admin_token": r.admin_token}),
                || {
                    format!(
                        "tenant {tenant} created\nadmin token (shown once): {}",
                        r.admin_token
                    )
                },
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `domain …`.
pub(crate) async fn run_domain(
    valv: &Valv,
    json: bool,
    cmd: DomainCmd,
) -> anyhow::Result<ExitCode> {
    match cmd {
        DomainCmd::Create {
            name,
            kind,
            scheme,
            reversible,
            retention_seconds,
            since_last_use,
            consent_purpose,
        } => {
            let kind = match kind {
                Kind::Opaque => pb::IdentifierKind::Opaque,
                Kind::Email => pb::IdentifierKind::Email,
                Kind::Phone => pb::IdentifierKind::Phone,
                Kind::SePersonnummer => pb::IdentifierKind::SePersonnummer,
                Kind::NoFodselsnummer => pb::IdentifierKind::NoFodselsnummer,
                Kind::DkCpr => pb::IdentifierKind::DkCpr,
                Kind::FiHetu => pb::IdentifierKind::FiHetu,
            };
            let scheme = match scheme {
                SchemeArg::Keyed => pb::Scheme::Keyed,
                SchemeArg::Random => pb::Scheme::Random,
                SchemeArg::FormatPreserving => pb::Scheme::FormatPreserving,
            };
            let r = valv
                .admin()
                .create_domain(pb::CreateDomainRequest {
                    name,
                    kind: kind.into(),
                    scheme: scheme.into(),
                    reversible,
                    retention_seconds,
                    retention_since_last_use: since_last_use,
                    consent_purpose,
                })
                .await?
                .into_inner();
            let d = r.domain.unwrap_or_default();
            print(json, domain_json(&d), || {
                format!("domain {} created", d.name)
            });
        }
        DomainCmd::List => {
            let r = valv
                .admin()
                .list_domains(pb::ListDomainsRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r.domains.iter().map(domain_json).collect();
            print(json, json!(list), || {
                r.domains
                    .iter()
                    .map(|d| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            d.name,
                            d.kind().as_str_name(),
                            d.scheme().as_str_name(),
                            if d.reversible {
                                "reversible"
                            } else {
                                "one-way"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `purpose …`.
pub(crate) async fn run_purpose(
    valv: &Valv,
    json: bool,
    cmd: PurposeCmd,
) -> anyhow::Result<ExitCode> {
    match cmd {
        PurposeCmd::Text(cmd) => return consent::run_text(valv, json, cmd).await,
        PurposeCmd::Define {
            name,
            legal_basis,
            min_text_version,
            default_validity_days,
            description,
            explicit_consent,
            domains,
            erase_on_withdrawal,
            evidence_retention_days,
        } => {
            let basis = match legal_basis {
                Basis::Consent => pb::LegalBasis::Consent,
                Basis::Contract => pb::LegalBasis::Contract,
                Basis::LegalObligation => pb::LegalBasis::LegalObligation,
                Basis::VitalInterests => pb::LegalBasis::VitalInterests,
                Basis::PublicTask => pb::LegalBasis::PublicTask,
                Basis::LegitimateInterests => pb::LegalBasis::LegitimateInterests,
            };
            let r = valv
                .admin()
                .define_purpose(pb::DefinePurposeRequest {
                    name,
                    legal_basis: basis.into(),
                    min_text_version,
                    default_consent_validity_seconds: default_validity_days * 86_400,
                    description,
                    explicit_consent,
                    domains,
                    erase_on_withdrawal,
                    evidence_retention_seconds: evidence_retention_days * 86_400,
                })
                .await?
                .into_inner();
            let p = r.purpose.unwrap_or_default();
            print(json, json!({"name": p.name, "created": r.created}), || {
                format!(
                    "purpose {} {}",
                    p.name,
                    if r.created { "defined" } else { "updated" }
                )
            });
        }
        PurposeCmd::List => {
            let r = valv
                .admin()
                .list_purposes(pb::ListPurposesRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r
                .purposes
                .iter()
                .map(|p| json!({"name": p.name, "legal_basis": p.legal_basis().as_str_name(), "min_text_version": p.min_text_version}))
                .collect();
            print(json, json!(list), || {
                r.purposes
                    .iter()
                    .map(|p| {
                        format!(
                            "{}\t{}\tmin text v{}",
                            p.name,
                            p.legal_basis().as_str_name(),
                            p.min_text_version
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `principal …`.
pub(crate) async fn run_principal(
    valv: &Valv,
    json: bool,
    cmd: PrincipalCmd,
) -> anyhow::Result<ExitCode> {
    match cmd {
        PrincipalCmd::Create {
            name,
            roles,
            purposes,
            client_cert_sha256,
        } => {
            let roles = roles
                .into_iter()
                .map(|r| {
                    match r {
                        RoleArg::TenantAdmin => pb::Role::TenantAdmin,
                        RoleArg::Tokenizer => pb::Role::Tokenizer,
                        RoleArg::Reidentifier => pb::Role::Reidentifier,
                        RoleArg::ConsentManager => pb::Role::ConsentManager,
                        RoleArg::SubjectOfficer => pb::Role::SubjectOfficer,
                        RoleArg::KeyOfficer => pb::Role::KeyOfficer,
                        RoleArg::Auditor => pb::Role::Auditor,
                        RoleArg::Operator => pb::Role::Operator,
                    }
                    .into()
                })
                .collect();
            let r = valv
                .admin()
                .create_principal(pb::CreatePrincipalRequest {
                    name,
                    roles,
                    purposes,
                    client_cert_sha256,
                })
                .await?
                .into_inner();
            let p = r.principal.unwrap_or_default();
            print(
                json,
                json!({"principal": principal_json(&p), "token": r.token}),
                || {
                    format!(
                        "principal {} ({}) created\ntoken (shown once): {}",
                        p.name, p.id, r.token
                    )
                },
            );
        }
        PrincipalCmd::List => {
            let r = valv
                .admin()
                .list_principals(pb::ListPrincipalsRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r.principals.iter().map(principal_json).collect();
            print(json, json!(list), || {
                r.principals
                    .iter()
                    .map(|p| {
                        let roles: Vec<&str> = p.roles().map(|r| r.as_str_name()).collect();
                        format!(
                            "{}\t{}\t{}\t{}",
                            p.id,
                            p.name,
                            roles.join(","),
                            if p.revoked { "revoked" } else { "active" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        PrincipalCmd::Revoke { id } => {
            valv.admin()
                .revoke_principal(pb::RevokePrincipalRequest { id: id.clone() })
                .await?;
            print(json, json!({"revoked": id}), || {
                format!("principal {id} revoked")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

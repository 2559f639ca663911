//! `tenant`, `domain`, `purpose`, `principal`: setting a tenant up (operator, tenant-admin).

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use valv_client::{Valv, pb};

use crate::{consent, output::print, settings};

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Show or change the caller's tenant settings (tenant-admin).
    Settings {
        /// Below this age (from the birth date in personnummer, fødselsnummer, CPR, HETU) a
        /// consent needs a guardian.
        #[arg(long)]
        age_of_consent: Option<u32>,
        /// New identifiers one principal may pseudonymise per hour (0: no limit); past it
        /// pseudonymising new identifiers is refused until the hour ends.
        #[arg(long)]
        new_identifiers_per_hour: Option<u64>,
        /// Report a principal that crosses this many new identifiers in an hour (metric and
        /// audit entry; 0: never).
        #[arg(long)]
        new_identifiers_warning_per_hour: Option<u64>,
        /// Calls one principal may make per second on each node (0: no limit).
        #[arg(long)]
        requests_per_second: Option<u64>,
    },
    /// The tenant's record of processing activities (GDPR Art. 30) as the vault knows it:
    /// purposes, legal bases and consent texts, identifiers per domain and their retention,
    /// who may re-identify, record policies, keys, measures and counts (tenant-admin, auditor).
    RecordOfProcessing {
        /// Output format (`--json` means json).
        #[arg(long, value_enum, default_value = "md")]
        format: crate::processing::Format,
    },
    /// Create a tenant; prints one enrolment code per tenant-admin (shown once). Hand each to
    /// the person who will hold it: they run `valvctl enrol <code>` and get a token nobody else
    /// sees. A code claimed by anyone else is refused to its rightful holder, and audited.
    Create {
        /// Tenant name.
        name: String,
        /// How many tenant-admins (default: two under the two-person rule, else one).
        #[arg(long, default_value_t = 0)]
        admins: u32,
        /// Name of the tenant-admin principals (numbered when more than one).
        #[arg(long, default_value = "")]
        admin_name: String,
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
    /// Translates pseudonyms under sharing agreements (give it the agreements' purposes).
    Translator,
    /// Only an operator may create one (a second operator, for the two-person rule).
    Operator,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCmd {
    /// Create a principal; prints its bearer token, or an enrolment code for its holder (shown
    /// once). Under the two-person rule a principal that re-identifies, approves or administers
    /// is created by code only, once a second tenant-admin (operators: operator) approves it.
    Create {
        /// Principal name.
        name: String,
        /// Role (repeat for several).
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<RoleArg>,
        /// Purpose a reidentifier or translator may use (repeat for several).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        /// Print an enrolment code for the principal's holder instead of a token.
        #[arg(long)]
        enrol: bool,
    },
    /// Bind this connection's client certificate (--cert/--key) to the principal of the token:
    /// from then on the certificate alone authenticates it.
    BindCertificate,
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

fn enrolment_json(e: &pb::Enrolment) -> serde_json::Value {
    let p = e.principal.clone().unwrap_or_default();
    json!({"principal": principal_json(&p), "code": e.code, "expires_unix_ms": e.expires_unix_ms})
}

fn principal_json(p: &pb::Principal) -> serde_json::Value {
    let roles: Vec<&str> = p.roles().map(|r| r.as_str_name()).collect();
    json!({"id": p.id, "name": p.name, "roles": roles, "purposes": p.purposes, "revoked": p.revoked,
           "created_by": p.created_by, "enrolled_unix_ms": p.enrolled_unix_ms,
           "enrolment_expires_unix_ms": p.enrolment_expires_unix_ms,
           "client_cert_sha256": p.client_cert_sha256})
}

/// `tenant …`.
pub(crate) async fn run_tenant(
    valv: &Valv,
    json: bool,
    cmd: TenantCmd,
) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantCmd::Settings {
            age_of_consent,
            new_identifiers_per_hour,
            new_identifiers_warning_per_hour,
            requests_per_second,
        } => {
            let change = settings::Change {
                age_of_consent,
                new_identifiers_per_hour,
                new_identifiers_warning_per_hour,
                requests_per_second,
            };
            return settings::run(valv, json, change).await;
        }
        TenantCmd::RecordOfProcessing { format } => {
            return crate::processing::run(valv, json, format).await;
        }
        TenantCmd::Create {
            name,
            admins,
            admin_name,
        } => {
            let r = valv
                .admin()
                .create_tenant(pb::CreateTenantRequest {
                    name,
                    admin_name,
                    admins,
                })
                .await?
                .into_inner();
            let tenant = r.tenant.map(|t| t.name).unwrap_or_default();
            let list: Vec<_> = r.admins.iter().map(enrolment_json).collect();
            print(json, json!({"tenant": tenant, "admins": list}), || {
                let mut out = format!(
                    "tenant {tenant} created; enrolment codes (shown once, one per administrator; `valvctl enrol <code>`):"
                );
                for e in &r.admins {
                    let p = e.principal.clone().unwrap_or_default();
                    out.push_str(&format!("\n{}\t{}", p.name, e.code));
                }
                out
            });
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
            let changes = crate::output::changes_json(&r.changes);
            print(
                json,
                json!({"name": p.name, "created": r.created, "changes": changes,
                       "pending_operation_id": r.pending_operation_id,
                       "approve_before_unix_ms": r.approve_before_unix_ms}),
                || {
                    let what = if r.pending_operation_id > 0 {
                        crate::output::pending_text(
                            "the change releases more",
                            r.pending_operation_id,
                        )
                    } else if r.created {
                        "defined".into()
                    } else {
                        "updated".into()
                    };
                    format!(
                        "purpose {} {what}{}",
                        p.name,
                        crate::output::changes_text(&r.changes)
                    )
                },
            );
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
            enrol,
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
                        RoleArg::Translator => pb::Role::Translator,
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
                    enrol,
                })
                .await?
                .into_inner();
            let p = r.principal.clone().unwrap_or_default();
            let code = r
                .enrolment
                .as_ref()
                .map(|e| e.code.clone())
                .unwrap_or_default();
            print(
                json,
                json!({"principal": principal_json(&p), "token": r.token, "enrolment_code": code,
                       "pending_operation_id": r.pending_operation_id,
                       "approve_before_unix_ms": r.approve_before_unix_ms}),
                || {
                    if r.pending_operation_id > 0 {
                        format!(
                            "principal {} ({}) filed as operation {}; it exists once a second principal runs `valvctl approval approve {}`\nenrolment code for its holder (shown once; `valvctl enrol <code>` after the approval): {code}",
                            p.name, p.id, r.pending_operation_id, r.pending_operation_id
                        )
                    } else if !code.is_empty() {
                        format!(
                            "principal {} ({}) created\nenrolment code for its holder (shown once; `valvctl enrol <code>`): {code}",
                            p.name, p.id
                        )
                    } else {
                        format!(
                            "principal {} ({}) created\ntoken (shown once): {}",
                            p.name, p.id, r.token
                        )
                    }
                },
            );
        }
        PrincipalCmd::BindCertificate => {
            let r = valv
                .admin()
                .bind_client_certificate(pb::BindClientCertificateRequest {})
                .await?
                .into_inner();
            let p = r.principal.unwrap_or_default();
            print(json, principal_json(&p), || {
                format!(
                    "client certificate {} bound to principal {} ({})",
                    p.client_cert_sha256, p.name, p.id
                )
            });
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

/// `valvctl enrol`: claims a code; prints the token or writes it to a 0600 file.
pub(crate) async fn enrol(
    valv: &Valv,
    json: bool,
    code: Option<String>,
    token_out: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitCode> {
    let code = match code {
        Some(c) => c,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_owned()
        }
    };
    let r = valv
        .admin()
        .claim_enrolment(pb::ClaimEnrolmentRequest { code })
        .await?
        .into_inner();
    let p = r.principal.unwrap_or_default();
    if let Some(path) = &token_out {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        writeln!(f, "{}", r.token)?;
        f.sync_all()?;
    }
    let token = if token_out.is_some() {
        String::new()
    } else {
        r.token
    };
    print(
        json,
        json!({"principal": principal_json(&p), "token": token}),
        || match &token_out {
            Some(path) => format!(
                "enrolled as {} ({}); token written to {}",
                p.name,
                p.id,
                path.display()
            ),
            None => format!(
                "enrolled as {} ({})\ntoken (shown once): {token}",
                p.name, p.id
            ),
        },
    );
    Ok(ExitCode::SUCCESS)
}

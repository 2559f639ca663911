//! The tenant `valvctl bench` and the soak set up for themselves — a keyed domain `bench`, a
//! consent purpose `study` and one principal per role they use — and the small helpers both
//! share.

use std::time::Duration;

use anyhow::Context;
use valv_client::{Valv, pb};

/// The bench tenant's principals (and, for the soak, pseudonyms with a consent).
pub(crate) struct Setup {
    pub(crate) tokenizer: Valv,
    pub(crate) reidentifier: Valv,
    pub(crate) consents: Valv,
    pub(crate) run: String,
    pub(crate) consented: Vec<String>,
}

pub(crate) async fn setup(operator: &Valv) -> anyhow::Result<Setup> {
    let run = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let t = operator
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            name: format!("bench-{run}"),
            admin_name: String::new(),
            admins: 0,
        })
        .await
        .context("creating the bench tenant (needs an operator token)")?
        .into_inner();
    // The bench holds every part itself: it claims the administrators' codes (visible in the
    // tenant's audit chain as enrolments), and the second administrator approves what the rule
    // asks a second person for.
    let mut admins = Vec::new();
    for e in &t.admins {
        admins.push(operator.enrol(&e.code).await?.0);
    }
    let admin = admins
        .first()
        .cloned()
        .context("the tenant has no administrator")?;
    let second = admins.get(1).cloned();
    admin
        .admin()
        .create_domain(pb::CreateDomainRequest {
            name: "bench".into(),
            kind: pb::IdentifierKind::Opaque.into(),
            scheme: pb::Scheme::Keyed.into(),
            reversible: true,
            retention_seconds: 0,
            ..Default::default()
        })
        .await?;
    admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "study".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            min_text_version: 1,
            default_consent_validity_seconds: 0,
            description: String::new(),
            ..Default::default()
        })
        .await?;
    admin
        .admin()
        .add_consent_text(pb::AddConsentTextRequest {
            purpose: "study".into(),
            text: "I agree that my data is used for the benchmark study.".into(),
        })
        .await?;
    let principal = |role: pb::Role, purposes: Vec<String>| {
        let admin = admin.clone();
        let second = second.clone();
        async move {
            let request = pb::CreatePrincipalRequest {
                name: format!(
                    "bench-{}",
                    role.as_str_name().to_lowercase().replace('_', "-")
                ),
                roles: vec![role.into()],
                purposes,
                enrol: false,
            };
            let token = admin
                .create_principal_token(request, second.as_ref())
                .await?;
            anyhow::Ok(admin.with_token(&token)?)
        }
    };
    Ok(Setup {
        tokenizer: principal(pb::Role::Tokenizer, vec![]).await?,
        reidentifier: principal(pb::Role::Reidentifier, vec!["study".into()]).await?,
        consents: principal(pb::Role::ConsentManager, vec![]).await?,
        run,
        consented: Vec::new(),
    })
}

pub(crate) fn ids(run: &str, from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("b{run}-{i:09}")).collect()
}

/// A consent grant for the bench purpose (`study`, text version 1, by web form).
pub(crate) fn grant(id: String) -> pb::GrantConsentRequest {
    pb::GrantConsentRequest {
        subject: Some(pb::SubjectRef {
            domain: "bench".into(),
            by: Some(pb::subject_ref::By::Identifier(id)),
        }),
        purpose: "study".into(),
        text_version: 1,
        method: pb::ConsentMethod::Web.into(),
        valid_until_unix_ms: 0,
        ..Default::default()
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

/// The pseudonyms a pseudonymise reply gave, in order (refused items left out).
pub(crate) fn pseudonyms_of(reply: pb::PseudonymiseResponse) -> Vec<String> {
    reply
        .results
        .into_iter()
        .filter_map(|r| match r.outcome {
            Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) => Some(p),
            _ => None,
        })
        .collect()
}

/// An error unless every item of a re-identification of consented pseudonyms was released.
pub(crate) fn all_released(reply: &pb::ReIdentifyResponse) -> anyhow::Result<()> {
    if reply
        .results
        .iter()
        .any(|r| r.verdict() != pb::Verdict::Released)
    {
        anyhow::bail!("a consented pseudonym was not released");
    }
    Ok(())
}

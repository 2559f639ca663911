//! Translating pseudonyms under a sharing agreement (translator): a from-domain pseudonym becomes
//! the same person's to-domain pseudonym, and the identifier between the two never leaves the
//! vault. Each item is decided exactly as a re-identification for the agreement's purpose would
//! be (`ops::reidentify::release`: the principal holds the purpose, consent where the purpose
//! rests on it, restriction, erasure, expiry); what is released is pseudonymised into the
//! to-domain at once (`ops::pseudonymise::pseudonymise_into`), creating mappings there as needed.
//! Two audit entries tell it: `translate` (the agreement, the domains, each item's verdict) and
//! `pseudonymise` in the to-domain (counts, mappings created).

use std::sync::Arc;

use super::{
    check_batch, find_domain, find_purpose,
    pseudonymise::pseudonymise_into,
    reidentify::{Release, release},
};
use crate::{
    app::App,
    authz::Caller,
    engine::consent::Verdict,
    error::{VaultError, VaultResult},
    store::records::Role,
};

/// One item's outcome.
#[derive(Debug)]
pub struct TranslatedItem {
    /// The verdict (`Released`: translated).
    pub verdict: Verdict,
    /// The to-domain pseudonym, only when translated.
    pub pseudonym: Option<String>,
    /// The from-domain pseudonym is of an earlier epoch.
    pub old_epoch: bool,
}

/// A translated batch.
#[derive(Debug)]
pub struct Translated {
    /// One result per pseudonym, in order.
    pub results: Vec<TranslatedItem>,
    /// To-domain mappings created.
    pub created: u32,
}

/// Translates `pseudonyms` under the agreement `agreement_name`.
pub async fn translate(
    app: &Arc<App>,
    caller: &Caller,
    agreement_name: &str,
    pseudonyms: Vec<String>,
) -> VaultResult<Translated> {
    let tenant_id = caller.tenant_with(Role::Translator)?;
    check_batch(app, "pseudonyms", pseudonyms.len())?;
    if agreement_name.is_empty() {
        return Err(VaultError::invalid("agreement", "must not be empty"));
    }
    let agreement = app
        .agreement(tenant_id, agreement_name)
        .await?
        .ok_or_else(|| {
            VaultError::NotFound("agreement: no such sharing agreement in this tenant".into())
        })?;
    if app.now_ms() >= agreement.valid_until_ms {
        return Err(VaultError::FailedPrecondition(
            "agreement: it has expired; a tenant-admin may define a new one".into(),
        ));
    }
    let from = find_domain(app, tenant_id, &agreement.from_domain).await?;
    let purpose = find_purpose(app, tenant_id, &agreement.purpose).await?;
    let how = Release {
        action: "translate",
        changes: vec![
            ("agreement".into(), String::new(), agreement.name.clone()),
            (
                "domain".into(),
                agreement.from_domain.clone(),
                agreement.to_domain.clone(),
            ),
        ],
    };
    let mut decided = release(app, caller, (tenant_id, &from, &purpose), pseudonyms, how).await?;
    // The released identifiers, in memory only, straight into the to-domain.
    let identifiers: Vec<String> = decided
        .iter_mut()
        .filter_map(|d| d.identifier.take())
        .collect();
    let (mut translated, created) = if identifiers.is_empty() {
        (Vec::new().into_iter(), 0)
    } else {
        let out =
            pseudonymise_into(app, caller, tenant_id, &agreement.to_domain, identifiers).await?;
        (out.results.into_iter(), out.created)
    };
    let mut results = Vec::with_capacity(decided.len());
    for d in decided {
        let pseudonym = if d.verdict == Verdict::Released {
            match translated.next() {
                Some(Ok(p)) => Some(p),
                // Both domains hold the same kind of identifier: what one holds, the other takes.
                _ => {
                    return Err(VaultError::Internal(
                        "the to-domain refused an identifier its from-domain holds".into(),
                    ));
                }
            }
        } else {
            None
        };
        results.push(TranslatedItem {
            verdict: d.verdict,
            pseudonym,
            old_epoch: d.old_epoch,
        });
    }
    app.metrics.batch("translate", results.len());
    Ok(Translated { results, created })
}

//! Enrolment codes: a principal created for someone else is handed over as a single-use,
//! short-lived code, and the person it is meant for claims it and gets a token that its creator
//! never saw. A creator who uses the code itself is seen at once: the rightful holder's claim is
//! refused, and both claims are in the audit chain. Tenants get their first administrators this
//! way, so the operator who created a tenant holds no key to its data.

use valv_kms::SecretBytes;

use crate::{
    app::App,
    audit::{self, OPERATOR_CHAIN},
    authz::token,
    error::{VaultError, VaultResult},
    store::records::{EnrolmentRecord, PrincipalRecord},
};

/// A principal waiting to be claimed, with its code (shown once, to its creator).
#[derive(Debug)]
pub struct Enrolment {
    /// The principal (no token yet).
    pub principal: PrincipalRecord,
    /// The code.
    pub code: SecretBytes,
    /// The code is refused after this.
    pub expires_ms: i64,
}

/// When a code made at `now` expires.
pub(crate) fn deadline(app: &App, now: i64) -> i64 {
    now.saturating_add(
        i64::try_from(app.limits.enrolment_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
    )
}

/// Gives `principal` an enrolment code instead of a token (not stored).
pub(crate) fn awaiting(app: &App, mut principal: PrincipalRecord) -> Enrolment {
    let (code, hash) = token::secret_for(token::ENROLMENT, &principal.id);
    let expires_ms = deadline(app, app.now_ms());
    principal.token_sha256 = String::new();
    principal.enrolment = Some(EnrolmentRecord {
        code_sha256: hash,
        expires_ms,
        claimed_ms: 0,
    });
    Enrolment {
        principal,
        code,
        expires_ms,
    }
}

/// [`awaiting`], stored.
pub(crate) async fn store_awaiting(
    app: &App,
    principal: PrincipalRecord,
) -> VaultResult<Enrolment> {
    let enrolment = awaiting(app, principal);
    app.put_principal(&enrolment.principal).await?;
    Ok(enrolment)
}

/// Claims an enrolment code: the principal's token, once. `request_id` goes into the audit.
pub async fn claim(
    app: &App,
    code: &str,
    request_id: &str,
) -> VaultResult<(PrincipalRecord, SecretBytes)> {
    let unknown = || VaultError::Unauthenticated("unknown enrolment code");
    let (id, secret) = token::parse_with(token::ENROLMENT, code.trim()).ok_or(
        VaultError::Unauthenticated("malformed enrolment code (valvenrol_<id>_<secret>)"),
    )?;
    let principal = app.principal(id).await?.ok_or_else(unknown)?;
    let Some(enrolment) = principal.enrolment.clone() else {
        return Err(unknown());
    };
    if !token::verify(secret, &enrolment.code_sha256) {
        return Err(unknown());
    }
    if principal.revoked {
        return Err(VaultError::Unauthenticated("principal revoked"));
    }
    if let Some(t) = principal.tenant_id
        && app.keys.is_shredded(t)
    {
        return Err(VaultError::FailedPrecondition(
            "tenant: its keys were destroyed (shredded)".into(),
        ));
    }
    let chain = principal.tenant_id.unwrap_or(OPERATOR_CHAIN);
    let now = app.now_ms();
    let first = enrolment.claimed_ms == 0
        && now <= enrolment.expires_ms
        && app
            .store
            .mark_once(&format!("enrol/{}", principal.id))
            .await?;
    if !first {
        let already = enrolment.claimed_ms > 0 || now <= enrolment.expires_ms;
        let mut entry = audit::entry(now, &principal.id, "principal.enrol");
        entry.request_id = request_id.to_owned();
        entry.verdict = Some(
            if already {
                "refused-claimed-before"
            } else {
                "refused-expired"
            }
            .into(),
        );
        app.audit.append(chain, entry).await?;
        return Err(if already {
            VaultError::FailedPrecondition(
                "code: this enrolment code was claimed before; if that was not you, someone else holds this principal: have it revoked".into(),
            )
        } else {
            VaultError::FailedPrecondition(
                "code: the enrolment code has expired; ask for a new principal".into(),
            )
        });
    }
    let (token, hash) = token::secret_for(token::TOKEN, &principal.id);
    // By compare-and-swap: a revocation that raced the claim stays in force.
    let principal = super::principal_record::change(app, &principal.id, |p| {
        if p.revoked {
            return Err(VaultError::Unauthenticated("principal revoked"));
        }
        p.token_sha256.clone_from(&hash);
        p.enrolled_ms = now;
        p.enrolment = Some(EnrolmentRecord {
            claimed_ms: now,
            ..enrolment.clone()
        });
        Ok(())
    })
    .await?;
    let mut entry = audit::entry(now, &principal.id, "principal.enrol");
    entry.request_id = request_id.to_owned();
    entry.items = vec![(principal.id.clone(), "claimed".into())];
    entry.verdict = Some("ok".into());
    app.audit.append(chain, entry).await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("the claim could not be made durable: {e}"))
    })?;
    Ok((principal, token))
}

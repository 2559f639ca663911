//! Who is calling, and may they? Authentication (bearer token or mTLS client certificate) and
//! role checks. The tenant always comes from the credential, never from a request field.

pub mod token;

use sha2::{Digest, Sha256};

use crate::{
    app::App,
    error::{VaultError, VaultResult},
    store::records::{PrincipalRecord, Role},
};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal behind the credential.
    pub principal: PrincipalRecord,
    /// The call's request id (`x-request-id`), for audit entries.
    pub request_id: String,
}

impl Caller {
    /// A new audit entry for an act of this caller (principal and request id set).
    pub fn act(&self, at_ms: i64, action: &str) -> crate::store::records::AuditRecord {
        crate::store::records::AuditRecord {
            request_id: self.request_id.clone(),
            ..crate::audit::entry(at_ms, self.id(), action)
        }
    }

    /// Fails with PERMISSION_DENIED unless the caller holds `role`.
    pub fn require(&self, role: Role) -> VaultResult<()> {
        if self.principal.roles.contains(&role) {
            Ok(())
        } else {
            Err(VaultError::PermissionDenied(format!(
                "role {} required",
                role_name(role)
            )))
        }
    }

    /// Fails with PERMISSION_DENIED unless the caller holds one of `roles` (the refusal names
    /// them all: "role tenant-admin, auditor or translator required").
    pub fn require_any(&self, roles: &[Role]) -> VaultResult<()> {
        if roles.iter().any(|r| self.principal.roles.contains(r)) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| role_name(*r)).collect();
        let listed = match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        Err(VaultError::PermissionDenied(format!(
            "role {listed} required"
        )))
    }

    /// The caller's tenant; operators have none and see no tenant data.
    pub fn tenant(&self) -> VaultResult<u64> {
        self.principal
            .tenant_id
            .ok_or_else(|| VaultError::PermissionDenied("operators see no tenant data".into()))
    }

    /// Holds `role` in a tenant: the usual check for tenant RPCs.
    pub fn tenant_with(&self, role: Role) -> VaultResult<u64> {
        self.require(role)?;
        self.tenant()
    }

    /// The principal id, for audit entries.
    pub fn id(&self) -> &str {
        &self.principal.id
    }
}

/// A role's name as in docs/concepts.md.
pub fn role_name(role: Role) -> &'static str {
    role.as_str()
}

/// Authenticates a request from its metadata (bearer token) or TLS peer certificate.
pub async fn authenticate(
    app: &App,
    headers: &http::HeaderMap,
    peer_cert_der: Option<&[u8]>,
) -> VaultResult<Caller> {
    let principal = if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| VaultError::Unauthenticated("malformed authorization header"))?;
        let raw = text
            .strip_prefix("Bearer ")
            .ok_or(VaultError::Unauthenticated(
                "authorization must be `Bearer <token>`",
            ))?;
        let (id, secret) =
            token::parse(raw).ok_or(VaultError::Unauthenticated("malformed bearer token"))?;
        // The row is checked too: a principal added or changed outside the vault is refused.
        let principal = app
            .principal(id)
            .await?
            .ok_or(VaultError::Unauthenticated("unknown or invalid token"))?;
        // A revoked token is answered like a forged one: it tells its holder nothing.
        if !token::verify(secret, &principal.token_sha256) || principal.revoked {
            return Err(VaultError::Unauthenticated("unknown or invalid token"));
        }
        principal
    } else if let Some(der) = peer_cert_der {
        let fingerprint = hex::encode(Sha256::digest(der));
        app.principal_by_cert(&fingerprint)
            .await?
            // The record itself must name the certificate, not only the index.
            .filter(|p| p.client_cert_sha256.as_deref() == Some(fingerprint.as_str()) && !p.revoked)
            .ok_or(VaultError::Unauthenticated(
                "client certificate is not bound to a principal",
            ))?
    } else {
        return Err(VaultError::Unauthenticated(
            "no credential: send `authorization: Bearer <token>` or a client certificate",
        ));
    };
    let span = tracing::Span::current();
    span.record("principal", principal.id.as_str());
    if let Some(t) = principal.tenant_id {
        span.record("tenant", t);
    }
    let request_id = crate::observe::request_id::of(headers);
    Ok(Caller {
        principal,
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_any_passes_one_of_the_roles_and_names_them_all_otherwise() {
        let auditor = crate::testkit::caller(Some(1), Role::Auditor);
        assert!(
            auditor
                .require_any(&[Role::TenantAdmin, Role::Auditor])
                .is_ok()
        );
        let refusal = |roles: &[Role]| match auditor.require_any(roles) {
            Err(VaultError::PermissionDenied(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(refusal(&[Role::Tokenizer]), "role tokenizer required");
        assert_eq!(
            refusal(&[Role::TenantAdmin, Role::Tokenizer, Role::Translator]),
            "role tenant-admin, tokenizer or translator required"
        );
    }
}

//! The fence between sealing under a key version and another node retiring it.
//!
//! Within one process, a request holds its tenant's shared gate from choosing the active key
//! version to storing what it sealed, and a rotation takes the gate exclusively to activate or
//! retire a version, so no request straddles either. Another node's rotation does not see this
//! process's gate: a request here may choose version `v`, another node activates `v + 1`, moves
//! every record, counts none left under `v` and retires it — and only then does the request's
//! insert commit, under a version whose material is gone.
//!
//! Rule: a request that stored records sealed under `v` reads the tenant's change counter again
//! once they are stored (one read; activating a version raises it). If it moved since the read
//! made before `v` was chosen and `v` is no longer the active version, the request seals the
//! records again under the active one — it still holds their identifiers — before answering,
//! and checks once more. Activation comes before the rotation's walk, so a record whose insert
//! the walk could have missed is always one whose request sees the counter move.

use valv_kms::{AadContext, KeyVersion, envelope::ciphertext_version};

use super::{App, keys::seal_mapping};
use crate::{
    error::{VaultError, VaultResult},
    keys::EVIDENCE_DOMAIN_ID,
    store::records::DomainRecord,
};

/// How often a request seals again before it gives up (each round means another rotation
/// began while it did).
const ROUNDS: usize = 4;

/// A request's check after storing what it sealed: see the module docs.
pub struct Fence<'a> {
    app: &'a App,
    tenant_id: u64,
    seen: u64,
    version: KeyVersion,
    rounds: usize,
}

impl App {
    /// A fence for records about to be sealed under `version`; take it *before* the version is
    /// chosen (it keeps the change counter read then).
    pub(crate) fn fence(&self, tenant_id: u64) -> FenceBuilder<'_> {
        FenceBuilder {
            app: self,
            tenant_id,
            seen: self.generation_seen(tenant_id),
        }
    }
}

/// The counter read before the version was chosen, waiting for the version.
pub struct FenceBuilder<'a> {
    app: &'a App,
    tenant_id: u64,
    seen: u64,
}

impl<'a> FenceBuilder<'a> {
    /// The version the records were sealed under.
    pub(crate) fn sealed_under(self, version: KeyVersion) -> Fence<'a> {
        Fence {
            app: self.app,
            tenant_id: self.tenant_id,
            seen: self.seen,
            version,
            rounds: 0,
        }
    }
}

impl Fence<'_> {
    /// Once the records are stored: `None` when they are safe; else the active version to seal
    /// them again under (the caller stores them so, and asks again).
    pub(crate) async fn check(&mut self) -> VaultResult<Option<KeyVersion>> {
        let now = self.app.observe(self.tenant_id).await?;
        self.check_read(now).await
    }

    /// [`Fence::check`] with the change counter the caller read (by [`App::observe`]) after
    /// the records were stored.
    pub(crate) async fn check_read(&mut self, now: u64) -> VaultResult<Option<KeyVersion>> {
        let app = self.app;
        if now == self.seen {
            return Ok(None);
        }
        let active = app
            .keys
            .tenant_keys(self.tenant_id)
            .await?
            .active_version()
            .ok_or_else(|| {
                VaultError::FailedPrecondition("tenant has no active key version".into())
            })?;
        if active == self.version {
            return Ok(None);
        }
        self.rounds += 1;
        if self.rounds > ROUNDS {
            return Err(VaultError::Unavailable(
                "the tenant key was rotated again and again while this request stored its records; retry"
                    .into(),
            ));
        }
        tracing::info!(
            tenant = self.tenant_id,
            from = self.version,
            to = active,
            "records sealed while another node rotated the tenant key: sealing them again under the active version"
        );
        self.seen = now;
        self.version = active;
        Ok(Some(active))
    }
}

impl App {
    /// Seals stored mappings of `domain` again under its active key version (their identifiers
    /// given), each by compare-and-swap from the row as stored now: a row already under the
    /// active version (the rotation's job moved it), changed meanwhile or gone is left as it is.
    pub(crate) async fn reseal_mappings(
        &self,
        domain: &DomainRecord,
        items: &[(&[u8], &[u8])],
    ) -> VaultResult<()> {
        let tenant_id = domain.tenant_id;
        let gate = self.keys.gate(tenant_id);
        let _shared = gate.read().await;
        let keys = self.keys.domain_keys(domain).await?;
        let key = &keys.data_key;
        if !self
            .keys
            .reserve_encryptions(tenant_id, key.version(), items.len() as u64)
            .await?
        {
            return Err(budget_spent());
        }
        let pseudonyms = items.iter().map(|(p, _)| p.to_vec()).collect();
        let stored = self.store.mappings(domain.id, pseudonyms).await?;
        for ((pseudonym, identifier), row) in items.iter().zip(stored) {
            let Some(row) = row else { continue };
            let Some(ct) = &row.ciphertext else { continue };
            if ciphertext_version(ct)? == key.version() {
                continue;
            }
            let fresh = seal_mapping(
                key,
                (tenant_id, domain.id),
                pseudonym,
                (&row).into(),
                identifier,
            )?;
            self.store
                .replace_ciphertext(domain.id, pseudonym, &row, fresh)
                .await?;
        }
        Ok(())
    }

    /// Seals a stored evidence record again under the tenant's active key version, if it is
    /// still `current`.
    pub(crate) async fn reseal_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        current: &[u8],
        evidence: &[u8],
    ) -> VaultResult<Vec<u8>> {
        let gate = self.keys.gate(tenant_id);
        let _shared = gate.read().await;
        let keys = self.keys.tenant_keys(tenant_id).await?;
        let version = keys.active_version().ok_or_else(|| {
            VaultError::FailedPrecondition("tenant has no active key version".into())
        })?;
        if !self.keys.reserve_encryptions(tenant_id, version, 1).await? {
            return Err(budget_spent());
        }
        let fresh = keys.data_key(EVIDENCE_DOMAIN_ID, version)?.seal(
            &AadContext {
                tenant_id,
                domain_id: EVIDENCE_DOMAIN_ID,
                record: id,
                bound: b"",
            },
            evidence,
        )?;
        self.store
            .replace_evidence(tenant_id, id, current, fresh.clone())
            .await?;
        Ok(fresh)
    }
}

fn budget_spent() -> VaultError {
    VaultError::Unavailable(
        "the active key version's use budget is spent; rotate the tenant key".into(),
    )
}

//! Serial numbers of format-preserving domains: each new mapping takes the next serial, which
//! the domain's FF1 order key turns into a pseudonym of the kind's reserved space
//! (`engine::scheme`, `engine::reserved`).
//!
//! The counter is a store budget (`KeyStore::reserve_budget`, scope `serials/<domain id>`,
//! one window for ever, limit = the space's bound): one atomic store operation hands a block of
//! serials to one process, so two nodes never hold the same serial and a serial is never handed
//! out twice — not after an erasure, not after a restart. A block holds more serials than one
//! batch needs (only some serials land on a member of the space); the members left over stay
//! with this process for its next batches. They are this process's own: no other process can
//! reserve them, so the spare list needs no invalidation; a process that stops loses its
//! spares (capacity, never correctness).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::{
    engine::scheme::{Pseudonym, PseudonymKey},
    error::{VaultError, VaultResult},
    store::Store,
};

/// Serials reserved per store operation at least (about a seventh of them give a pseudonym
/// in the sparsest space).
const MIN_BLOCK: u64 = 64;

/// This process's spare format-preserving pseudonyms, by domain id.
#[derive(Default)]
pub struct Serials {
    spare: Mutex<HashMap<u64, Vec<Pseudonym>>>,
}

fn poisoned<T>(_: T) -> VaultError {
    VaultError::Internal("serials lock poisoned".into())
}

impl Serials {
    fn take_spare(&self, domain_id: u64, n: usize) -> VaultResult<Vec<Pseudonym>> {
        let mut spare = self.spare.lock().map_err(poisoned)?;
        let list = spare.entry(domain_id).or_default();
        let keep = list.len().saturating_sub(n);
        Ok(list.split_off(keep))
    }

    fn keep_spare(&self, domain_id: u64, extra: Vec<Pseudonym>) -> VaultResult<()> {
        if !extra.is_empty() {
            let mut spare = self.spare.lock().map_err(poisoned)?;
            spare.entry(domain_id).or_default().extend(extra);
        }
        Ok(())
    }

    /// `n` fresh pseudonyms of format-preserving domain `domain_id`, none ever handed out
    /// before by any process.
    pub async fn fresh(
        &self,
        store: &Arc<dyn Store>,
        domain_id: u64,
        key: &PseudonymKey,
        n: usize,
    ) -> VaultResult<Vec<Pseudonym>> {
        let (bound, share) = key
            .serial_space()
            .ok_or_else(|| VaultError::Internal("format-preserving key without order".into()))?;
        let scope = format!("serials/{domain_id}");
        let mut out = self.take_spare(domain_id, n)?;
        while out.len() < n {
            let need = (n - out.len()) as u64;
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let want = ((need as f64 / share * 1.2).ceil() as u64).max(MIN_BLOCK);
            // Near the end of the space, take what is left one serial at a time.
            let (total, got) = match store.reserve_budget(&scope, 0, want, bound).await? {
                Some(total) => (total, want),
                None => match store.reserve_budget(&scope, 0, 1, bound).await? {
                    Some(total) => (total, 1),
                    None => {
                        return Err(VaultError::FailedPrecondition(format!(
                            "domain {domain_id}: its format-preserving space is used up; create another domain"
                        )));
                    }
                },
            };
            let block: Vec<Pseudonym> = (total - got..total)
                .filter_map(|s| key.allocate(s))
                .collect();
            // A store whose counter fell behind its mappings (restored or copied without it)
            // must not hand out a held pseudonym again: skip those.
            let held = store
                .contains_mappings(domain_id, block.iter().map(|p| p.0.clone()).collect())
                .await?;
            if held.iter().any(|h| *h) {
                tracing::warn!(
                    domain = domain_id,
                    "format-preserving serials already in use were skipped: the store's serial counter is behind its mappings"
                );
            }
            out.extend(
                block
                    .into_iter()
                    .zip(held)
                    .filter(|(_, h)| !h)
                    .map(|(p, _)| p),
            );
        }
        let extra = out.split_off(n);
        self.keep_spare(domain_id, extra)?;
        Ok(out)
    }
}

//! How many stored ciphertexts are under each key version of a tenant (mappings per domain, and
//! consent evidence): what a key officer is shown and what a rotation must move.

use std::collections::HashMap;

use valv_kms::{KeyVersion, envelope::ciphertext_version};

use crate::{error::VaultResult, store::Store};

/// Stored ciphertexts of a tenant per domain name and key version (walks every reversible
/// mapping; O(records)).
pub async fn census(
    store: &dyn Store,
    tenant_id: u64,
) -> VaultResult<Vec<(String, HashMap<KeyVersion, u64>)>> {
    let mut out = Vec::new();
    for domain in store.list_domains(tenant_id).await? {
        if !domain.reversible {
            continue;
        }
        let mut counts = HashMap::new();
        let mut after = Vec::new();
        loop {
            let page = store.scan_mappings(domain.id, after, 2_000).await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (_, m) in &page {
                if let Some(ct) = &m.ciphertext {
                    *counts.entry(ciphertext_version(ct)?).or_insert(0) += 1;
                }
            }
        }
        out.push((domain.name, counts));
    }
    let mut counts = HashMap::new();
    let mut after = Vec::new();
    loop {
        let page = store.scan_evidence(tenant_id, after, 2_000).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = last.clone();
        for (_, ct) in &page {
            *counts.entry(ciphertext_version(ct)?).or_insert(0) += 1;
        }
    }
    if !counts.is_empty() {
        out.push(("(consent evidence)".to_owned(), counts));
    }
    Ok(out)
}

/// Stored ciphertexts of a tenant per key version.
pub async fn records_by_version(
    store: &dyn Store,
    tenant_id: u64,
) -> VaultResult<HashMap<KeyVersion, u64>> {
    let mut total = HashMap::new();
    for (_, counts) in census(store, tenant_id).await? {
        for (version, n) in counts {
            *total.entry(version).or_insert(0) += n;
        }
    }
    Ok(total)
}

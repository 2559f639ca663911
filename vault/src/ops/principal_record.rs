//! Changing a stored principal safely across nodes: read, edit, compare-and-swap, and again if
//! another request changed it in between — so a revocation racing a claim or a certificate
//! binding is never lost.

use crate::{
    app::App,
    error::{VaultError, VaultResult},
    store::records::PrincipalRecord,
};

/// Applies `edit` to the stored principal `id` by compare-and-swap, re-reading and trying again
/// when another request (on any node) changed it in between; returns the stored result.
pub(crate) async fn change(
    app: &App,
    id: &str,
    mut edit: impl FnMut(&mut PrincipalRecord) -> VaultResult<()>,
) -> VaultResult<PrincipalRecord> {
    for _ in 0..16 {
        // Checked before it is edited: a tampered record is never sealed anew.
        let current = app
            .principal(id)
            .await?
            .ok_or_else(|| VaultError::NotFound("id: no such principal".into()))?;
        let mut next = current.clone();
        edit(&mut next)?;
        if next == current {
            return Ok(current);
        }
        if let Some(stored) = app.replace_principal(&current, &next).await? {
            return Ok(stored);
        }
    }
    Err(VaultError::Aborted(
        "id: the principal kept changing; try again".into(),
    ))
}

//! Whether two principals can be two people. The vault cannot see people, only who could have
//! held a principal's token: its holder, and — when the token was handed to the creator rather
//! than chosen by the holder through an enrolment code — whoever could hold the creator's token,
//! up the chain of creators. Two principals are independent when no one is in both sets.
//!
//! So a tenant-admin who creates two key officers and keeps both tokens cannot approve one with
//! the other, an operator cannot approve with an operator it made, and an approver made after the
//! request was filed does not count. An enrolment code claimed by its creator is not visible
//! here; it is visible to the person the code was meant for, whose claim is then refused.

use crate::{
    app::App,
    error::{VaultError, VaultResult},
    store::records::{PendingOpRecord, PrincipalRecord},
};

/// Longest creator chain followed; real ones are a handful deep, and a loop in stored data
/// must not hang a request.
const MAX_DEPTH: usize = 64;

/// Everyone who could hold `principal`'s token: itself, then its creator's holders unless it was
/// enrolled (its token chosen by the one who claimed it).
pub async fn holders(app: &App, principal: &PrincipalRecord) -> VaultResult<Vec<String>> {
    let mut out = vec![principal.id.clone()];
    let mut current = principal.clone();
    while current.enrolled_ms == 0 && !current.created_by.is_empty() {
        if out.len() >= MAX_DEPTH || out.contains(&current.created_by) {
            break;
        }
        out.push(current.created_by.clone());
        match app.principal(&current.created_by).await? {
            Some(next) => current = next,
            None => break,
        }
    }
    Ok(out)
}

/// Refuses unless `approver` is a second person for `op`: a different principal whose possible
/// holders share no one with the requester's, and which could act before the request was filed.
pub async fn check(app: &App, op: &PendingOpRecord, approver: &PrincipalRecord) -> VaultResult<()> {
    let refuse = |why: &str| {
        Err(VaultError::PermissionDenied(format!(
            "two-person rule: {why}; an independent second principal must approve"
        )))
    };
    if approver.id == op.requested_by {
        return refuse("the requester cannot approve its own request");
    }
    if approver.created_ms.max(approver.enrolled_ms) > op.requested_ms {
        return refuse("the approver was created or enrolled after the request was filed");
    }
    let Some(requester) = app.principal(&op.requested_by).await? else {
        return refuse("the requester is gone");
    };
    let theirs = holders(app, &requester).await?;
    let mine = holders(app, approver).await?;
    if let Some(shared) = mine.iter().find(|id| theirs.contains(id)) {
        return if *shared == approver.id {
            refuse("the approver created the requester and held its token")
        } else if *shared == requester.id {
            refuse("the requester created the approver and held its token")
        } else {
            refuse("both tokens were handed to the same creator")
        };
    }
    Ok(())
}

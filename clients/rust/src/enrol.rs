//! Enrolment: turning a code into a token, and creating a principal whatever the vault asks for
//! (a token at once, a code to claim, or — under the two-person rule — an approval first).

use crate::{ClientError, Valv, pb};

impl Valv {
    /// Claims an enrolment code (`valvenrol_…`); returns a client for the enrolled principal and
    /// its bearer token (shown once: keep it).
    pub async fn enrol(&self, code: &str) -> Result<(Self, String), ClientError> {
        let r = self
            .admin()
            .claim_enrolment(pb::ClaimEnrolmentRequest { code: code.into() })
            .await?
            .into_inner();
        Ok((self.with_token(&r.token)?, r.token))
    }

    /// Creates a principal and returns its token, for automation that holds every part itself
    /// (set-up scripts, benchmarks, tests): a returned code is claimed here, and a request that
    /// waits for a second person is approved by `approver` first. Never use this where the
    /// principal is meant for someone else — hand them the enrolment code instead.
    pub async fn create_principal_token(
        &self,
        request: pb::CreatePrincipalRequest,
        approver: Option<&Valv>,
    ) -> Result<String, ClientError> {
        let r = self.admin().create_principal(request).await?.into_inner();
        if r.pending_operation_id > 0 {
            let approver = approver.ok_or_else(|| {
                ClientError::Protocol(format!(
                    "operation {} needs a second principal's approval",
                    r.pending_operation_id
                ))
            })?;
            approver
                .keys()
                .approve_operation(pb::ApproveOperationRequest {
                    id: r.pending_operation_id,
                })
                .await?;
        }
        match r.enrolment {
            Some(e) => Ok(self.enrol(&e.code).await?.1),
            None => Ok(r.token),
        }
    }
}

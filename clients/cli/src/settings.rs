//! `valvctl tenant settings`: show or change the caller's tenant settings — the age of consent
//! and the per-principal quota of new identifiers.

use std::process::ExitCode;

use serde_json::json;
use valv_client::{Valv, pb};

/// What to change (each `None` stays as it is).
#[derive(Debug, Clone, Copy, Default)]
pub struct Change {
    pub age_of_consent: Option<u32>,
    pub new_identifiers_per_hour: Option<u64>,
    pub new_identifiers_warning_per_hour: Option<u64>,
    pub requests_per_second: Option<u64>,
}

/// A quota for people: `no limit` for 0.
fn quota(n: u64) -> String {
    match n {
        0 => "no limit".to_owned(),
        n => n.to_string(),
    }
}

/// Runs `valvctl tenant settings`.
pub async fn run(valv: &Valv, json: bool, change: Change) -> anyhow::Result<ExitCode> {
    let s = if change.age_of_consent.is_none()
        && change.new_identifiers_per_hour.is_none()
        && change.new_identifiers_warning_per_hour.is_none()
        && change.requests_per_second.is_none()
    {
        valv.admin()
            .get_tenant_settings(pb::GetTenantSettingsRequest {})
            .await?
            .into_inner()
    } else {
        valv.admin()
            .set_tenant_settings(pb::SetTenantSettingsRequest {
                age_of_consent: change.age_of_consent.unwrap_or(0),
                new_identifiers_per_hour: change.new_identifiers_per_hour,
                new_identifiers_warning_per_hour: change.new_identifiers_warning_per_hour,
                requests_per_second: change.requests_per_second,
            })
            .await?
            .into_inner()
    };
    if json {
        println!(
            "{}",
            json!({"age_of_consent": s.age_of_consent,
                   "new_identifiers_per_hour": s.new_identifiers_per_hour,
                   "new_identifiers_warning_per_hour": s.new_identifiers_warning_per_hour,
                   "requests_per_second": s.requests_per_second})
        );
    } else {
        println!("age of consent: {}", s.age_of_consent);
        println!(
            "new identifiers per principal and hour: {}",
            quota(s.new_identifiers_per_hour)
        );
        println!("warning at: {}", quota(s.new_identifiers_warning_per_hour));
        println!(
            "calls per principal and second, on each node: {}",
            quota(s.requests_per_second)
        );
    }
    Ok(ExitCode::SUCCESS)
}

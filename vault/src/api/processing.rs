//! The record of processing (`AdminService.GetRecordOfProcessing`) as the wire shows it.

use valv_proto::v1 as pb;

use super::{convert, keys::version_info};
use crate::{app::App, ops::processing::ProcessingRecord};

/// Record → wire.
pub fn record(app: &App, r: &ProcessingRecord) -> pb::RecordOfProcessing {
    let purposes = r
        .purposes
        .iter()
        .map(|p| pb::ProcessingPurpose {
            purpose: Some(convert::purpose(&p.purpose)),
            current_text: p.current_text.as_ref().map(convert::consent_text),
            consents_granted: p.consents[0],
            consents_withdrawn: p.consents[1],
            consents_expired: p.consents[2],
            reidentifiers: p.reidentifiers.clone(),
        })
        .collect();
    let domains = r
        .domains
        .iter()
        .map(|d| pb::ProcessingDomain {
            domain: Some(convert::domain(&d.domain)),
            mappings: d.mappings,
            purposes: d.purposes.clone(),
        })
        .collect();
    let tenant_key_versions = r
        .key_versions
        .iter()
        .map(|v| version_info(app, v))
        .collect();
    pb::RecordOfProcessing {
        tenant: Some(convert::tenant(&r.tenant)),
        generated_unix_ms: r.generated_ms,
        purposes,
        domains,
        record_policies: r.policies.iter().map(convert::record_policy).collect(),
        sharing_agreements: r.agreements.iter().map(convert::agreement).collect(),
        keys: Some(pb::ProcessingKeys {
            root_provider: r.root.provider.to_owned(),
            root_fit_for_production: r.root.fit_for_production,
            unseal_threshold: r.root.threshold,
            unseal_shares: r.root.shares,
            tenant_key_versions,
        }),
        measures: r
            .measures
            .iter()
            .map(|(name, description)| pb::ProcessingMeasure {
                name: name.clone(),
                description: description.clone(),
            })
            .collect(),
        settings: Some(pb::TenantSettings {
            age_of_consent: r.settings.age_of_consent,
            new_identifiers_per_hour: r.settings.new_identifiers_per_hour,
            new_identifiers_warning_per_hour: r.settings.new_identifiers_warning_per_hour,
            requests_per_second: r.settings.requests_per_second,
        }),
        principals: r
            .principals
            .iter()
            .map(|(role, n)| pb::RoleCount {
                role: convert::role_out(*role).into(),
                principals: *n,
            })
            .collect(),
        audit: Some(pb::ProcessingAudit {
            entries: r.audit.entries,
            checkpoints: r.audit.checkpoints,
            last_checkpoint_unix_ms: r.audit.last_checkpoint_ms,
        }),
    }
}

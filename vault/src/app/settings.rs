//! A tenant's settings in force: what the tenant set, else the server's defaults (`Limits`).
//! One place for the rule, used by the settings use cases and by the quotas.

use super::App;
use crate::store::records::{DEFAULT_AGE_OF_CONSENT, TenantRecord};

/// A tenant's settings in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Below this age a consent needs a guardian.
    pub age_of_consent: u32,
    /// New identifiers per principal and hour (0: no limit).
    pub new_identifiers_per_hour: u64,
    /// Its warning threshold (0: never).
    pub new_identifiers_warning_per_hour: u64,
    /// Calls per principal and second on each node (0: no limit).
    pub requests_per_second: u64,
}

impl App {
    /// The settings of `t` in force.
    pub fn settings_of(&self, t: &TenantRecord) -> Settings {
        Settings {
            age_of_consent: match t.age_of_consent {
                0 => DEFAULT_AGE_OF_CONSENT,
                a => a,
            },
            new_identifiers_per_hour: t
                .new_identifiers_per_hour
                .unwrap_or(self.limits.new_identifiers_per_hour),
            new_identifiers_warning_per_hour: t
                .new_identifiers_warning_per_hour
                .unwrap_or(self.limits.new_identifiers_warning_per_hour),
            requests_per_second: t
                .requests_per_second
                .unwrap_or(self.limits.requests_per_second),
        }
    }
}

//! The gRPC methods this server answers, as labels for metrics and logs. A request path that is
//! not one of them is `unknown`: whoever can reach the port cannot grow the metrics (one series
//! per label) or the log lines with paths they invent.

use std::{collections::HashSet, sync::OnceLock};

use prost::Message;

/// The label of every path that is not a served method.
pub const UNKNOWN: &str = "unknown";

/// Paths of the reflection service (its descriptors are not in the sets below).
const REFLECTION: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

fn known() -> &'static HashSet<&'static str> {
    static KNOWN: OnceLock<HashSet<&'static str>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut out: HashSet<&'static str> = REFLECTION.into_iter().collect();
        for set in [
            valv_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(files) = prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in files.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let name = service.name.unwrap_or_default();
                    for method in service.method {
                        let path = format!("/{package}.{name}/{}", method.name.unwrap_or_default());
                        // Built once, from the compiled-in descriptors: a fixed, small set.
                        out.insert(Box::leak(path.into_boxed_str()));
                    }
                }
            }
        }
        out
    })
}

/// `path` if it is a method this server answers, else [`UNKNOWN`].
pub fn label(path: &str) -> &'static str {
    known().get(path).copied().unwrap_or(UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_keep_their_name_and_everything_else_is_unknown() {
        assert_eq!(
            label("/valv.v1.PseudonymService/Pseudonymise"),
            "/valv.v1.PseudonymService/Pseudonymise"
        );
        assert_eq!(
            label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(
            label("/valv.v1.AdminService/ClaimEnrolment"),
            "/valv.v1.AdminService/ClaimEnrolment"
        );
        assert_eq!(label("/valv.v1.PseudonymService/Invented"), UNKNOWN);
        assert_eq!(label(&"/x".repeat(1000)), UNKNOWN);
        assert!(known().len() > 50, "{}", known().len());
    }
}

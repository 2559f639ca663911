//! The end-to-end suite in one test binary (one link instead of one per capability): each
//! module tests one capability against real servers on loopback ports.

mod access;
mod audit;
mod audit_scale;
mod bad_input;
mod cli_help;
mod clients;
mod cluster;
mod cluster_jobs;
mod consents;
mod contract;
mod doc_blocks;
mod docs;
mod durability;
mod fail_closed;
mod failover;
mod format_preserving;
mod hostile;
mod integrity;
mod keys;
mod metrics;
mod migrate;
mod new_shares;
mod no_leak;
mod nobody_alone;
mod quotas;
mod readme_clients;
mod readme_walkthrough;
mod records;
mod retention;
mod sealed;
mod service;
mod subjects;
mod walkthrough;
mod witness;

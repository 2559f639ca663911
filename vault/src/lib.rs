//! Valv, the pseudonymisation and identifier vault: the server as a library, so tests and the
//! `valv` binary start the same thing.
//!
//! Lifecycle: [`config`] → [`bootstrap`] (data directory, root key, store, first operator, TLS
//! material) → [`server`] (bind, serve gRPC, drain on signal). Requests go
//! `api` (gRPC, thin) → [`ops`] (use cases) → [`jobs`], [`authz`], [`app`] (shared state),
//! [`audit`], [`keys`] → [`engine`] (pure) → [`store`] → [`model`]; the layers and who owns what
//! are in ARCHITECTURE.md, checked by `tools/import_graph.py`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod audit;
pub mod authz;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod keys;
pub mod model;
pub mod observe;
pub mod ops;
pub mod server;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod tls;

//! Valv, the pseudonymisation and identifier vault: the server as a library, so tests and the
//! `valv` binary start the same thing.
//!
//! Lifecycle: [`config`] → [`bootstrap`] (data directory, root key, store, first operator, TLS
//! material) → [`server`] (bind, serve gRPC, drain on signal). Requests go
//! `api` (gRPC, thin) → [`authz`] → [`ops`] (use cases) → [`engine`] (pure) + [`store`] + [`audit`].

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod audit;
pub mod authz;
pub mod bootstrap;
pub mod cli;
pub mod config;
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

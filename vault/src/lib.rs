//! Valv, the pseudonymisation and identifier vault: the server as a library, so tests and the
//! `valv` binary start the same thing.

#![forbid(unsafe_code)]

pub mod engine;
pub mod store;

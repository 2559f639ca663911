//! The Valv wire contract, package `valv.v1`, generated from `proto/valv/v1/*.proto`.
//!
//! Both the server (`valv`) and the clients depend on this crate only, so the `.proto` files are
//! the single source of truth for field names, numbers and documentation.

#![deny(missing_docs)]

/// Generated messages and services of `valv.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("valv.v1");
}

pub mod audit;
pub mod codec;
pub mod receipt;
pub mod witness;

/// The encoded `FileDescriptorSet` of `valv.v1`, served through gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("valv_descriptor");

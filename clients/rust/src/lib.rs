//! Rust client for Valv, the pseudonymisation and identifier vault.
//!
//! [`Valv`] holds one TLS connection. Every RPC of every service is a typed method on the
//! service clients it hands out ([`Valv::admin`], [`Valv::pseudonyms`], [`Valv::consents`],
//! [`Valv::subjects`], [`Valv::audit`], [`Valv::keys`], [`Valv::retention`], [`Valv::seal`]),
//! with the request and response messages in [`pb`]. The bulk calls have methods on [`Valv`]
//! itself that split any number of items into requests within the server's limits, keep several
//! in flight, and retry on `UNAVAILABLE`: [`Valv::pseudonymise`], [`Valv::reidentify`],
//! [`Valv::pseudonymise_records`], [`Valv::reidentify_records`]. Any other call gets the same
//! retries through [`Valv::retry`].
//!
//! ```no_run
//! use valv_client::{ClientConfig, Valv};
//!
//! # async fn demo() -> Result<(), valv_client::ClientError> {
//! // VALV_ADDR, VALV_TOKEN (or VALV_TOKEN_FILE) and VALV_CA, or the builder:
//! let config = ClientConfig::new("https://vault.example.org:7443")
//!     .with_ca_file("ca.pem")?
//!     .with_token_file("tokenizer.token")?;
//! let valv = Valv::connect(config).await?;
//! let out = valv.pseudonymise("patients", &["19520903-5525", "20031116-1632"]).await?;
//! for result in out.results {
//!     match result {
//!         Ok(pseudonym) => println!("{pseudonym}"),
//!         Err(e) => eprintln!("{}: {}", e.field, e.rule),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Examples that run against a vault are in `clients/rust/examples/`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chunk;
mod client;
mod config;
mod enrol;
mod error;
mod retry;

pub use client::{Auth, AuthChannel, Pseudonymised, RecordsPseudonymised, Valv};
pub use config::{ClientConfig, DEFAULT_ADDR, RetryPolicy, read_token};
pub use error::ClientError;
pub use retry::retry;
/// The wire messages and generated service clients of `valv.v1`.
pub use valv_proto::v1 as pb;

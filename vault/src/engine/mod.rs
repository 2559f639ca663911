//! The engine: pure logic, no I/O. Normalising identifiers, deriving pseudonyms, consent and
//! re-identification rules, names. Everything here is a function of its inputs, keys and an
//! injected clock, so it is unit- and property-tested without a server.

pub mod batch;
pub mod clock;
pub mod consent;
pub mod date;
pub mod identifier;
pub mod integrity;
pub mod mapping_bound;
pub mod names;
pub mod record;
pub mod refusals;
pub mod release;
pub mod reserved;
pub mod scheme;
pub mod subject;
pub mod widening;

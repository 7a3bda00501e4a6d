//! The OMS v2 wire types: request and response bodies with the exact JSON names of the API.
//!
//! Requests keep every field optional and loosely typed, so that a missing or wrong field is
//! reported by [`crate::parse`] with the field's name instead of by a generic decoding error.
//! Unknown fields are ignored, as SDKs send newer fields. Secrets deserialize straight into
//! [`secrecy::SecretString`], so a request's `Debug` output cannot leak them.
//!
//! Their OpenAPI schemas still say what [`crate::parse`] requires: which fields must be given,
//! lengths, patterns, ranges and values (`#[schema(...)]`, and [`schema`] for what attributes
//! cannot state).

mod catalogue;
mod from_model;
mod request;
mod response;
pub mod schema;
mod sync;

pub use catalogue::*;
pub use request::*;
pub use response::*;
pub use sync::*;

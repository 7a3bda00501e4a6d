//! The OMS domain, free of I/O.
//!
//! Everything the API and the engine agree on lives here: identifiers, the task and task-group
//! state machines, migration specs and their validation, bandwidth windows, credentials (as
//! secrets), the OMS v2 wire types and the OMS error codes. A request is parsed into a domain
//! value once, at the edge ([`parse`]); the rest of the code trusts the types.

pub mod bandwidth;
pub mod credentials;
pub mod error;
pub mod ids;
pub mod listfile;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod policy;
pub mod signing;
pub mod spec;
pub mod status;
pub mod sync;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod text;
pub mod time;
pub mod wire;

pub use error::{ErrorCode, TransitionError, ValidationError};

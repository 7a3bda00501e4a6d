//! `SDK-HMAC-SHA256` request signing: the one implementation lives in [`oms_core::signing`],
//! shared by the API (which verifies) and its clients (which sign); re-exported here where the
//! authenticator uses it.

pub use oms_core::signing::*;

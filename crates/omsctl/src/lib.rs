//! `omsctl`: the OMS command line. It talks to omsd over the REST API only — requests signed
//! with `SDK-HMAC-SHA256` by the same code the API verifies them with (`oms_core::signing`), or
//! sent with a token — and never links the server.
//!
//! `main.rs` is only [`cli::main`], so that the end-to-end tests build and drive the very same
//! program.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod create;
pub mod error;
pub mod keys;
pub mod output;
pub mod plan;
pub mod watch;

pub use error::CtlError;

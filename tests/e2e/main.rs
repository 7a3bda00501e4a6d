//! End-to-end tests: omsd in-process over real HTTP, on SQLite, or on PostgreSQL when
//! `OMS_TEST_DATABASE_URL` is set. `TEST_LOG=1` shows omsd's logs.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers of a test binary: a panic is a failed test"
)]
#![expect(
    unreachable_pub,
    reason = "a test binary exports nothing: `pub` in its modules marks the helpers the test \
              modules share, and `pub(crate)` on every one of them would say nothing more"
)]

mod auth;
mod availability;
mod catalogue;
mod conformance;
mod engine;
mod groups;
mod metrics;
mod notify;
mod omsctl;
mod persistence;
mod security;
mod service;
mod support;
mod sync;
mod sync_intake;
mod tasks;
mod terraform;
mod validation;

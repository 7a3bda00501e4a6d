//! End-to-end tests: omsd in-process over real HTTP, on SQLite, or on PostgreSQL when
//! `OMS_TEST_DATABASE_URL` is set. `TEST_LOG=1` shows omsd's logs.

mod auth;
mod fixtures;
mod groups;
mod harness;
mod persistence;
mod service;
mod tasks;
mod validation;

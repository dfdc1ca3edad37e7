//! The server as Canvas and operators use it: every route, every status code, tenant
//! isolation, content scopes, degraded mode, metrics — on SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    unreachable_pub,
    reason = "a failed unwrap is a failed test"
)]

mod helpers;

mod artifacts;
mod auth;
mod canvas;
mod compare;
mod connections;
mod cors;
mod cost;
mod deletion;
mod demo;
mod downloads;
mod executions;
mod export;
mod ingest;
mod jwks;
mod live;
mod ops;
mod orcheo_tokens;
mod own_spans;
mod redaction;
mod restart;
mod runs_by_trace;
mod schema;
mod store_search;
mod tenancy;
mod traces;
mod viewer;

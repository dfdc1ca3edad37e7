//! The Orcheo Trace server: what Canvas calls and operators deploy.
//!
//! - [`config`]: the server's settings (env vars and flags), validated before anything starts;
//! - [`startup`]: [`startup::Application`] binds, wires the state and runs the HTTP server;
//! - [`auth`]: bearer tokens (JWT, static) → a [`auth::Caller`] with a tenant and scopes;
//! - [`jwks`]: an identity provider's keys (a JWKS URL, cached, or a file) for [`auth`];
//! - [`cors`]: the browser origins allowed to call the API;
//! - [`artifact_links`]: signed artifact references, downloads without a header;
//! - `routes`: one module per group of endpoints; [`error`]: the one error envelope;
//! - [`observe`]: request ids, logs and HTTP metrics around every request;
//! - [`otlp_http`]: the OTLP/HTTP receiver's web side (the receivers themselves, and the span
//!   writer, are the `orcheo-ingest` crate; traces are served by `orcheo-trace-service`);
//! - [`live`]: live trace updates over WebSocket;
//! - [`viewer`]: serves the Trace tab (the `orcheo-trace-viewer` crate's page) at `/`.
//!
//! Invariants: handlers never block an async worker (database calls and normalization run on
//! the blocking pool); every answer, errors included, carries the request id; a caller never
//! learns that another tenant's execution exists.
#![forbid(unsafe_code)]

pub mod artifact_links;
pub mod auth;
pub mod config;
pub mod cors;
pub mod demo;
pub mod error;
pub mod export_set;
pub mod jwks;
pub mod live;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod otlp_http;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod viewer;

pub use config::ServerConfig;
pub use startup::Application;

//! Portcullis: a self-hosted mTLS reverse proxy gateway, the API Gateway "front door" on your own
//! machines.
//!
//! Data flows one way: listener -> TLS -> identity -> router -> forwarder -> upstream pool.

// In the library only: test helpers are `pub` for their own crate, and the binary and the
// load generator print; the library returns what it has to say.
#![warn(unreachable_pub, clippy::print_stdout, clippy::print_stderr)]

pub mod access_format;
pub mod access_log;
pub mod admin;
pub mod authz;
pub mod body;
pub mod checks;
pub mod config;
pub mod error;
pub mod file_read;
pub mod forward;
pub mod framing;
pub mod mapping;
pub mod metrics;
pub mod openapi;
pub mod path;
pub mod percent;
pub mod reload;
pub mod routing;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod tls;
pub mod tools;
pub mod upstream;
pub mod worker;

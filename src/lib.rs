//! Portcullis: a self-hosted mTLS reverse proxy gateway, the API Gateway "front door" on your own
//! machines.
//!
//! Data flows one way: listener -> TLS -> identity -> router -> forwarder -> upstream pool.

pub mod admin;
pub mod authz;
pub mod body;
pub mod checks;
pub mod config;
pub mod demo;
pub mod error;
pub mod explain;
pub mod file_read;
pub mod forward;
pub mod framing;
pub mod lint;
pub mod metrics;
pub mod path;
pub mod pki;
pub mod probe;
pub mod reload;
pub mod routing;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod upstream;

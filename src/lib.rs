//! Portcullis: a self-hosted mTLS reverse proxy gateway, the API Gateway "front door" on your own
//! machines.
//!
//! Data flows one way: listener -> TLS -> identity -> router -> forwarder -> upstream pool.

pub mod config;
pub mod path;
pub mod routing;
pub mod tls;
pub mod body;
pub mod error;
pub mod forward;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod upstream;
pub mod pki;
pub mod server;
pub mod demo;
pub mod shutdown;
pub mod framing;

//! Portcullis: a self-hosted mTLS reverse proxy gateway, the API Gateway "front door" on your own
//! machines.
//!
//! Data flows one way: listener -> TLS -> identity -> router -> forwarder -> upstream pool.

pub mod config;
pub mod path;
pub mod routing;

//! The end-to-end suite: one test binary, one module per family of behaviour, over one set of
//! fixtures in `support` (PKI, configuration, gateway, upstream, client).

mod support;

mod architecture;
mod authorization;
mod config;
mod explain;
mod files;
mod forwarding;
mod front_door;
mod h2;
mod mtls;
mod openapi;
mod ops;
mod pki;
mod pool;
mod properties;
mod proxy_protocol;
mod reload;
mod routing;
mod throttling;
mod tls;
mod truststore;
mod upstream;
mod workers;

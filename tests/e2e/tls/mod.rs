//! TLS on the listeners: ALPN, versions, handshake timeout, no session resumption.

mod alpn_negotiates_h2_and_http11;
mod default_endpoint_serves_without_client_certificates;
mod handshake_timeout_closes_silent_client;
mod min_version_per_domain;
mod session_resumption_is_disabled;

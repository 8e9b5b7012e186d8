//! Upstream connections: HTTPS with a pool CA, mTLS to the upstream, malformed responses.

mod https_uses_pool_ca;
mod malformed_responses_are_502;
mod mtls_presents_client_certificate;

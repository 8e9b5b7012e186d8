//! `portcullis explain`: a client certificate's verdict and reason, as the handshake gives them.

mod accepts_good_client_and_shows_identity;
mod json_output_parses;
mod names_missing_intermediate_until_chain_is_sent;
mod reason_matches_handshake_log;
mod rejects_client_under_revoked_intermediate;
mod rejects_client_without_client_auth;
mod rejects_expired_client_and_honours_at;
mod rejects_not_yet_valid_client;
mod rejects_revoked_client_citing_crl;
mod rejects_unknown_issuer_listing_truststore;
mod unknown_domain_exits_2_listing_domains;

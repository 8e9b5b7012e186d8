//! Client certificate verification on the listeners: who gets in, who is refused, and why.

mod chain_depth_and_large_truststores;
mod crl_absent_for_issuer_is_not_a_refusal;
mod crl_without_crl_number_is_accepted_or_refused_by_name;
mod good_client_reaches_upstream;
mod refusal_is_logged_with_reason;
mod rejects_client_without_client_auth_eku;
mod rejects_expired_client;
mod rejects_missing_client_certificate;
mod rejects_not_yet_valid_client;
mod rejects_revoked_client;
mod rejects_unknown_issuer;
mod sni_selects_domain_and_truststore;

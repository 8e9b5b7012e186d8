//! `portcullis pki`: init, issue, list and revoke, checked with x509-parser, openssl and curl.

mod init_builds_hierarchy_truststore_and_empty_crls;
mod init_key_algorithms;
mod init_levels_out_of_range_refused;
mod init_never_overwrites_without_force;
mod issue_client_and_server_certificates;
mod issue_encrypted_key_works_with_openssl_and_curl;
mod list_shows_cas_and_revoked_certificates;
mod revoke_unknown_serial_fails;
mod round_trip_revoke_and_reload_refuses_client;

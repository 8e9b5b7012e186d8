//! Reloads: validate then swap, file watching, listener rebinding, no request lost, the
//! access log's new path.

mod a_live_connection_logs_the_reloaded_names;
mod access_log_follows_a_new_path;
mod broken_config_keeps_serving;
mod file_change_applies_new_truststore;
mod rebinds_only_changed_listeners;
mod removed_domain_closes_its_connections;
mod under_load_drops_nothing;

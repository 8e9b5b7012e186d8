//! The front door: hostile requests, ambiguous framing, slow clients, limits in time and size.

mod ambiguous_framing_refused;
mod body_error_discards_the_upstream_connection;
mod client_trickling_is_cut_off;
mod early_answers_survive_the_rest_of_the_body;
mod header_timeout_spares_idle_keepalive;
mod max_connection_age_closes_old_connections;
mod path_traversal_refused;
mod refuses_hostile_requests;
mod responses_are_bounded_in_time;

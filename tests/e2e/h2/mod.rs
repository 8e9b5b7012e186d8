//! HTTP/2 connections: GOAWAY, pings and header blocks under the front-door limits.

mod connections_end_even_if_the_client_ignores_goaway;
mod early_answers_reach_the_client;
mod header_block_obeys_header_read_timeout;

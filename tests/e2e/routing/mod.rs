//! Routing: base path mappings, stage variables, greedy and parameter routes.

mod base_path_mappings_and_stage_variables;
mod closed_routes_answer_as_aws;
mod greedy_proxy_and_precedence;
mod mock_routes_answer_statically;
mod routing_rules_pick_the_stage;

//! What reaches the upstream and what comes back: headers, identity, bodies, gateway responses.

mod gateway_responses_are_customised;
mod gateway_responses_match_api_gateway;
mod identity_headers_are_chosen_per_domain_and_route;
mod large_bodies_stream_both_ways;
mod request_parameters_are_mapped;
mod strips_hop_by_hop_and_sets_forwarded_headers;
mod xfcc_replaces_spoofed_client_cert_headers;

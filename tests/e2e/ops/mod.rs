//! Operations: admin and metrics, access log, drain on SIGTERM, `check --probe`, the README curl.

mod access_log_line_per_request;
mod access_log_takes_an_aws_format;
mod admin_endpoints_and_metrics;
mod check_probe_reports_each_target;
mod curl_readme_example_works;
mod graceful_drain_on_sigterm;

//! Operations: admin and metrics, access log (its line, format, file, buffering, rotation and
//! drops), drain on SIGTERM, `check --probe`, the README curl.

mod access_log_blocked_destination_drops_and_counts;
mod access_log_file_keeps_every_line;
mod access_log_is_written_by_size_and_by_time;
mod access_log_line_per_request;
mod access_log_reopens_on_sighup;
mod access_log_takes_an_aws_format;
mod admin_endpoints_and_metrics;
mod check_probe_reports_each_target;
mod curl_readme_example_works;
mod graceful_drain_on_sigterm;

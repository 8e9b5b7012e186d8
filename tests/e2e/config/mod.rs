//! Configuration files: `portcullis check` names every problem, and the shipped examples are valid.

mod check_reports_config_errors;
mod examples_are_valid;

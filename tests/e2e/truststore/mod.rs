//! Truststores: the linter's findings and the loader's refusals.

mod lint_findings;
mod loader_refuses_unusable_bundles;

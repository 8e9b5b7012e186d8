//! Upstream pools: balancing, health checks, retries, limits.

mod fails_open_when_all_unhealthy;
mod health_checks_eject_and_restore;
mod least_requests_and_limits;
mod retries_idempotent_requests_only;
mod round_robin_and_passive_health;
mod state_survives_reload;

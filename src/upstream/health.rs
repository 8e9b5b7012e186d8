//! Active health checks: each target of a pool with `health_check` is checked on an interval
//! (HTTP `GET path`, or a TCP connect) and marked unhealthy or healthy again after thresholds.

use std::sync::{Arc, Weak};

use super::pool::{Pool, Target};
use crate::body::RequestBody;
use crate::config::{HealthCheck, Scheme};

/// Check target `i` of a pool until the pool is dropped (replaced by a reload); the verdict
/// lives in the target's runtime state, so the next pool's loop picks up where this one was.
pub(super) async fn health_loop(pool: Weak<Pool>, i: usize, hc: HealthCheck) {
    let mut successes = 0u32;
    let mut failures = 0u32;
    let mut tick = tokio::time::interval(hc.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let target = &pool.targets[i];
        if probe(&pool, target, &hc).await {
            successes += 1;
            failures = 0;
            if !target.is_healthy() && successes >= hc.healthy_threshold && target.set_healthy(true)
            {
                tracing::info!(pool = %pool.name, target = %target.authority, zone = %target.zone, "target healthy again");
            }
        } else {
            failures += 1;
            successes = 0;
            if target.is_healthy()
                && failures >= hc.unhealthy_threshold
                && target.set_healthy(false)
            {
                tracing::warn!(pool = %pool.name, target = %target.authority, zone = %target.zone, "target unhealthy: health checks failing");
            }
        }
        drop(pool);
    }
}

async fn probe(pool: &Arc<Pool>, target: &Target, hc: &HealthCheck) -> bool {
    let check = async {
        match &hc.path {
            None => tokio::net::TcpStream::connect(target.authority.as_str())
                .await
                .is_ok(),
            Some(path) => {
                let scheme = if pool.https {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                let Ok(req) = http::Request::get(path.as_str())
                    .header(http::header::HOST, target.local().1.clone())
                    .header(http::header::USER_AGENT, "portcullis-health-check")
                    .body(RequestBody::empty())
                else {
                    return false;
                };
                // A pool reached only through one VPC link name verifies that name here too.
                // The health checks run on worker 0's runtime, over worker 0's client.
                let client = match pool.named.values().next() {
                    Some(named) if pool.named.len() == 1 => named,
                    _ => &pool.client,
                }
                .current();
                match client.send(scheme, &target.authority, req).await {
                    Ok((resp, _)) => resp.status().is_success() || resp.status().is_redirection(),
                    Err(_) => false,
                }
            }
        }
    };
    tokio::time::timeout(hc.timeout, check)
        .await
        .unwrap_or(false)
}

//! Throttling and usage plans, API Gateway's way: `[throttling]`, stage and route token
//! buckets, `[usage_plan.NAME]` with API keys or client identities, `[rate_limit]` store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ErrorSink;

/// Gateway-wide rate when `[throttling]` is absent: AWS's account default, requests a second.
pub const DEFAULT_GATEWAY_RATE: f64 = 10_000.0;
/// Gateway-wide burst when `[throttling]` is absent: AWS's account default.
pub const DEFAULT_GATEWAY_BURST: u64 = 5_000;
/// Largest rate or burst accepted.
pub const MAX_THROTTLE: f64 = 1e9;
/// Largest quota limit accepted.
pub const MAX_QUOTA: u64 = 1 << 48;
/// Longest a call to the shared store may take before the request is decided locally.
pub const DEFAULT_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

/// `rate, burst` as written (`[throttling]`, a stage's, a route's, a plan's).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawThrottle {
    /// Requests a second, refilled continuously.
    pub rate: Option<f64>,
    /// Most requests at once (bucket size).
    pub burst: Option<u64>,
}

/// `quota = { limit, period }` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawQuota {
    /// Requests per period.
    pub limit: Option<u64>,
    /// `DAY`, `WEEK` or `MONTH`.
    pub period: Option<String>,
}

/// One `[usage_plan.NAME]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawUsagePlan {
    /// Requests a second per key (or client).
    pub rate: Option<f64>,
    /// Burst per key (or client).
    pub burst: Option<u64>,
    /// Requests per period per key (or client).
    pub quota: Option<RawQuota>,
    /// File of API keys, one a line.
    pub api_keys_file: Option<PathBuf>,
    /// Client certificate identities the plan is bound to.
    #[serde(default)]
    pub clients: Vec<super::authorization::RawRule>,
    /// `API/STAGE` names the plan covers.
    #[serde(default)]
    pub stages: Vec<String>,
}

/// `[rate_limit]` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRateLimit {
    /// `redis://HOST:PORT`: buckets and quotas shared by every replica.
    pub store: Option<String>,
    /// `allow` (default: serve on local buckets) or `deny` when the store is unreachable.
    pub store_failure: Option<String>,
    /// Longest one store call may take, in milliseconds.
    pub store_timeout_ms: Option<u64>,
}

/// A token bucket: `rate` tokens a second, at most `burst` held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Tokens added a second.
    pub rate: f64,
    /// Bucket size.
    pub burst: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            rate: DEFAULT_GATEWAY_RATE,
            burst: DEFAULT_GATEWAY_BURST,
        }
    }
}

/// A quota's period, as AWS's usage plans count: calendar periods in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// From 00:00 UTC.
    Day,
    /// From Monday 00:00 UTC.
    Week,
    /// From the first of the month, 00:00 UTC.
    Month,
}

/// Requests allowed per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per period.
    pub limit: u64,
    /// The period.
    pub period: Period,
}

/// A usage plan, `[usage_plan.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsagePlan {
    /// Per-key (or per-client) bucket, when set.
    pub throttle: Option<Throttle>,
    /// Per-key (or per-client) quota, when set.
    pub quota: Option<Quota>,
    /// The API keys file, read when the snapshot is built and watched for changes.
    pub api_keys_file: Option<PathBuf>,
    /// Client identities bound to the plan, as authorization rules match them.
    pub clients: Vec<super::Rule>,
    /// (API, stage) pairs the plan covers.
    pub stages: Vec<(String, String)>,
}

/// What to do when the shared store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreFailure {
    /// Serve on the process's own buckets (logged and counted).
    #[default]
    Allow,
    /// Refuse with `THROTTLED`.
    Deny,
}

/// Where buckets and quotas live, `[rate_limit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitStore {
    /// `redis://HOST:PORT`.
    pub url: String,
    /// What an unreachable store means.
    pub failure: StoreFailure,
    /// Longest one call may take.
    pub timeout: std::time::Duration,
}

/// Throttling settings of the whole gateway.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Throttling {
    /// The gateway-wide bucket.
    pub gateway: Throttle,
    /// Usage plans by name.
    pub plans: BTreeMap<String, UsagePlan>,
    /// The shared store, when configured; the process's own memory otherwise.
    pub store: Option<RateLimitStore>,
}

/// A `rate, burst` pair under `key`: both required, each in range.
pub(crate) fn throttle(raw: &RawThrottle, key: &str, sink: &mut ErrorSink) -> Option<Throttle> {
    let rate = rate(raw.rate, &format!("{key}.rate"), sink, true);
    let burst = burst(raw.burst, &format!("{key}.burst"), sink, true);
    Some(Throttle {
        rate: rate?,
        burst: burst?,
    })
}

fn rate(v: Option<f64>, key: &str, sink: &mut ErrorSink, required: bool) -> Option<f64> {
    match v {
        None => {
            if required {
                sink.push(key, "missing required key");
            }
            None
        }
        Some(r) if r.is_finite() && (0.0..=MAX_THROTTLE).contains(&r) => Some(r),
        Some(r) => {
            sink.push(
                key,
                format!("{r} is out of range: requests a second, from 0 to {MAX_THROTTLE}"),
            );
            None
        }
    }
}

fn burst(v: Option<u64>, key: &str, sink: &mut ErrorSink, required: bool) -> Option<u64> {
    if v.is_none() && required {
        sink.push(key, "missing required key");
    }
    sink.ranged(key, v, 0, MAX_THROTTLE as u64)
}

/// `[throttling]`, `[usage_plan.*]` and `[rate_limit]`, checked; `stage_exists` says whether
/// an `API/STAGE` name is defined.
pub(crate) fn throttling(
    gateway: Option<&RawThrottle>,
    plans: &BTreeMap<String, RawUsagePlan>,
    store: Option<&RawRateLimit>,
    stage_exists: &dyn Fn(&str, &str) -> bool,
    sink: &mut ErrorSink,
) -> Throttling {
    let gateway = gateway
        .and_then(|g| throttle(g, "throttling", sink))
        .unwrap_or_default();
    let plans = plans
        .iter()
        .filter_map(|(name, p)| Some((name.clone(), usage_plan(name, p, stage_exists, sink)?)))
        .collect();
    Throttling {
        gateway,
        plans,
        store: store.and_then(|s| rate_limit(s, sink)),
    }
}

fn usage_plan(
    name: &str,
    raw: &RawUsagePlan,
    stage_exists: &dyn Fn(&str, &str) -> bool,
    sink: &mut ErrorSink,
) -> Option<UsagePlan> {
    let key = format!("usage_plan.{name}");
    let errors_before = sink.len();
    let throttle = match (raw.rate, raw.burst) {
        (None, None) => None,
        (r, b) => {
            let rate = rate(r, &format!("{key}.rate"), sink, true);
            let burst = burst(b, &format!("{key}.burst"), sink, true);
            rate.zip(burst)
                .map(|(rate, burst)| Throttle { rate, burst })
        }
    };
    let quota = raw.quota.as_ref().and_then(|q| {
        let qkey = format!("{key}.quota");
        if q.limit.is_none() {
            sink.push(format!("{qkey}.limit"), "missing required key");
        }
        let limit = sink.ranged(format!("{qkey}.limit"), q.limit, 0, MAX_QUOTA);
        let period = match q.period.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("DAY") => Some(Period::Day),
            Some("WEEK") => Some(Period::Week),
            Some("MONTH") => Some(Period::Month),
            Some(_) => {
                sink.push(
                    format!("{qkey}.period"),
                    format!(
                        "`{}` is not \"DAY\", \"WEEK\" or \"MONTH\"",
                        q.period.as_deref().unwrap_or_default()
                    ),
                );
                None
            }
            None => {
                sink.push(format!("{qkey}.period"), "missing required key");
                None
            }
        };
        Some(Quota {
            limit: limit?,
            period: period?,
        })
    });
    if raw.stages.is_empty() {
        sink.push(
            format!("{key}.stages"),
            "a usage plan needs at least one \"API/STAGE\"",
        );
    }
    let mut stages = Vec::new();
    for (i, s) in raw.stages.iter().enumerate() {
        match s.split_once('/') {
            Some((api, stage)) if stage_exists(api, stage) => {
                stages.push((api.to_owned(), stage.to_owned()))
            }
            Some(_) => sink.push(
                format!("{key}.stages[{i}]"),
                format!("`{s}`: no such API stage ([api.API.stages.STAGE])"),
            ),
            None => sink.push(
                format!("{key}.stages[{i}]"),
                format!("`{s}` is not \"API/STAGE\""),
            ),
        }
    }
    if raw.api_keys_file.is_none() && raw.clients.is_empty() {
        sink.push(
            key.clone(),
            "a usage plan needs `api_keys_file` or `clients` (who it applies to)",
        );
    }
    if let Some(f) = &raw.api_keys_file {
        if let Err(e) = std::fs::metadata(f) {
            sink.push(
                format!("{key}.api_keys_file"),
                format!("{}: {e}", f.display()),
            );
        }
    }
    let clients = raw
        .clients
        .iter()
        .enumerate()
        .filter_map(|(i, c)| super::authorization::rule(c, &format!("{key}.clients[{i}]"), sink))
        .collect();
    (sink.len() == errors_before).then(|| UsagePlan {
        throttle,
        quota,
        api_keys_file: raw.api_keys_file.clone(),
        clients,
        stages,
    })
}

fn rate_limit(raw: &RawRateLimit, sink: &mut ErrorSink) -> Option<RateLimitStore> {
    let failure = match raw.store_failure.as_deref() {
        None | Some("allow") => StoreFailure::Allow,
        Some("deny") => StoreFailure::Deny,
        Some(other) => {
            sink.push(
                "rate_limit.store_failure",
                format!("`{other}` is not \"allow\" or \"deny\""),
            );
            StoreFailure::Allow
        }
    };
    let timeout = sink
        .millis("rate_limit.store_timeout_ms", raw.store_timeout_ms)
        .unwrap_or(DEFAULT_STORE_TIMEOUT);
    let url = raw.store.as_ref()?;
    let valid = url
        .strip_prefix("redis://")
        .is_some_and(|rest| !rest.is_empty())
        && redis::Client::open(url.as_str()).is_ok();
    if !valid {
        // The URL may carry a password: never echo it.
        sink.push(
            "rate_limit.store",
            "not a `redis://HOST:PORT` address (the value is not shown: it may hold a password)",
        );
        return None;
    }
    Some(RateLimitStore {
        url: url.clone(),
        failure,
        timeout,
    })
}

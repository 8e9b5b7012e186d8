//! Throttling and usage plans, as API Gateway applies them after authorisation: token buckets
//! per gateway, stage and route, API keys and client identities bound to usage plans with their
//! own buckets and quotas; in this process, or shared by replicas through Redis.

mod bucket;
mod plan;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use http::HeaderMap;

use crate::authz::Caller;
use crate::config::{Config, ErrorSink, StoreFailure, Throttle, UsagePlan};
use crate::error::{Refused, RequestError};
use crate::metrics::{Metrics, ThrottleLabels};
use crate::routing::StageTarget;

pub use bucket::{LocalBucket, LocalQuota, MAX_RETRY_AFTER_SECS, period_bounds, retry_after};
pub use plan::{KeyDigest, MAX_API_KEY_LEN, MIN_API_KEY_LEN, read_keys};
pub use store::{QuotaCheck, RedisStore, STORE_RETRY_AFTER, Verdict};

/// The header API Gateway reads API keys from.
pub const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// What the gateway learns while it runs (bucket levels, quota counts, the store connection),
/// handed from snapshot to snapshot so a reload that keeps a bucket's settings keeps its level.
#[derive(Debug, Default)]
pub struct ThrottleRuntime {
    buckets: Mutex<HashMap<String, Weak<LocalBucket>>>,
    /// Per key (or client) plan buckets, by store key.
    plan_buckets: Mutex<PerClient<LocalBucket>>,
    /// Quota counters by plan and key (or client).
    quotas: Mutex<PerClient<LocalQuota>>,
    store: Mutex<Option<Arc<RedisStore>>>,
}

/// Entries per client kept before the first sweep of [`PerClient`].
const SWEEP_MIN: usize = 1024;

/// State kept per API key or client (plan buckets, quota counters). An entry that holds
/// nothing a new one would not (a refilled bucket, a quota of a past period) is forgotten when
/// the map has doubled since the last sweep: a gateway that runs for months keeps the clients
/// that are busy, not every client it ever saw, at an amortised cost per new client.
#[derive(Debug)]
struct PerClient<T> {
    map: HashMap<String, Arc<T>>,
    /// Size at which the next new client sweeps the map first.
    sweep_at: usize,
}

impl<T> Default for PerClient<T> {
    fn default() -> Self {
        PerClient {
            map: HashMap::new(),
            sweep_at: SWEEP_MIN,
        }
    }
}

impl<T> PerClient<T> {
    /// The entry of `key`; a new one from `make` if there is none, after sweeping out the
    /// entries `forgettable` says hold nothing (`at_sweep` is called once per sweep).
    fn get_or_make<F: Fn(&T) -> bool>(
        &mut self,
        key: &str,
        make: impl FnOnce() -> T,
        at_sweep: impl FnOnce() -> F,
    ) -> Arc<T> {
        if let Some(v) = self.map.get(key) {
            return v.clone();
        }
        if self.map.len() >= self.sweep_at {
            let forgettable = at_sweep();
            // An entry a request in flight holds is kept: it may be about to take from it.
            self.map
                .retain(|_, v| Arc::strong_count(v) > 1 || !forgettable(v));
            self.sweep_at = (self.map.len() * 2).max(SWEEP_MIN);
        }
        let v = Arc::new(make());
        self.map.insert(key.to_owned(), v.clone());
        v
    }
}

impl ThrottleRuntime {
    /// The bucket `scope` with `limit`: the one in use when its settings are the same.
    fn bucket(&self, scope: &str, limit: Throttle) -> Arc<LocalBucket> {
        let key = store_key(scope, limit);
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get(&key).and_then(Weak::upgrade) {
            return b;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let b = Arc::new(LocalBucket::new(limit, key.clone()));
        map.insert(key, Arc::downgrade(&b));
        b
    }

    /// The plan bucket of one key or client, by store key.
    fn plan_bucket(&self, key: String, limit: Throttle) -> Arc<LocalBucket> {
        let mut map = self.plan_buckets.lock().unwrap_or_else(|p| p.into_inner());
        map.get_or_make(
            &key,
            || LocalBucket::new(limit, key.clone()),
            || {
                let now = Instant::now();
                move |b: &LocalBucket| b.is_full(now)
            },
        )
    }

    /// The quota counter of one plan and key or client; `now` is Unix time.
    fn quota(&self, key: &str, now: i64) -> Arc<LocalQuota> {
        let mut map = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        map.get_or_make(key, LocalQuota::default, || {
            move |q: &LocalQuota| q.is_spent(now)
        })
    }

    /// How many plan buckets and quota counters the gateway keeps (tests).
    #[cfg(test)]
    fn per_client_entries(&self) -> (usize, usize) {
        (
            self.plan_buckets.lock().unwrap().map.len(),
            self.quotas.lock().unwrap().map.len(),
        )
    }

    fn store(&self, config: &crate::config::RateLimitStore) -> Arc<RedisStore> {
        let mut slot = self.store.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some(s) if s.is_for(&config.url, config.timeout) => s.clone(),
            _ => {
                let s = Arc::new(RedisStore::new(&config.url, config.timeout));
                *slot = Some(s.clone());
                s
            }
        }
    }
}

/// A bucket's store key: its scope and settings (changed settings are a new bucket).
fn store_key(scope: &str, t: Throttle) -> String {
    format!("portcullis:bucket:{scope}:{}:{}", t.rate, t.burst)
}

/// One usage plan, ready to apply.
#[derive(Debug)]
struct PlanState {
    name: Arc<str>,
    plan: UsagePlan,
}

/// The limits of one API stage.
#[derive(Debug, Default)]
struct StageLimits {
    stage: Option<Arc<LocalBucket>>,
    /// By route position.
    routes: Vec<Option<Arc<LocalBucket>>>,
    /// By route position.
    api_key_required: Vec<bool>,
    /// Plans covering the stage.
    plans: Vec<usize>,
}

/// The throttling of one snapshot: every bucket that applies, by stage and route.
#[derive(Debug)]
pub struct Throttler {
    gateway: Arc<LocalBucket>,
    stages: HashMap<String, HashMap<String, StageLimits>>,
    plans: Vec<PlanState>,
    keys: plan::KeyIndex,
    runtime: Arc<ThrottleRuntime>,
    store: Option<(Arc<RedisStore>, StoreFailure)>,
}

impl Throttler {
    /// Build the throttling of `config`, keeping `runtime`'s buckets whose settings stay;
    /// API keys files are read here (problems go to `sink`).
    pub fn build(
        config: &Config,
        runtime: Arc<ThrottleRuntime>,
        sink: &mut ErrorSink,
    ) -> Throttler {
        let t = &config.throttling;
        let plans: Vec<PlanState> = t
            .plans
            .iter()
            .map(|(name, plan)| PlanState {
                name: name.as_str().into(),
                plan: plan.clone(),
            })
            .collect();
        let mut keys = plan::KeyIndex::default();
        for (i, p) in plans.iter().enumerate() {
            let Some(file) = &p.plan.api_keys_file else {
                continue;
            };
            match read_keys(file) {
                Ok(list) => list.into_iter().for_each(|k| keys.insert(k, i)),
                Err(e) => sink.push(format!("usage_plan.{}.api_keys_file", p.name), e),
            }
        }
        for (_, in_plans) in keys.iter() {
            for (n, &a) in in_plans.iter().enumerate() {
                for &b in &in_plans[n + 1..] {
                    let shared = plans[a]
                        .plan
                        .stages
                        .iter()
                        .find(|s| plans[b].plan.stages.contains(s));
                    if let Some((api, stage)) = shared {
                        sink.push(
                            format!("usage_plan.{}.api_keys_file", plans[b].name),
                            format!(
                                "an API key is also in usage plan `{}`, and both cover \
                                 `{api}/{stage}` (a key has one plan per stage, as in AWS)",
                                plans[a].name
                            ),
                        );
                    }
                }
            }
        }
        let mut stages: HashMap<String, HashMap<String, StageLimits>> = HashMap::new();
        for (api_name, api) in &config.apis {
            for (stage_name, stage) in &api.stages {
                let scope = format!("{api_name}/{stage_name}");
                let limits = StageLimits {
                    stage: stage
                        .throttle
                        .map(|l| runtime.bucket(&format!("stage:{scope}"), l)),
                    routes: api
                        .routes
                        .iter()
                        .map(|r| {
                            let name = format!("route:{scope}:{} {}", r.method, r.path.raw);
                            r.throttle.map(|l| runtime.bucket(&name, l))
                        })
                        .collect(),
                    api_key_required: api.routes.iter().map(|r| r.api_key_required).collect(),
                    plans: plans
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| {
                            p.plan
                                .stages
                                .iter()
                                .any(|(a, s)| a == api_name && s == stage_name)
                        })
                        .map(|(i, _)| i)
                        .collect(),
                };
                stages
                    .entry(api_name.clone())
                    .or_default()
                    .insert(stage_name.clone(), limits);
            }
        }
        let store = t.store.as_ref().map(|s| (runtime.store(s), s.failure));
        Throttler {
            gateway: runtime.bucket("gateway", t.gateway),
            stages,
            plans,
            keys,
            runtime,
            store,
        }
    }

    /// The runtime state to hand to the next snapshot.
    pub fn runtime(&self) -> &Arc<ThrottleRuntime> {
        &self.runtime
    }
}

/// A request's usage plan and who in it is calling (an API key's digest or a client subject).
struct PlanUse<'t> {
    plan: &'t PlanState,
    who: String,
}

/// Which usage plan applies to a request, or 403 for a missing or unknown key.
fn plan_for<'t>(
    t: &'t Throttler,
    limits: &StageLimits,
    route: usize,
    headers: &HeaderMap,
    caller: &Caller<'_>,
) -> Result<Option<PlanUse<'t>>, Refused> {
    let required = limits.api_key_required.get(route).copied().unwrap_or(false);
    if required {
        if let Some(key) = headers.get(X_API_KEY) {
            let d = plan::digest(key.as_bytes());
            let found = t
                .keys
                .plans(&d)
                .iter()
                .find(|p| limits.plans.contains(p))
                .ok_or(Refused::InvalidApiKey)?;
            return Ok(Some(PlanUse {
                plan: &t.plans[*found],
                who: format!("key:{}", crate::tls::identity::hex(&d[..16])),
            }));
        }
    }
    let by_identity = limits
        .plans
        .iter()
        .map(|&i| &t.plans[i])
        .find(|p| !p.plan.clients.is_empty() && plan::matches_any(&p.plan.clients, caller));
    match by_identity {
        Some(p) => Ok(Some(PlanUse {
            plan: p,
            who: format!(
                "client:{}",
                crate::tls::identity::hex(&plan::digest(caller.identity.subject.as_bytes())[..16])
            ),
        })),
        None if required => Err(Refused::InvalidApiKey),
        None => Ok(None),
    }
}

/// Admit a routed request, or refuse it: 403 for a missing or unknown API key, 429
/// `THROTTLED` when a bucket that applies is empty, 429 `QUOTA_EXCEEDED` past the plan's
/// quota. Nothing is taken from any bucket unless every one admits the request.
pub async fn admit(
    t: &Throttler,
    target: &StageTarget,
    route: usize,
    headers: &HeaderMap,
    caller: &Caller<'_>,
    metrics: &Metrics,
) -> Result<(), RequestError> {
    let limits = t
        .stages
        .get(&*target.api)
        .and_then(|s| s.get(&*target.stage));
    let empty = StageLimits::default();
    let limits = limits.unwrap_or(&empty);
    let count = |plan: &str, level: &'static str, reason: &'static str| {
        metrics
            .throttled
            .get_or_create(&ThrottleLabels {
                api: target.api.clone(),
                stage: target.stage.clone(),
                route: target.router.name(route).clone(),
                plan: plan.into(),
                level,
                reason,
            })
            .inc();
    };
    let plan = match plan_for(t, limits, route, headers, caller) {
        Ok(p) => p,
        Err(e) => {
            count("", "plan", "api_key");
            return Err(e.into());
        }
    };
    // At most four buckets apply (gateway, stage, route, plan): no allocation on the way.
    let plan_bucket = plan.as_ref().and_then(|p| {
        let limit = p.plan.plan.throttle?;
        let scope = format!("plan:{}:{}", p.plan.name, p.who);
        Some(t.runtime.plan_bucket(store_key(&scope, limit), limit))
    });
    let mut applies = Applies::new(&t.gateway);
    if let Some(b) = &limits.stage {
        applies.push(b, "stage");
    }
    if let Some(Some(b)) = limits.routes.get(route) {
        applies.push(b, "route");
    }
    if let Some(b) = &plan_bucket {
        applies.push(b, "plan");
    }
    let quota = plan.as_ref().and_then(|p| {
        let q = p.plan.plan.quota?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (start, end) = period_bounds(q.period, now);
        let counter = format!("{}:{}", p.plan.name, p.who);
        Some(Quota {
            check: QuotaCheck {
                key: format!("portcullis:quota:{counter}:{start}"),
                limit: q.limit,
                expires_at: end,
            },
            local: t.runtime.quota(&counter, now),
            period: (start, end),
        })
    });
    let plan_name = plan.as_ref().map_or("", |p| &*p.plan.name);
    match decide(t, applies.buckets(), quota.as_ref(), metrics).await {
        Verdict::Admitted => Ok(()),
        Verdict::Throttled { index, wait } => {
            count(plan_name, applies.level(index), "throttled");
            Err(Refused::Throttled { retry_after: wait }.into())
        }
        Verdict::QuotaExceeded => {
            count(plan_name, "plan", "quota_exceeded");
            Err(Refused::QuotaExceeded.into())
        }
    }
}

/// The buckets that apply to one request, with their metric levels, gateway first.
struct Applies<'b> {
    buckets: [&'b LocalBucket; 4],
    levels: [&'static str; 4],
    len: usize,
}

impl<'b> Applies<'b> {
    fn new(gateway: &'b LocalBucket) -> Self {
        Applies {
            buckets: [gateway; 4],
            levels: ["gateway"; 4],
            len: 1,
        }
    }

    fn push(&mut self, b: &'b LocalBucket, level: &'static str) {
        if self.len < self.buckets.len() {
            self.buckets[self.len] = b;
            self.levels[self.len] = level;
            self.len += 1;
        }
    }

    fn buckets(&self) -> &[&'b LocalBucket] {
        &self.buckets[..self.len]
    }

    /// The level of bucket `i`; past the end, the store that refused for want of an answer.
    fn level(&self, i: usize) -> &'static str {
        self.levels[..self.len].get(i).copied().unwrap_or("store")
    }
}

/// A request's quota: the shared store's counter, and this process's.
struct Quota {
    check: QuotaCheck,
    local: Arc<LocalQuota>,
    /// Unix times the quota's current period starts and ends.
    period: (i64, i64),
}

/// The verdict of the store when there is one and it answers; else of this process's buckets
/// (or a refusal when `store_failure = "deny"`).
async fn decide(
    t: &Throttler,
    buckets: &[&LocalBucket],
    quota: Option<&Quota>,
    metrics: &Metrics,
) -> Verdict {
    if let Some((store, failure)) = &t.store {
        let mut keyed: [(&str, Throttle); 4] = [("", Throttle::default()); 4];
        for (slot, b) in keyed.iter_mut().zip(buckets) {
            *slot = (b.store_key.as_str(), b.limit);
        }
        let keyed = &keyed[..buckets.len().min(4)];
        // Boxed: only a gateway with a store waits for it, and its future would otherwise
        // enlarge every request's admission (and each copy of it) by 600 bytes.
        match Box::pin(store.admit(keyed, quota.map(|q| &q.check))).await {
            Ok(v) => return v,
            Err(_) => {
                metrics.rate_limit_store_failures.inc();
                if *failure == StoreFailure::Deny {
                    return Verdict::Throttled {
                        index: usize::MAX,
                        wait: STORE_RETRY_AFTER.as_secs().max(1) as u32,
                    };
                }
            }
        }
    }
    decide_locally(buckets, quota)
}

/// Check every bucket and the quota under their locks (always taken in the same order, the
/// gateway's first), then take from all, or from none. A token the worker already holds
/// (see [`LocalBucket`]) needs no lock, and goes back if another bucket refuses.
fn decide_locally(buckets: &[&LocalBucket], quota: Option<&Quota>) -> Verdict {
    let mut now = None;
    let mut guards: [Option<bucket::BucketGuard<'_>>; 4] = [None, None, None, None];
    let mut spent = [false; 4];
    let give_back = |spent: &[bool; 4]| {
        for (b, _) in buckets.iter().zip(spent).filter(|(_, s)| **s) {
            b.return_credit();
        }
    };
    for (index, b) in buckets.iter().enumerate().take(4) {
        if b.spend_credit() {
            spent[index] = true;
            continue;
        }
        let g = b.lock(*now.get_or_insert_with(Instant::now));
        if let Some(wait) = g.wait() {
            give_back(&spent);
            return Verdict::Throttled { index, wait };
        }
        guards[index] = Some(g);
    }
    if let Some(q) = quota {
        let mut g = q.local.lock(q.period);
        if !g.allows(q.check.limit) {
            give_back(&spent);
            return Verdict::QuotaExceeded;
        }
        g.count();
    }
    for g in guards.iter_mut().flatten() {
        g.take();
    }
    Verdict::Admitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_gone_quiet_are_forgotten_and_busy_ones_keep_their_levels() {
        let rt = ThrottleRuntime::default();
        let limit = Throttle {
            rate: 0.001,
            burst: 5,
        };
        let now = 1_000_000;
        let count_one = |key: &str, period: (i64, i64)| {
            let local = rt.quota(key, now);
            let quota = Quota {
                check: QuotaCheck {
                    key: key.into(),
                    limit: 10,
                    expires_at: period.1,
                },
                local,
                period,
            };
            let busy = rt.plan_bucket(format!("bucket:{key}"), limit);
            assert!(matches!(
                decide_locally(&[&busy], Some(&quota)),
                Verdict::Admitted
            ));
        };
        // One client is busy in the current period; one counted in a period that has ended.
        count_one("busy", (now - 10, now + 3600));
        count_one("last-month", (now - 7200, now - 3600));
        // Then many clients come once each and their buckets refill.
        let held = rt.plan_bucket("bucket:in-flight".into(), limit);
        for i in 0..3 * SWEEP_MIN {
            rt.plan_bucket(format!("bucket:once-{i}"), limit);
            rt.quota(&format!("once-{i}"), now);
        }
        let (buckets, quotas) = rt.per_client_entries();
        assert!(
            buckets <= 2 * SWEEP_MIN && quotas <= 2 * SWEEP_MIN,
            "kept {buckets} buckets and {quotas} quotas of {} clients",
            3 * SWEEP_MIN
        );
        // The busy client's bucket and quota are the ones it spent from, not new ones.
        let busy = rt.plan_bucket("bucket:busy".into(), limit);
        assert!(
            !busy.is_full(Instant::now()),
            "the busy client's bucket was refilled"
        );
        let quota = rt.quota("busy", now);
        let g = quota.lock((now - 10, now + 3600));
        assert!(
            g.allows(2) && !g.allows(1),
            "the busy client's count of 1 was lost"
        );
        drop(g);
        // The bucket a request in flight holds stays the same one even though it is full.
        assert!(Arc::ptr_eq(
            &held,
            &rt.plan_bucket("bucket:in-flight".into(), limit)
        ));
        // The quota of a past period went: a new one starts at 0 whatever period it is asked for.
        let past = rt.quota("last-month", now);
        assert!(past.is_spent(now));
        assert!(past.lock((now - 7200, now - 3600)).allows(1));
    }

    #[test]
    fn a_token_a_worker_held_goes_back_when_another_bucket_refuses() {
        let gateway = LocalBucket::with_workers(
            Throttle {
                rate: 0.0,
                burst: 12_800,
            },
            "gateway".into(),
            2,
        );
        let route = LocalBucket::with_workers(
            Throttle {
                rate: 0.0,
                burst: 1,
            },
            "route".into(),
            2,
        );
        let both = [&gateway, &route];
        assert!(matches!(decide_locally(&both, None), Verdict::Admitted));
        // The first request took a batch from the gateway's bucket: one spent, the rest held.
        assert_eq!(gateway.credit_held(), bucket::MAX_BATCH - 1);
        assert!(matches!(
            decide_locally(&both, None),
            Verdict::Throttled { index: 1, .. }
        ));
        assert_eq!(
            gateway.credit_held(),
            bucket::MAX_BATCH - 1,
            "token not returned"
        );
        // The gateway alone still admits from what the worker holds.
        assert!(matches!(
            decide_locally(&[&gateway], None),
            Verdict::Admitted
        ));
        assert_eq!(gateway.credit_held(), bucket::MAX_BATCH - 2);
    }
}

//! A pool of targets and what the gateway learns about them while it runs: health, ejections,
//! in-flight counts. That runtime state lives beside the configuration, keyed by pool name and
//! target address, so a reload keeps it for targets that stay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use http::uri::Authority;
use rustls::ClientConfig;

use super::WorkerClients;
use crate::config::LoadBalancing;
use crate::metrics::{Metrics, TargetLabels, WorkerHistogram};
use crate::worker::PerWorker;

/// How long a target that refused a connection is skipped.
pub const PASSIVE_EJECTION: Duration = Duration::from_secs(10);
/// Consecutive 5xx responses that eject a target passively.
pub const PASSIVE_5XX_BURST: u32 = 5;

/// What the gateway has learnt about one target; shared by every snapshot that has the target.
#[derive(Debug)]
pub struct TargetState {
    /// Skip until this many milliseconds after the process epoch; 0 when not ejected.
    ejected_until_ms: AtomicU64,
    /// Active health verdict (true until a health check says otherwise).
    healthy: AtomicBool,
    /// Requests in flight, counted by the worker that leased them: every request writes its
    /// worker's count only; the total is read (summed) only for limits and least-requests.
    /// A count may wrap below zero when a lease ends on another thread; the sum stays exact.
    in_flight: PerWorker<AtomicUsize>,
    /// Consecutive 5xx responses.
    errors_5xx: AtomicU32,
}

impl TargetState {
    /// A target nothing has been learnt about, for `workers` workers.
    fn new(workers: usize) -> Self {
        TargetState {
            ejected_until_ms: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            in_flight: PerWorker::with_workers(workers),
            errors_5xx: AtomicU32::new(0),
        }
    }

    /// Requests in flight, over every worker.
    fn in_flight(&self) -> usize {
        self.in_flight
            .iter()
            .fold(0, |sum, n| sum.wrapping_add(n.load(Ordering::Relaxed)))
    }
}

/// Every target's runtime state, by (pool name, target address): lives as long as a snapshot
/// uses the target, so the snapshot a reload builds finds what the current one learnt. Also
/// how many workers serve, so every snapshot's pools keep a client per worker.
#[derive(Debug, Default)]
pub struct PoolRuntime {
    targets: Mutex<HashMap<(String, String), Weak<TargetState>>>,
    workers: usize,
}

impl PoolRuntime {
    /// The runtime state of a gateway whose pools keep one client per worker, for `workers`
    /// per-core workers (`Default` is one worker).
    pub fn for_workers(workers: usize) -> PoolRuntime {
        PoolRuntime {
            targets: Mutex::default(),
            workers,
        }
    }

    /// How many workers the pools keep a client for (at least one).
    pub fn workers(&self) -> usize {
        self.workers.max(1)
    }

    /// The state of `target` in pool `pool`: the one already in use, or a fresh one.
    pub fn target(&self, pool: &str, target: &Authority) -> Arc<TargetState> {
        let mut map = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        let key = (pool.to_owned(), target.as_str().to_owned());
        if let Some(state) = map.get(&key).and_then(Weak::upgrade) {
            return state;
        }
        // Targets no snapshot uses any more are forgotten.
        map.retain(|_, w| w.strong_count() > 0);
        let state = Arc::new(TargetState::new(self.workers()));
        map.insert(key, Arc::downgrade(&state));
        state
    }
}

/// One target of a pool, with its health and load.
#[derive(Debug)]
pub struct Target {
    /// `host:port`.
    pub authority: Authority,
    /// Each worker's own copy of `authority`, and of it as the `Host` header's value: a request
    /// clones them several times (its `Host` header, its connection's key, the access log),
    /// and clones of one shared copy would move its reference count between the workers'
    /// cores every time.
    pub(super) local: PerWorker<(Authority, http::HeaderValue)>,
    /// Zone label, empty if none.
    pub zone: Arc<str>,
    /// What the gateway has learnt about it, kept across reloads.
    pub(super) state: Arc<TargetState>,
    /// Its `upstream_duration_seconds` histogram and the registry it is in, found once rather
    /// than by hashing its labels on every response.
    pub(super) latency: OnceLock<(Weak<Metrics>, WorkerHistogram)>,
}

impl Target {
    /// Count `latency` in this target's `upstream_duration_seconds` histogram in `metrics`
    /// (pool `pool`). Borrowed, not cloned: a clone would pass the histogram's reference
    /// count between the workers' cores on every response.
    pub fn observe_latency(&self, metrics: &Arc<Metrics>, pool: &Arc<str>, latency: f64) {
        // The `Weak` keeps the registry's address from being reused while it is cached here.
        if let Some((registry, histogram)) = self.latency.get() {
            if std::ptr::eq(registry.as_ptr(), Arc::as_ptr(metrics)) {
                histogram.observe(latency);
                return;
            }
        }
        let histogram = metrics
            .upstream_duration
            .get_or_create_owned(&TargetLabels {
                upstream: pool.clone(),
                target: self.authority.as_str().into(),
                zone: self.zone.clone(),
            });
        histogram.observe(latency);
        let _ = self.latency.set((Arc::downgrade(metrics), histogram));
    }

    /// Whether the target may be picked now (healthy and not ejected).
    pub fn available(&self, now: u64) -> bool {
        self.is_healthy() && self.state.ejected_until_ms.load(Ordering::Relaxed) <= now
    }

    /// The active health verdict.
    pub fn is_healthy(&self) -> bool {
        self.state.healthy.load(Ordering::Relaxed)
    }

    /// Record the active health verdict; true when it changed.
    pub(super) fn set_healthy(&self, healthy: bool) -> bool {
        self.state.healthy.swap(healthy, Ordering::Relaxed) != healthy
    }

    fn in_flight(&self) -> usize {
        self.state.in_flight()
    }

    /// The current worker's copies of the authority and its `Host` value.
    pub fn local(&self) -> (&Authority, &http::HeaderValue) {
        let (a, h) = self.local.current();
        (a, h)
    }
}

/// A deep copy of `authority` and its `Host` value for each of `workers` workers.
pub(super) fn local_copies(
    workers: usize,
    authority: &Authority,
) -> PerWorker<(Authority, http::HeaderValue)> {
    PerWorker::from_fn(workers, || {
        // Parsed anew from the text: a clone would share the original's bytes.
        let s = authority.as_str();
        let a = s.parse().unwrap_or_else(|_| authority.clone());
        let h = http::HeaderValue::from_str(s).unwrap_or(http::HeaderValue::from_static("invalid"));
        (a, h)
    })
}

/// A named pool of targets sharing one client per worker. Aligned so the reference count a
/// request's lease moves sits on lines of its own, not with the fields every request reads.
#[derive(Debug)]
#[repr(align(128))]
pub struct Pool {
    /// Pool name.
    pub name: Arc<str>,
    /// Targets in configuration order.
    pub targets: Vec<Target>,
    /// Each worker's round-robin position.
    pub(super) next: PerWorker<AtomicUsize>,
    pub(super) balancing: LoadBalancing,
    pub(super) max_in_flight: Option<usize>,
    /// Retries of idempotent requests after a connect failure.
    pub retries: u32,
    /// Clients with this pool's TLS settings, one per worker.
    pub client: WorkerClients,
    /// Clients verifying another name than the pool's, by that name: the `uri` hosts of the
    /// VPC link integrations that reach this pool over https (as API Gateway verifies them).
    pub named: std::collections::HashMap<String, WorkerClients>,
    /// This pool's TLS client configuration (for `check --probe`).
    pub tls: Arc<ClientConfig>,
    /// Name verified in upstream certificates instead of the target host, if set.
    pub server_name: Option<String>,
    /// Whether integrations reach this pool over `https://` (health checks and probes use TLS).
    pub https: bool,
}

/// A target reserved for one request; releases its in-flight slot when dropped.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    /// Index of the target in its pool.
    pub index: usize,
}

impl Lease {
    /// The leased target.
    pub fn target(&self) -> &Target {
        &self.pool.targets[self.index]
    }

    /// The pool it belongs to.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.target()
            .state
            .in_flight
            .current()
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

impl Pool {
    /// Reserve a target: available ones first (round-robin or fewest in flight), failing open
    /// to every target when none is available; `None` when every target is at its limit.
    /// `exclude` skips a target already tried for this request.
    pub fn pick(self: &Arc<Self>, exclude: Option<usize>) -> Option<Lease> {
        let n = self.targets.len();
        let now = now_ms();
        let under_limit = |t: &Target| self.max_in_flight.is_none_or(|m| t.in_flight() < m);
        let candidates = |require_available: bool| {
            (0..n).filter(move |&i| {
                Some(i) != exclude && (!require_available || self.targets[i].available(now))
            })
        };
        // One step of the rotation per request, shared by both passes below.
        let start = self.next.current().fetch_add(1, Ordering::Relaxed);
        let choose = |require_available: bool| -> Option<usize> {
            match self.balancing {
                LoadBalancing::RoundRobin => (0..n).map(|k| (start + k) % n).find(|&i| {
                    candidates(require_available).any(|c| c == i) && under_limit(&self.targets[i])
                }),
                LoadBalancing::LeastRequests => {
                    candidates(require_available)
                        .filter(|&i| under_limit(&self.targets[i]))
                        // Ties go round-robin, so equal targets share the load.
                        .min_by_key(|&i| (self.targets[i].in_flight(), (i + n - start % n) % n))
                }
            }
        };
        // Every target down: fail open to all of them, as an NLB does.
        let index = choose(true).or_else(|| choose(false))?;
        self.targets[index]
            .state
            .in_flight
            .current()
            .fetch_add(1, Ordering::Relaxed);
        Some(Lease {
            pool: self.clone(),
            index,
        })
    }

    /// Record that target `i` refused or could not be reached.
    pub fn eject(&self, i: usize) {
        let until = now_ms() + PASSIVE_EJECTION.as_millis() as u64;
        self.targets[i]
            .state
            .ejected_until_ms
            .store(until, Ordering::Relaxed);
        tracing::warn!(pool = %self.name, target = %self.targets[i].authority, "target ejected after a connection failure");
    }

    /// Record the status target `i` answered with: a burst of 5xx ejects it.
    pub fn answered(&self, i: usize, status: u16) {
        let t = &self.targets[i];
        let s = &t.state;
        if status >= 500 {
            let n = s.errors_5xx.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= PASSIVE_5XX_BURST {
                s.errors_5xx.store(0, Ordering::Relaxed);
                let until = now_ms() + PASSIVE_EJECTION.as_millis() as u64;
                s.ejected_until_ms.store(until, Ordering::Relaxed);
                tracing::warn!(pool = %self.name, target = %t.authority, "target ejected after {n} consecutive 5xx responses");
            }
        } else {
            if s.errors_5xx.load(Ordering::Relaxed) != 0 {
                s.errors_5xx.store(0, Ordering::Relaxed);
            }
            if s.ejected_until_ms.load(Ordering::Relaxed) != 0 {
                s.ejected_until_ms.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool over `n` targets (10.0.0.1:80, ...), never dialled.
    fn pool(n: usize, balancing: LoadBalancing, max_in_flight: Option<usize>) -> Arc<Pool> {
        pool_for(1, n, balancing, max_in_flight)
    }

    /// The same for `workers` per-core workers.
    fn pool_for(
        workers: usize,
        n: usize,
        balancing: LoadBalancing,
        max_in_flight: Option<usize>,
    ) -> Arc<Pool> {
        let rt = PoolRuntime::for_workers(workers);
        let tls = crate::tls::client::direct_config(&Default::default());
        Arc::new(Pool {
            name: "p".into(),
            targets: (0..n)
                .map(|i| {
                    let authority: Authority = format!("10.0.0.{}:80", i + 1).parse().unwrap();
                    Target {
                        state: rt.target("p", &authority),
                        local: local_copies(workers, &authority),
                        authority,
                        zone: "".into(),
                        latency: OnceLock::new(),
                    }
                })
                .collect(),
            next: PerWorker::with_workers(workers),
            balancing,
            max_in_flight,
            retries: 1,
            client: WorkerClients::new(1, || {
                super::super::client::tests::client(Duration::from_secs(1))
            }),
            named: Default::default(),
            tls: Arc::new(tls),
            server_name: None,
            https: false,
        })
    }

    #[test]
    fn round_robin_takes_each_target_in_turn() {
        let p = pool(3, LoadBalancing::RoundRobin, None);
        let picked: Vec<usize> = (0..6).map(|_| p.pick(None).unwrap().index).collect();
        assert_eq!(picked, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn least_requests_avoids_the_busy_target() {
        let p = pool(2, LoadBalancing::LeastRequests, None);
        let held = p.pick(None).unwrap();
        for _ in 0..4 {
            assert_ne!(p.pick(None).unwrap().index, held.index);
        }
    }

    #[test]
    fn unavailable_targets_are_skipped_until_all_are_down_then_all_are_used() {
        let p = pool(2, LoadBalancing::RoundRobin, None);
        p.targets[0].set_healthy(false);
        assert!((0..4).all(|_| p.pick(None).unwrap().index == 1));
        p.eject(1);
        // Every target down: fail open to all of them, as an NLB does.
        let picked: Vec<usize> = (0..4).map(|_| p.pick(None).unwrap().index).collect();
        assert!(picked.contains(&0) && picked.contains(&1), "{picked:?}");
    }

    #[test]
    fn a_burst_of_5xx_ejects_and_a_success_restores() {
        let p = pool(2, LoadBalancing::RoundRobin, None);
        for _ in 0..PASSIVE_5XX_BURST {
            p.answered(0, 503);
        }
        assert!((0..4).all(|_| p.pick(None).unwrap().index == 1));
        p.answered(0, 200);
        assert!((0..4).any(|_| p.pick(None).unwrap().index == 0));
    }

    #[test]
    fn in_flight_limit_refuses_when_every_target_is_full_and_leases_release() {
        let p = pool(2, LoadBalancing::RoundRobin, Some(1));
        let a = p.pick(None).unwrap();
        let b = p.pick(None).unwrap();
        assert_ne!(a.index, b.index);
        assert!(p.pick(None).is_none());
        drop(a);
        assert!(p.pick(None).is_some());
    }

    #[test]
    fn a_limit_counts_every_workers_leases_and_a_lease_ended_elsewhere_frees_its_slot() {
        let p = pool_for(2, 1, LoadBalancing::RoundRobin, Some(2));
        // Worker 0 and worker 1 each lease the one target: it is full for both.
        let on_worker = |i: usize| {
            let p = p.clone();
            std::thread::spawn(move || {
                crate::worker::set_index(i);
                p.pick(None)
            })
            .join()
            .unwrap()
        };
        let first = on_worker(0).expect("a free slot");
        let second = on_worker(1).expect("a free slot");
        assert!(on_worker(0).is_none() && on_worker(1).is_none());
        // A lease taken on worker 0 and ended on worker 1's thread frees a slot all the same.
        std::thread::spawn(move || {
            crate::worker::set_index(1);
            drop(first);
        })
        .join()
        .unwrap();
        assert_eq!(p.targets[0].in_flight(), 1);
        let third = on_worker(0).expect("the freed slot");
        assert!(on_worker(1).is_none());
        drop((second, third));
        assert_eq!(p.targets[0].in_flight(), 0);
    }

    #[test]
    fn each_worker_clones_its_own_copy_of_a_targets_authority_and_host() {
        let p = pool_for(2, 1, LoadBalancing::RoundRobin, None);
        let t = &p.targets[0];
        let copies: Vec<(usize, usize)> = t
            .local
            .iter()
            .map(|(a, h)| (a.as_str().as_ptr() as usize, h.as_bytes().as_ptr() as usize))
            .collect();
        assert_eq!(copies.len(), 2);
        let shared = t.authority.as_str().as_ptr() as usize;
        for (a, h) in &copies {
            assert!(
                *a != shared && *h != shared,
                "a copy shares the target's bytes"
            );
        }
        assert!(copies[0].0 != copies[1].0 && copies[0].1 != copies[1].1);
        assert!(
            t.local
                .iter()
                .all(|(a, h)| *a == t.authority && h == t.authority.as_str())
        );
    }

    #[test]
    fn exclude_skips_the_target_already_tried() {
        let p = pool(2, LoadBalancing::RoundRobin, None);
        assert!((0..4).all(|_| p.pick(Some(0)).unwrap().index == 1));
    }

    #[test]
    fn runtime_hands_the_same_state_to_a_target_that_stays() {
        let rt = PoolRuntime::default();
        let a: Authority = "10.0.0.1:80".parse().unwrap();
        let first = rt.target("p", &a);
        first.healthy.store(false, Ordering::Relaxed);
        let again = rt.target("p", &a);
        assert!(Arc::ptr_eq(&first, &again));
        // Another pool with the same address is another target.
        assert!(!Arc::ptr_eq(&first, &rt.target("q", &a)));
    }

    #[test]
    fn runtime_forgets_targets_no_snapshot_uses() {
        let rt = PoolRuntime::default();
        let a: Authority = "10.0.0.1:80".parse().unwrap();
        let first = rt.target("p", &a);
        first.healthy.store(false, Ordering::Relaxed);
        drop(first);
        assert!(rt.target("p", &a).healthy.load(Ordering::Relaxed));
    }
}

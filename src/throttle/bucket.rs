//! The process's own token buckets and quota counters, and the calendar periods quotas count in.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::config::{Period, Throttle};
use crate::worker::PerWorker;

/// Longest `Retry-After` the gateway sends, in seconds (a bucket with rate 0 never refills).
pub const MAX_RETRY_AFTER_SECS: u32 = 3600;

/// A token bucket in this process.
///
/// With several per-core workers, a worker takes a batch of `burst / (64 x workers)` tokens,
/// at most [`MAX_BATCH`], at a time from the shared bucket and spends them without its lock, so
/// the lock (and the cache line it sits on) is not passed between cores on every request. The
/// tokens waiting in workers' hands are then under 1/64 of the burst. With one worker, or a
/// burst under 128 per worker, every token comes from the bucket.
#[derive(Debug)]
pub struct LocalBucket {
    /// Its settings.
    pub limit: Throttle,
    /// Its name in the shared store (`gateway`, `stage:API/STAGE`, ...), settings included.
    pub store_key: String,
    state: Mutex<(f64, Instant)>,
    /// Tokens each worker took from `state` ahead of its requests.
    credit: PerWorker<AtomicU32>,
    /// Tokens taken from `state` at a time (1: no credit).
    batch: u32,
}

/// Most tokens a worker takes from a bucket at a time.
pub(super) const MAX_BATCH: u32 = 32;

impl LocalBucket {
    /// A full bucket, for as many workers as the process runs.
    pub fn new(limit: Throttle, store_key: String) -> LocalBucket {
        Self::with_workers(limit, store_key, crate::worker::count())
    }

    /// A full bucket shared by `workers` per-core workers.
    pub fn with_workers(limit: Throttle, store_key: String, workers: usize) -> LocalBucket {
        let batch = if workers > 1 {
            (limit.burst / (64 * workers as u64)).clamp(1, u64::from(MAX_BATCH)) as u32
        } else {
            1
        };
        LocalBucket {
            limit,
            store_key,
            state: Mutex::new((limit.burst as f64, Instant::now())),
            credit: PerWorker::with_workers(if batch > 1 { workers } else { 1 }),
            batch,
        }
    }

    /// Spend a token the current worker took earlier; false when it holds none.
    pub(super) fn spend_credit(&self) -> bool {
        self.batch > 1
            && self
                .credit
                .current()
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1))
                .is_ok()
    }

    /// Tokens the current worker holds (tests).
    #[cfg(test)]
    pub(super) fn credit_held(&self) -> u32 {
        self.credit.current().load(Ordering::Relaxed)
    }

    /// Give back a token [`LocalBucket::spend_credit`] spent on a request another bucket refused.
    pub(super) fn return_credit(&self) {
        self.credit.current().fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the bucket, refilled up to `now`, holds its whole burst (tokens in workers'
    /// hands included): then it is the same as a new one and may be forgotten.
    pub(super) fn is_full(&self, now: Instant) -> bool {
        let held: u64 = self
            .credit
            .iter()
            .map(|c| u64::from(c.load(Ordering::Relaxed)))
            .sum();
        self.lock(now).guard.0 + held as f64 >= self.limit.burst as f64
    }

    /// Lock the bucket, refilled up to `now`.
    pub(super) fn lock(&self, now: Instant) -> BucketGuard<'_> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(g.1).as_secs_f64();
        g.0 = (g.0 + elapsed * self.limit.rate).min(self.limit.burst as f64);
        g.1 = now.max(g.1);
        BucketGuard {
            guard: g,
            bucket: self,
        }
    }
}

/// A locked, refilled bucket: check, then take.
pub(super) struct BucketGuard<'a> {
    guard: std::sync::MutexGuard<'a, (f64, Instant)>,
    bucket: &'a LocalBucket,
}

impl BucketGuard<'_> {
    /// `None` when a token is there; else the whole seconds until one is.
    pub(super) fn wait(&self) -> Option<u32> {
        let tokens = self.guard.0;
        if tokens >= 1.0 {
            return None;
        }
        Some(retry_after(1.0 - tokens, self.bucket.limit.rate))
    }

    /// Take one token (after [`BucketGuard::wait`] said there is one), and as many more as the
    /// bucket's batch allows and it holds, as the current worker's credit.
    pub(super) fn take(&mut self) {
        self.guard.0 -= 1.0;
        let extra = (self.bucket.batch - 1).min(self.guard.0.max(0.0) as u32);
        if extra > 0 {
            self.guard.0 -= f64::from(extra);
            self.bucket
                .credit
                .current()
                .fetch_add(extra, Ordering::Relaxed);
        }
    }
}

/// Whole seconds (at least 1, at most [`MAX_RETRY_AFTER_SECS`]) until `missing` tokens refill.
pub fn retry_after(missing: f64, rate: f64) -> u32 {
    if rate <= 0.0 {
        return MAX_RETRY_AFTER_SECS;
    }
    let secs = (missing / rate).ceil();
    if secs >= f64::from(MAX_RETRY_AFTER_SECS) {
        MAX_RETRY_AFTER_SECS
    } else {
        (secs as u32).max(1)
    }
}

/// A quota counter in this process: requests counted in the current period.
#[derive(Debug, Default)]
pub struct LocalQuota {
    state: Mutex<QuotaState>,
}

/// The period a quota counts in, and its count.
#[derive(Debug, Default)]
struct QuotaState {
    /// Unix time the period started.
    start: i64,
    /// Unix time the next period starts.
    end: i64,
    /// Requests counted in the period.
    count: u64,
}

impl LocalQuota {
    /// Lock the counter for the period `[start, end)` (a new period starts at 0).
    pub(super) fn lock(&self, (start, end): (i64, i64)) -> QuotaGuard<'_> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if g.start != start {
            *g = QuotaState {
                start,
                end,
                count: 0,
            };
        }
        QuotaGuard { guard: g }
    }

    /// Whether the counter holds nothing at Unix time `now`: its period is over or it counted
    /// nothing, so it is the same as a new one and may be forgotten.
    pub(super) fn is_spent(&self, now: i64) -> bool {
        let g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        g.count == 0 || now >= g.end
    }
}

/// A locked quota counter.
pub(super) struct QuotaGuard<'a> {
    guard: std::sync::MutexGuard<'a, QuotaState>,
}

impl QuotaGuard<'_> {
    /// Whether one more request stays within `limit`.
    pub(super) fn allows(&self, limit: u64) -> bool {
        self.guard.count < limit
    }

    /// Count one request.
    pub(super) fn count(&mut self) {
        self.guard.count += 1;
    }
}

/// The start of the period containing Unix time `now`, and the start of the next one (UTC
/// calendar: days from midnight, weeks from Monday, months from the first).
pub fn period_bounds(period: Period, now: i64) -> (i64, i64) {
    const DAY: i64 = 86_400;
    let day = now.div_euclid(DAY);
    match period {
        Period::Day => (day * DAY, (day + 1) * DAY),
        Period::Week => {
            // 1970-01-01 was a Thursday: three days after a Monday.
            let start = day - (day + 3).rem_euclid(7);
            (start * DAY, (start + 7) * DAY)
        }
        Period::Month => {
            let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now) else {
                return (day * DAY, (day + 1) * DAY);
            };
            let first = t.date().replace_day(1).unwrap_or(t.date());
            let start = first.midnight().assume_utc().unix_timestamp();
            let (y, m) = match first.month() {
                time::Month::December => (first.year() + 1, time::Month::January),
                m => (first.year(), m.next()),
            };
            let next = time::Date::from_calendar_date(y, m, 1)
                .map(|d| d.midnight().assume_utc().unix_timestamp())
                .unwrap_or(start + 31 * DAY);
            (start, next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_gives_its_burst_then_refills_at_its_rate() {
        let b = LocalBucket::new(
            Throttle {
                rate: 2.0,
                burst: 3,
            },
            String::new(),
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            let mut g = b.lock(t0);
            assert_eq!(g.wait(), None);
            g.take();
        }
        assert_eq!(b.lock(t0).wait(), Some(1));
        let mut g = b.lock(t0 + Duration::from_millis(500));
        assert_eq!(g.wait(), None);
        g.take();
    }

    /// One request's way through a bucket: credit first, else the bucket under its lock.
    fn admit(b: &LocalBucket) -> bool {
        if b.spend_credit() {
            return true;
        }
        let mut g = b.lock(Instant::now());
        if g.wait().is_some() {
            return false;
        }
        g.take();
        true
    }

    #[test]
    fn workers_share_a_large_bucket_in_batches_and_spend_exactly_its_tokens() {
        let limit = Throttle {
            rate: 0.0,
            burst: 12_800,
        };
        let b = LocalBucket::with_workers(limit, String::new(), 2);
        assert_eq!(b.batch, MAX_BATCH, "12,800 / (64 x 2) = 100, capped");
        let admitted: Vec<u64> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|i| {
                    let b = &b;
                    s.spawn(move || {
                        crate::worker::set_index(i);
                        let mut n = 0u64;
                        while n <= 12_800 && admit(b) {
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        // Each worker stops only when it holds no credit and the bucket is empty.
        assert_eq!(admitted.iter().sum::<u64>(), 12_800, "{admitted:?}");
        assert!(!admit(&b));
    }

    #[test]
    fn a_small_bucket_or_a_single_worker_takes_every_token_from_the_bucket() {
        let small = Throttle {
            rate: 0.0,
            burst: 100,
        };
        let large = Throttle {
            rate: 0.0,
            burst: 1_000_000,
        };
        for (limit, workers) in [(small, 2), (large, 1)] {
            let b = LocalBucket::with_workers(limit, String::new(), workers);
            assert_eq!(b.batch, 1);
            assert!(admit(&b));
            assert_eq!(b.credit_held(), 0);
            assert_eq!(b.lock(Instant::now()).guard.0, limit.burst as f64 - 1.0);
        }
    }

    #[test]
    fn periods_are_utc_calendar_days_weeks_and_months() {
        // 2026-12-03 10:00:00 UTC, a Thursday.
        let now = 1_796_292_000;
        assert_eq!(
            period_bounds(Period::Day, now),
            (1_796_256_000, 1_796_342_400)
        );
        // Monday 2026-11-30 .. Monday 2026-12-07.
        assert_eq!(
            period_bounds(Period::Week, now),
            (1_795_996_800, 1_796_601_600)
        );
        // 2026-12-01 .. 2027-01-01.
        assert_eq!(
            period_bounds(Period::Month, now),
            (1_796_083_200, 1_798_761_600)
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_within_bounds() {
        assert_eq!(retry_after(1.0, 10.0), 1);
        assert_eq!(retry_after(1.0, 0.5), 2);
        assert_eq!(retry_after(1.0, 0.0), MAX_RETRY_AFTER_SECS);
        assert_eq!(retry_after(1.0, 0.0001), MAX_RETRY_AFTER_SECS);
    }
}

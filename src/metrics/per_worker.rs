//! Counters and histograms with a part per worker: the request path's metrics (every request
//! adds to a counter and two histograms) without a cache line or a lock that the workers'
//! cores pass between them on every request, as prometheus-client's own types (one atomic, one
//! mutex per histogram) would. A scrape adds the parts, so it reads what every request added.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::worker::PerWorker;

/// A monotonic counter, encoded as prometheus-client's `Counter`.
#[derive(Debug, Clone, Default)]
pub struct WorkerCounter(Arc<PerWorker<AtomicU64>>);

impl WorkerCounter {
    /// A counter with a part for each of `workers` workers.
    pub fn with_workers(workers: usize) -> WorkerCounter {
        WorkerCounter(Arc::new(PerWorker::with_workers(workers)))
    }

    /// Add one.
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Add `v`.
    pub fn inc_by(&self, v: u64) {
        self.0.current().fetch_add(v, Ordering::Relaxed);
    }

    /// The total over every worker.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|a| a.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for WorkerCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for WorkerCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Finite bucket bounds of a latency histogram: 100 µs doubling to ~52 s.
const LATENCY_BOUNDS: usize = 20;

/// One worker's part of a histogram: its observations per bucket (the last is `+Inf`).
#[derive(Debug, Default)]
struct Part {
    count: AtomicU64,
    /// The sum of observations, as `f64` bits.
    sum: AtomicU64,
    buckets: [AtomicU64; LATENCY_BOUNDS + 1],
}

/// The latency buckets' upper bounds: prometheus-client's `exponential_buckets(0.0001, 2.0,
/// 20)`, then `+Inf`.
static BOUNDS: LazyLock<[f64; LATENCY_BOUNDS + 1]> = LazyLock::new(|| {
    let mut bounds = [f64::INFINITY; LATENCY_BOUNDS + 1];
    let finite = prometheus_client::metrics::histogram::exponential_buckets(
        0.0001,
        2.0,
        LATENCY_BOUNDS as u16,
    );
    for (b, v) in bounds.iter_mut().zip(finite) {
        *b = v;
    }
    bounds
});

/// A latency histogram in seconds with [`BOUNDS`], encoded as prometheus-client's `Histogram`
/// would be.
#[derive(Debug, Clone)]
pub struct WorkerHistogram {
    parts: Arc<PerWorker<Part>>,
}

impl WorkerHistogram {
    /// An empty latency histogram with a part per worker.
    pub fn latency() -> WorkerHistogram {
        Self::latency_for(crate::worker::count())
    }

    /// An empty latency histogram with a part for each of `workers` workers.
    pub fn latency_for(workers: usize) -> WorkerHistogram {
        WorkerHistogram {
            parts: Arc::new(PerWorker::with_workers(workers)),
        }
    }

    /// Count one observation of `v` seconds (NaN counts in `+Inf`, as prometheus-client does).
    pub fn observe(&self, v: f64) {
        let part = self.parts.current();
        let i = BOUNDS
            .iter()
            .position(|b| *b >= v)
            .unwrap_or(LATENCY_BOUNDS);
        part.buckets[i].fetch_add(1, Ordering::Relaxed);
        part.count.fetch_add(1, Ordering::Relaxed);
        // A worker's part has one writer unless workers outnumber parts: the loop then retries.
        let _ = part
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }
}

impl TypedMetric for WorkerHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for WorkerHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets: Vec<(f64, u64)> = BOUNDS.iter().map(|b| (*b, 0)).collect();
        let (mut sum, mut count) = (0.0, 0);
        for part in self.parts.iter() {
            count += part.count.load(Ordering::Relaxed);
            sum += f64::from_bits(part.sum.load(Ordering::Relaxed));
            for (total, n) in buckets.iter_mut().zip(&part.buckets) {
                total.1 += n.load(Ordering::Relaxed);
            }
        }
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
    use prometheus_client::registry::Registry;

    fn text(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn parts_added_on_two_workers_encode_as_prometheus_clients_own_types() {
        let (counter, histogram) = (
            WorkerCounter::with_workers(2),
            WorkerHistogram::latency_for(2),
        );
        let reference = (
            Counter::<u64>::default(),
            Histogram::new(exponential_buckets(0.0001, 2.0, 20)),
        );
        assert_eq!(
            (counter.0.iter().count(), histogram.parts.iter().count()),
            (2, 2)
        );
        let samples = [0.00005, 0.0001, 0.0003, 0.5, 7.25, 100.0, f64::NAN];
        std::thread::scope(|s| {
            for worker in 0..2 {
                let (counter, histogram) = (&counter, &histogram);
                s.spawn(move || {
                    crate::worker::set_index(worker);
                    for v in samples {
                        counter.inc_by(3);
                        histogram.observe(v);
                    }
                });
            }
        });
        for v in samples.iter().chain(&samples) {
            reference.0.inc_by(3);
            reference.1.observe(*v);
        }
        assert_eq!(counter.get(), 42);
        let mut ours = Registry::default();
        ours.register("requests", "r", counter);
        ours.register("latency_seconds", "l", histogram);
        let mut theirs = Registry::default();
        theirs.register("requests", "r", reference.0);
        theirs.register("latency_seconds", "l", reference.1);
        // NaN makes the sum NaN in both; compare everything else exactly.
        assert_eq!(text(&ours), text(&theirs));
        assert!(text(&ours).contains("latency_seconds_bucket{le=\"+Inf\"} 14"));
    }
}

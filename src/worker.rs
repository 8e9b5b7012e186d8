//! Which worker the current thread serves: a per-core worker thread sets its index when it
//! starts; every other thread (a shared runtime, the tools, tests) counts as worker 0. And
//! [`PerWorker`]: a value per worker, so the request path writes no memory another worker writes.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// How many per-core workers serve (1 until `serve` says otherwise).
static COUNT: AtomicUsize = AtomicUsize::new(1);

/// The current thread's worker index: 0 unless [`set_index`] said otherwise.
pub fn index() -> usize {
    INDEX.with(Cell::get)
}

/// Mark the current thread as serving worker `i` (its per-worker upstream clients, its metric).
pub fn set_index(i: usize) {
    INDEX.with(|c| c.set(i));
}

/// How many per-core workers the process runs: the size of every [`PerWorker`] made after.
pub fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// Say how many per-core workers will serve; call before the state that has per-worker parts.
pub fn set_count(n: usize) {
    COUNT.store(n.max(1), Ordering::Relaxed);
}

/// One `T` per worker, each on cache lines of its own: two workers writing their own copy
/// never invalidate each other's (a shared counter written by every request costs a
/// cross-core cache-line transfer each time). Workers beyond the copies made share them
/// round-robin, so `T` must stay correct when shared (atomics, locks).
#[derive(Debug)]
pub struct PerWorker<T> {
    slots: Box<[Padded<T>]>,
}

/// A value alone on its cache lines (128 bytes: two lines, as the adjacent-line prefetcher
/// pairs them).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T: Default> PerWorker<T> {
    /// A default `T` for each of [`count`] workers.
    pub fn new() -> Self {
        Self::with_workers(count())
    }

    /// A default `T` for each of `workers` workers (at least one).
    pub fn with_workers(workers: usize) -> Self {
        Self::from_fn(workers, T::default)
    }
}

impl<T: Default> Default for PerWorker<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> PerWorker<T> {
    /// A `T` made by `make` for each of `workers` workers (at least one).
    pub fn from_fn(workers: usize, mut make: impl FnMut() -> T) -> Self {
        PerWorker {
            slots: (0..workers.max(1)).map(|_| Padded(make())).collect(),
        }
    }

    /// The current worker's copy.
    pub fn current(&self) -> &T {
        // Never empty (`with_workers` makes at least one), so the remainder is a valid index.
        &self.slots[index() % self.slots.len()].0
    }

    /// Every worker's copy, to add them up.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|p| &p.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn each_worker_writes_its_own_copy_and_extra_workers_share() {
        let p: PerWorker<AtomicU64> = PerWorker::with_workers(2);
        std::thread::scope(|s| {
            for i in 0..3 {
                let p = &p;
                s.spawn(move || {
                    set_index(i);
                    p.current().fetch_add(10 + i as u64, Ordering::Relaxed);
                });
            }
        });
        let v: Vec<u64> = p.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        // Worker 2 wraps around to worker 0's copy.
        assert_eq!(v, vec![10 + 12, 11]);
        let a = p.slots[0].0.as_ptr() as usize;
        let b = p.slots[1].0.as_ptr() as usize;
        assert!(b.abs_diff(a) >= 128, "copies share a cache line pair");
    }
}

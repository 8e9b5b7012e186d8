//! Which worker the current thread serves: a per-core worker thread sets its index when it
//! starts; every other thread (a shared runtime, the tools, tests) counts as worker 0.

use std::cell::Cell;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The current thread's worker index: 0 unless [`set_index`] said otherwise.
pub fn index() -> usize {
    INDEX.with(Cell::get)
}

/// Mark the current thread as serving worker `i` (its per-worker upstream clients, its metric).
pub fn set_index(i: usize) {
    INDEX.with(|c| c.set(i));
}

//! One client per worker. A client runs each upstream connection as a task on the runtime that
//! opened it and parks its idle connections for every caller, so with one client a per-core
//! worker could pick up a connection whose I/O another worker's thread drives. Each worker gets
//! its own client: its connections stay on its thread.

use super::Client as HttpClient;
use crate::worker::PerWorker;

/// A client per worker, picked by the current thread's worker index.
#[derive(Debug)]
pub struct WorkerClients(PerWorker<HttpClient>);

impl WorkerClients {
    /// `workers` clients (at least one), each made by `make`.
    pub(super) fn new(workers: usize, make: impl Fn() -> HttpClient) -> WorkerClients {
        WorkerClients(PerWorker::from_fn(workers, make))
    }

    /// The current worker's client (worker 0's on threads that are not per-core workers).
    pub fn current(&self) -> &HttpClient {
        self.0.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients(workers: usize) -> WorkerClients {
        WorkerClients::new(workers, || {
            super::super::client::tests::client(std::time::Duration::from_secs(1))
        })
    }

    #[test]
    fn each_worker_thread_gets_its_own_client_and_others_get_worker_0s() {
        let c = clients(2);
        let here = c.current() as *const HttpClient;
        let (on_1, on_2) = std::thread::scope(|s| {
            let on = |i| {
                let c = &c;
                s.spawn(move || {
                    crate::worker::set_index(i);
                    c.current() as *const HttpClient as usize
                })
            };
            let (a, b) = (on(1), on(2));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_ne!(here as usize, on_1, "worker 1 shares worker 0's client");
        // Beyond the clients made, workers wrap around rather than fail.
        assert_eq!(here as usize, on_2);
        // Asked for none, there is still worker 0's.
        let _ = clients(0).current();
    }
}

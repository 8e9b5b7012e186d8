//! Listening sockets: one per listen address for a shared runtime, or one per worker bound with
//! `SO_REUSEPORT` for per-core workers, so that the kernel spreads new connections over them.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel queues per listening socket before `accept` (tokio's default).
const BACKLOG: i32 = 1024;

/// One configured listen address: its sockets, and the accept loops serving them.
pub(super) struct Listener {
    /// The address as configured (port 0 stays 0).
    pub(super) configured: SocketAddr,
    /// The address actually bound.
    pub(super) local: SocketAddr,
    /// Sockets whose accept loops have not started, one per worker.
    pub(super) sockets: Vec<std::net::TcpListener>,
    /// The running accept loops, one per worker.
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Listener {
    /// Bind `addr` once per worker: `workers` sockets sharing the port through `SO_REUSEPORT`
    /// when there is more than one, each ready for [`tokio::net::TcpListener::from_std`].
    pub(super) fn bind(addr: SocketAddr, workers: usize) -> io::Result<Listener> {
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
        let reuse_port = workers > 1;
        if reuse_port && addr.port() != 0 {
            // `SO_REUSEPORT` would let these sockets join a group another process of the same
            // user already listens with; a plain bind first fails as a second server should.
            drop(socket(addr, false).map_err(named)?);
        }
        let first = socket(addr, reuse_port).map_err(named)?;
        let local = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..workers {
            // A port 0 address: the others share the port the kernel chose for the first.
            sockets.push(socket(local, true).map_err(named)?);
        }
        Ok(Listener {
            configured: addr,
            local,
            sockets,
            tasks: Vec::new(),
        })
    }

    /// Stop accepting: end every accept loop (which closes its socket).
    pub(super) fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.sockets.clear();
    }
}

/// A non-blocking listening socket on `addr`, with `SO_REUSEADDR` (as tokio binds) and, when
/// asked, `SO_REUSEPORT`.
fn socket(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("SO_REUSEPORT is unavailable ({e}); serve with `--runtime shared`"),
            )
        })?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_one_port_chosen_for_port_0() {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_ne!(l.local.port(), 0);
        assert_eq!(l.sockets.len(), 3);
        for s in &l.sockets {
            assert_eq!(s.local_addr().unwrap(), l.local);
        }
    }

    #[test]
    fn a_port_another_socket_listens_on_is_refused_by_name() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        for workers in [1, 2] {
            let err = Listener::bind(addr, workers).err().unwrap();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
            assert!(err.to_string().contains(&addr.to_string()), "{err}");
        }
    }

    #[test]
    fn a_second_per_core_gateway_cannot_join_the_first_ones_port() {
        let first = Listener::bind("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let err = Listener::bind(first.local, 2).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    }
}

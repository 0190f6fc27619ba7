//! The server agent: one listening socket, a thread per connection, each connection running
//! the workload its header asks for.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::WorkloadError;
use crate::pin::pin_to_cpu;
use crate::protocol::{self, Header, HEADER_LEN, HEADER_TIMEOUT};
use crate::task::{ServeConfig, Workload};
use crate::{rr, stream};

/// Listen backlog: enough for many parallel streams connecting at once.
pub const LISTEN_BACKLOG: i32 = 128;

/// A bound, listening server that has not started accepting yet. Splitting [`serve`] in two
/// lets the caller learn the port (and report readiness) with errors it can handle.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local: SocketAddr,
    cpu: Option<u32>,
}

impl Server {
    /// Opens the listening socket on `cfg.bind` with `SO_REUSEADDR` and a backlog of
    /// [`LISTEN_BACKLOG`]. Does not pin: [`Server::run`] does, on the thread that runs it.
    pub fn bind(cfg: &ServeConfig) -> Result<Server, WorkloadError> {
        let addr = cfg.bind;
        let err = |e| WorkloadError::listen(addr, e);
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(err)?;
        sock.set_reuse_address(true).map_err(err)?;
        sock.bind(&SockAddr::from(addr)).map_err(err)?;
        sock.listen(LISTEN_BACKLOG).map_err(err)?;
        let listener: TcpListener = sock.into();
        let local = listener.local_addr().map_err(err)?;
        Ok(Server {
            listener,
            local,
            cpu: cfg.cpu,
        })
    }

    /// The address actually bound (with the real port when `bind` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Pins the calling thread to the configured CPU (connection threads inherit it), then
    /// accepts connections forever, one thread each. Only a pinning failure returns.
    /// Per-connection failures are reported on stderr and do not stop the server.
    pub fn run(self) -> Result<(), WorkloadError> {
        if let Some(cpu) = self.cpu {
            pin_to_cpu(cpu)?;
        }
        loop {
            match self.listener.accept() {
                Ok((conn, peer)) => {
                    let spawned = std::thread::Builder::new()
                        .name("cnbench-conn".into())
                        .spawn(move || {
                            if let Err(e) = handle(conn) {
                                eprintln!("cnbench agent: connection from {peer}: {e}");
                            }
                        });
                    if let Err(e) = spawned {
                        eprintln!(
                            "cnbench agent: cannot start a thread for the connection from \
                             {peer}: {e}; dropping it"
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    // EMFILE, ENOBUFS and friends: report, back off, keep serving.
                    eprintln!(
                        "cnbench agent: accept on {} failed: {e}; retrying",
                        self.local
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Listens on `cfg.bind`, calls `ready` with the bound port once connections can be made,
/// then serves forever (see [`Server::run`]). Returns only on a bind or pinning failure.
pub fn serve(cfg: &ServeConfig, ready: impl FnOnce(u16)) -> Result<(), WorkloadError> {
    let server = Server::bind(cfg)?;
    ready(server.local_addr().port());
    server.run()
}

/// One connection: read and check the header, ack it, run the workload.
fn handle(mut conn: TcpStream) -> io::Result<()> {
    conn.set_read_timeout(Some(HEADER_TIMEOUT))?;
    let mut raw = [0u8; HEADER_LEN];
    if !protocol::read_exact_or_eof(&mut conn, &mut raw)? {
        // A bare connect-and-close (a port probe): nothing to report.
        return Ok(());
    }
    let header = match Header::decode(&raw) {
        Ok(h) => h,
        Err(reject) => {
            conn.write_all(&protocol::encode_ack(Err(reject)))?;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("refused the test header: {reject:?}"),
            ));
        }
    };
    let timeout = Some(header.data_timeout());
    conn.set_read_timeout(timeout)?;
    conn.set_write_timeout(timeout)?;
    if header.workload == Workload::TcpRr {
        // Before the ack, so the very first transaction already runs without Nagle.
        conn.set_nodelay(true)?;
    }
    conn.write_all(&protocol::encode_ack(Ok(())))?;
    match header.workload {
        Workload::TcpStream => stream::serve(&mut conn, &header),
        Workload::TcpRr => rr::serve(&mut conn, &header),
        Workload::UdpStream | Workload::UdpRr | Workload::TcpCrr => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} is not served yet", header.workload),
        )),
    }
}

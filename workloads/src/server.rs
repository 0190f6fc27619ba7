//! The server agent: one listening socket. The accept thread reads every connection's header
//! itself (the client sends it right after connecting; each read is bounded by
//! [`HEADER_TIMEOUT`]), serves tcp-crr connections on the spot, and hands every other
//! connection to a thread of its own that runs the workload the header asks for.
//!
//! tcp-crr is served inline because a thread per connection would put thread creation into
//! every transaction the client times.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::WorkloadError;
use crate::pin::pin_to_cpu;
use crate::protocol::{
    self, min_message_size, Ack, Header, Reject, HEADER_LEN, HEADER_TIMEOUT, PROTOCOL_VERSION,
};
use crate::task::{ServeConfig, Workload};
use crate::{crr, rr, stream, udp};

/// Listen backlog: enough for many parallel streams connecting at once.
pub const LISTEN_BACKLOG: i32 = 128;

/// After refusing a header, how long the server keeps reading (and discarding) what the
/// client sent, so that closing sends a FIN and the client reads the refusal rather than a
/// reset.
const REFUSE_DRAIN: Duration = Duration::from_millis(200);

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
    /// accepts connections forever: reads each header on this thread, serves tcp-crr here,
    /// and starts one thread per connection for the other workloads. Only a pinning failure
    /// returns. Per-connection failures are reported on stderr and do not stop the server.
    pub fn run(self) -> Result<(), WorkloadError> {
        if let Some(cpu) = self.cpu {
            pin_to_cpu(cpu)?;
        }
        // The tcp-crr request/response buffer, reused for every connection.
        let mut crr_buf = Vec::new();
        loop {
            match self.listener.accept() {
                Ok((conn, peer)) => dispatch(conn, peer, &mut crr_buf),
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

/// On the accept thread: read the header, then serve tcp-crr here or start a thread.
fn dispatch(mut conn: TcpStream, peer: SocketAddr, crr_buf: &mut Vec<u8>) {
    let header = match read_header(&mut conn, peer) {
        Ok(Some(h)) => h,
        // A bare connect-and-close (a port probe): nothing to report.
        Ok(None) => return,
        Err(e) => {
            eprintln!("cnbench agent: {e}");
            return;
        }
    };
    if header.workload == Workload::TcpCrr {
        if let Err(e) = crr::serve(conn, &header, peer, crr_buf) {
            eprintln!("cnbench agent: {e}");
        }
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("cnbench-conn".into())
        .spawn(move || {
            if let Err(e) = handle(conn, &header, peer) {
                eprintln!("cnbench agent: {e}");
            }
        });
    if let Err(e) = spawned {
        eprintln!(
            "cnbench agent: cannot start a thread for the {} test from {peer}: {e}; dropping \
             the connection",
            header.workload
        );
    }
}

/// Reads and checks the header (read and write timeouts [`HEADER_TIMEOUT`]). `Ok(None)`: the
/// peer closed without sending anything. A refused header is acked with its status here and
/// returned as an error that says why.
fn read_header(conn: &mut TcpStream, peer: SocketAddr) -> Result<Option<Header>, WorkloadError> {
    let io = |op, e| WorkloadError::io(peer, op, e);
    conn.set_read_timeout(Some(HEADER_TIMEOUT))
        .map_err(|e| io("setting the header timeout", e))?;
    conn.set_write_timeout(Some(HEADER_TIMEOUT))
        .map_err(|e| io("setting the header timeout", e))?;
    let mut raw = [0u8; HEADER_LEN];
    if !protocol::read_exact_or_eof(conn, &mut raw).map_err(|e| io("reading the test header", e))? {
        return Ok(None);
    }
    match Header::decode(&raw) {
        Ok(h) => Ok(Some(h)),
        Err(reject) => {
            refuse(conn, reject);
            Err(WorkloadError::Protocol {
                peer,
                detail: describe_refusal(reject, &raw),
            })
        }
    }
}

/// Sends a refusal ack and closes gracefully: half-close, then read what the client sent
/// until it closes or [`REFUSE_DRAIN`] has passed.
fn refuse(conn: &mut TcpStream, reject: Reject) {
    if conn.write_all(&protocol::encode_ack(Err(reject))).is_err() {
        return;
    }
    let _ = conn.shutdown(Shutdown::Write);
    let until = Instant::now() + REFUSE_DRAIN;
    let mut sink = [0u8; 4096];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match io::Read::read(conn, &mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// The server's side of a refusal, for its stderr.
fn describe_refusal(reject: Reject, raw: &[u8; HEADER_LEN]) -> String {
    let fix = "run the same cnbench build on both ends";
    match reject {
        Reject::BadMagic => "refused the connection: it did not start with a cnbench header; \
                             is another program connecting to this port?"
            .into(),
        Reject::BadVersion => format!(
            "refused the test: the client speaks protocol version {}, this server {}; {fix}",
            protocol::header_version(raw),
            PROTOCOL_VERSION
        ),
        Reject::UnknownWorkload => format!(
            "refused the test: unknown workload id {}; {fix}",
            u16::from_be_bytes([raw[6], raw[7]])
        ),
        Reject::BadMessageSize => {
            let size = u32::from_be_bytes([raw[24], raw[25], raw[26], raw[27]]);
            // The workload id was valid, or decoding would have stopped there.
            let bounds = Header::decode(&{
                let mut ok = *raw;
                ok[24..28].copy_from_slice(&64u32.to_be_bytes());
                ok
            })
            .map(|h| {
                format!(
                    "{}..={} bytes for {}",
                    min_message_size(h.workload),
                    h.workload.max_message_size(),
                    h.workload
                )
            })
            .unwrap_or_default();
            format!("refused the test: message size {size} bytes is outside {bounds}")
        }
        Reject::UdpSocket => "refused the test: no UDP socket".into(),
    }
}

/// One connection on its own thread, header already read: set the data-phase timeouts, ack,
/// run the workload.
fn handle(mut conn: TcpStream, header: &Header, peer: SocketAddr) -> Result<(), WorkloadError> {
    let io = |op, e| WorkloadError::io(peer, op, e);
    let timeout = Some(header.data_timeout());
    conn.set_read_timeout(timeout)
        .map_err(|e| io("setting the read timeout", e))?;
    conn.set_write_timeout(timeout)
        .map_err(|e| io("setting the write timeout", e))?;
    let ack = |conn: &mut TcpStream| {
        conn.write_all(&protocol::encode_ack(Ok(Ack::TCP)))
            .map_err(|e| io("sending the ack", e))
    };
    match header.workload {
        Workload::TcpStream => {
            ack(&mut conn)?;
            stream::serve(&mut conn, header).map_err(|e| io("serving tcp-stream", e))
        }
        Workload::TcpRr => {
            // Before the ack, so the very first transaction already runs without Nagle.
            conn.set_nodelay(true)
                .map_err(|e| io("setting TCP_NODELAY", e))?;
            ack(&mut conn)?;
            rr::serve(&mut conn, header).map_err(|e| io("serving tcp-rr", e))
        }
        // Both open their UDP socket first: its port goes into the ack.
        Workload::UdpStream => udp::serve_stream(&mut conn, header, peer),
        Workload::UdpRr => udp::serve_rr(&mut conn, header, peer),
        // Normally served on the accept thread; correct here too.
        Workload::TcpCrr => {
            conn.set_read_timeout(Some(HEADER_TIMEOUT))
                .map_err(|e| io("setting the read timeout", e))?;
            crr::serve(conn, header, peer, &mut Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_described_for_the_server_log() {
        let h = Header {
            workload: Workload::UdpStream,
            warmup_ms: 0,
            duration_ms: 1,
            message_size: 8,
        };
        let raw = h.encode();
        assert_eq!(Header::decode(&raw), Err(Reject::BadMessageSize));
        let d = describe_refusal(Reject::BadMessageSize, &raw);
        assert!(
            d.contains("message size 8 bytes is outside 16..=65507 bytes for udp-stream"),
            "{d}"
        );
        let mut v1 = raw;
        v1[5] = 1;
        let d = describe_refusal(Reject::BadVersion, &v1);
        assert!(d.contains("protocol version 1, this server 2"), "{d}");
    }
}

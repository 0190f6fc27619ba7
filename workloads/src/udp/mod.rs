//! udp-stream and udp-rr: the UDP workloads.
//!
//! Both start with the usual TCP control connection (header, ack). For them the server opens
//! a fresh UDP socket on the IP the client reached it on, an ephemeral port, and puts that
//! port and a random 64-bit cookie in its ack. Every datagram (see [`crate::protocol`])
//! starts with a sequence number and that cookie; a datagram of the wrong size or with
//! another cookie is a stray (a leftover of an earlier test, or someone else's) and ignored.
//!
//! [`stream`] holds udp-stream (client and server), [`receiver`] what its server counts,
//! [`rr`] udp-rr (client and echo server) and [`mmsg`] the batched `sendmmsg`/`recvmmsg`
//! calls of udp-stream. What both workloads share is here: the size check, the client's
//! connected socket, the datagram's prefix, the server's socket and ack, the control
//! connection watched while datagrams flow, and which socket errors are transient.

mod mmsg;
mod receiver;
mod rr;
mod stream;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use crate::error::WorkloadError;
use crate::protocol::{encode_ack, Ack, Reject, UDP_PREFIX_LEN};
use crate::task::{ClientConfig, MAX_UDP_PAYLOAD};

pub(crate) use rr::{run_rr, serve_rr};
pub(crate) use stream::{run_stream, serve_stream};

/// How long a sender sleeps when a send is refused with `ENOBUFS` (udp-stream's datagrams,
/// udp-rr's requests).
const ENOBUFS_BACKOFF: Duration = Duration::from_micros(50);

/// The UDP workloads need room for the sequence number and the cookie in every datagram.
fn check_size(cfg: &ClientConfig) -> Result<(), WorkloadError> {
    if (cfg.message_size as usize) < UDP_PREFIX_LEN {
        return Err(WorkloadError::InvalidConfig {
            what: "message_size",
            reason: format!(
                "{} bytes is too small for {}: every datagram carries an 8-byte sequence \
                 number and an 8-byte test cookie, so use {UDP_PREFIX_LEN}..={MAX_UDP_PAYLOAD} \
                 (default: 64)",
                cfg.message_size, cfg.workload
            ),
        });
    }
    Ok(())
}

/// The client's UDP socket, connected to the port the server's ack names on the server's IP.
fn connect_udp(
    peer: SocketAddr,
    ack: &Ack,
    cfg: &ClientConfig,
) -> Result<(UdpSocket, SocketAddr), WorkloadError> {
    let port =
        ack.udp_port()
            .filter(|_| ack.cookie != 0)
            .ok_or_else(|| WorkloadError::Protocol {
                peer,
                detail: format!(
                    "the server accepted {} but its ack names no UDP port (aux {}, cookie {:#x}): \
                 run the same cnbench build on both ends",
                    cfg.workload, ack.aux, ack.cookie
                ),
            })?;
    let udp_peer = SocketAddr::new(peer.ip(), port);
    let local = if peer.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let sock = UdpSocket::bind(local)
        .map_err(|e| WorkloadError::io(udp_peer, "opening the client's UDP socket", e))?;
    sock.connect(udp_peer)
        .map_err(|e| WorkloadError::io(udp_peer, "connecting the client's UDP socket", e))?;
    Ok((sock, udp_peer))
}

/// An error on the client's UDP socket; a refused one means the server's port is closed.
fn udp_error(udp_peer: SocketAddr, op: &'static str, source: io::Error) -> WorkloadError {
    if source.kind() == io::ErrorKind::ConnectionRefused {
        return WorkloadError::Io {
            peer: udp_peer,
            op,
            source,
            hint: "; the server's UDP port is closed (ICMP port unreachable): did the server \
                   agent exit? check its stderr",
        };
    }
    WorkloadError::io(udp_peer, op, source)
}

/// Send errors that mean "try again": a full socket buffer or device queue, a signal.
fn is_transient_send_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    ) || e.raw_os_error() == Some(libc::ENOBUFS)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Fills a datagram: sequence number 0 (set per send), the cookie, a recognisable filler.
fn fill_datagram(d: &mut [u8], cookie: u64) {
    d[8..16].copy_from_slice(&cookie.to_be_bytes());
    for (i, b) in d[UDP_PREFIX_LEN..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
}

/// Opens the test's UDP socket on the IP the client reached the control connection on, an
/// ephemeral port, and acks the header with that port and `cookie`. If the socket cannot be
/// opened the client gets [`Reject::UdpSocket`]. Call it only once everything the test
/// needs is allocated: the client starts sending the moment it reads the ack.
///
/// Then readies both for the server's loop: the UDP socket's receive timeout is `poll` (so
/// the server looks at the control connection at least that often when no datagram comes)
/// and the control connection is made non-blocking, for [`poll_control`].
fn open_server_socket(
    conn: &mut TcpStream,
    peer: SocketAddr,
    cookie: u64,
    poll: Duration,
) -> Result<UdpSocket, WorkloadError> {
    let io = |op, e| WorkloadError::io(peer, op, e);
    let opened = conn
        .local_addr()
        .and_then(|local| UdpSocket::bind(SocketAddr::new(local.ip(), 0)))
        .and_then(|sock| sock.local_addr().map(|a| (sock, a.port())));
    let (sock, port) = match opened {
        Ok(s) => s,
        Err(e) => {
            let _ = conn.write_all(&encode_ack(Err(Reject::UdpSocket)));
            return Err(io("opening the server's UDP socket for the test", e));
        }
    };
    conn.write_all(&encode_ack(Ok(Ack {
        aux: u32::from(port),
        cookie,
    })))
    .map_err(|e| io("sending the ack", e))?;
    sock.set_read_timeout(Some(poll))
        .map_err(|e| io("setting the UDP receive timeout", e))?;
    conn.set_nonblocking(true)
        .map_err(|e| io("making the control connection non-blocking", e))?;
    Ok(sock)
}

/// Reads what is there on the (non-blocking) control connection into `buf`: `Ok(Some(0))`
/// at end of file, `Ok(Some(n))` for `n` new bytes, `Ok(None)` if nothing has arrived.
fn poll_control(conn: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match conn.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

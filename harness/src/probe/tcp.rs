//! TCP from and to a namespace of this machine: a connect with a timeout, and a listener
//! that reports the source address it saw (to prove no NAT rewrote it).

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::ProbeResult;
use crate::netns::Netns;

/// Connects from a namespace of this machine to `ip:port` within `timeout` (`Host::tcp_connect` does
/// the same on every host).
pub fn tcp_connect_to(from: &Netns, ip: IpAddr, port: u16, timeout: Duration) -> ProbeResult {
    let sock = match from.run_in(|| {
        Socket::new(
            Domain::for_address(SocketAddr::new(ip, port)),
            Type::STREAM,
            Some(Protocol::TCP),
        )
    }) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return ProbeResult::SendError(e.to_string()),
        Err(e) => return ProbeResult::SendError(e.to_string()),
    };
    let start = Instant::now();
    let addr = SockAddr::from(SocketAddr::from((ip, port)));
    match sock.connect_timeout(&addr, timeout) {
        Ok(()) => ProbeResult::Answered(start.elapsed()),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => ProbeResult::Refused,
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            ProbeResult::Silence
        }
        Err(e) => ProbeResult::SendError(e.to_string()),
    }
}

/// Opens a TCP listener on `ip:port` (0: any free port) in a namespace of this machine;
/// returns it and its port. The error says where, and keeps its kind (`AddrInUse`).
pub fn listen_in(ns: &Netns, ip: IpAddr, port: u16) -> std::io::Result<(TcpListener, u16)> {
    let l = ns
        .run_in(|| TcpListener::bind((ip, port)))
        .map_err(std::io::Error::other)?
        .map_err(|e| std::io::Error::new(e.kind(), format!("listen on {ip}:{port}: {e}")))?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// Waits up to `timeout` for one connection on `l` and returns its source address.
pub fn accept_within(l: &TcpListener, timeout: Duration) -> std::result::Result<IpAddr, String> {
    let _ = l.set_nonblocking(true);
    let deadline = Instant::now() + timeout;
    loop {
        match l.accept() {
            Ok((_, peer)) => return Ok(peer.ip()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

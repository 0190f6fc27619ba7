//! tcp-rr: one transaction at a time over one connection with `TCP_NODELAY` on both ends.
//!
//! A transaction is: the client writes `message_size` bytes, the server reads exactly that
//! many and writes them back, the client reads them. The client takes a timestamp before its
//! write and after its read; every round trip after warm-up goes into an HdrHistogram (ns,
//! 3 significant digits). The hot loop is two blocking syscalls per side per transaction
//! (`write`, `read`) and no allocation, so what it measures is the datapath and the
//! scheduler, not the generator.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use reports::Sample;

use crate::error::WorkloadError;
use crate::protocol::{self, Header};
use crate::round_trips::{self, Transaction};
use crate::task::ClientConfig;

/// Runs a tcp-rr test; `cfg` is already validated.
pub(crate) fn run(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    let peer = cfg.target;
    let header = Header::of(cfg);
    let mut conn = protocol::open(peer, &header, true)?;

    let mut buf = vec![0xA5u8; cfg.message_size as usize];
    let io_err = |e| WorkloadError::io(peer, "a tcp-rr transaction", e);
    let measured = round_trips::measure(
        Duration::from_millis(cfg.warmup_ms),
        Duration::from_millis(cfg.duration_ms),
        || {
            let t0 = Instant::now();
            transact(&mut conn, &mut buf).map_err(io_err)?;
            Ok(Transaction::Answered(t0, Instant::now()))
        },
    )?;
    // Tell the server we are done; it ends the connection's thread on EOF. Failure here
    // does not affect the measurement.
    let _ = conn.shutdown(Shutdown::Both);
    Ok(Sample::TcpRr(measured.sample(cfg.message_size)))
}

/// One transaction: write the request, read the response of the same size.
#[inline]
fn transact(conn: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    conn.write_all(buf)?;
    conn.read_exact(buf)
}

/// Serves one tcp-rr connection after the header: echo `message_size`-byte messages until
/// the client closes. The caller has set `TCP_NODELAY` already.
pub(crate) fn serve(conn: &mut TcpStream, header: &Header) -> std::io::Result<()> {
    let mut buf = vec![0u8; header.message_size as usize];
    while protocol::read_exact_or_eof(conn, &mut buf)? {
        conn.write_all(&buf)?;
    }
    Ok(())
}

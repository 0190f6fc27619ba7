//! The probe datagram: the 40-byte request/reply layout of the module docs ([`super`],
//! "Wire format"), encoded and decoded here alone so that a stray datagram (another length,
//! magic, version or kind) is told apart in one place.

use crate::protocol::be_u64;

/// Length of every probe datagram, in bytes.
pub const PROBE_LEN: usize = 40;

const MAGIC: &[u8; 4] = b"CNBP";
const VERSION: u8 = 1;
pub(super) const KIND_REQUEST: u8 = 1;
pub(super) const KIND_REPLY: u8 = 2;

/// One probe datagram, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Probe {
    pub(super) kind: u8,
    pub(super) peer_index: u16,
    pub(super) sender_id: u64,
    pub(super) seq: u64,
    pub(super) sent_unix_ns: u64,
    pub(super) echo_unix_ns: u64,
}

pub(super) fn encode(p: &Probe) -> [u8; PROBE_LEN] {
    let mut b = [0u8; PROBE_LEN];
    b[0..4].copy_from_slice(MAGIC);
    b[4] = VERSION;
    b[5] = p.kind;
    b[6..8].copy_from_slice(&p.peer_index.to_be_bytes());
    b[8..16].copy_from_slice(&p.sender_id.to_be_bytes());
    b[16..24].copy_from_slice(&p.seq.to_be_bytes());
    b[24..32].copy_from_slice(&p.sent_unix_ns.to_be_bytes());
    b[32..40].copy_from_slice(&p.echo_unix_ns.to_be_bytes());
    b
}

pub(super) fn decode(b: &[u8]) -> Option<Probe> {
    if b.len() != PROBE_LEN || &b[0..4] != MAGIC || b[4] != VERSION {
        return None;
    }
    let kind = b[5];
    if kind != KIND_REQUEST && kind != KIND_REPLY {
        return None;
    }
    Some(Probe {
        kind,
        peer_index: u16::from_be_bytes([b[6], b[7]]),
        sender_id: be_u64(&b[8..16]),
        seq: be_u64(&b[16..24]),
        sent_unix_ns: be_u64(&b[24..32]),
        echo_unix_ns: be_u64(&b[32..40]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips_and_rejects_strays() {
        let p = Probe {
            kind: KIND_REQUEST,
            peer_index: 3,
            sender_id: 0x0102_0304_0506_0708,
            seq: 42,
            sent_unix_ns: 1_700_000_000_123_456_789,
            echo_unix_ns: 0,
        };
        let b = encode(&p);
        assert_eq!(&b[0..6], b"CNBP\x01\x01");
        assert_eq!(&b[16..24], &42u64.to_be_bytes());
        assert_eq!(decode(&b), Some(p));
        assert_eq!(decode(&b[..39]), None);
        let mut longer = b.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        for (i, v) in [(0, b'X'), (4, 2), (5, 0), (5, 3)] {
            let mut c = b;
            c[i] = v;
            assert_eq!(decode(&c), None, "byte {i} = {v}");
        }
    }
}

//! The three ways the daemon moves packets (`--datapath`).

use serde::{Deserialize, Serialize};

/// How the daemon moves packets between `flannel0` and its UDP socket. Both are userspace
/// datapaths; they differ in syscalls per packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatapathMode {
    /// As flanneld's UDP mode: one thread polls the TUN and the socket; per packet one
    /// `read()` then one `sendto()`, or one `recv()` then one `write()`.
    #[default]
    Faithful,
    /// Fewer syscalls per packet: up to 32 packets drained from the TUN, then one
    /// `sendmmsg()`; up to 32 datagrams from one `recvmmsg()`, then one `write()` each (a TUN
    /// takes one packet per write without offload). One SCHED_BATCH thread and one `poll()`
    /// loop, 4 MiB socket buffers, and with one packet in flight the faithful calls without
    /// an EAGAIN read.
    Batched,
    /// The TUN with virtio-net headers and TSO/USO: one `read()` brings a 64 KB super-packet,
    /// split in userspace into path-MTU packets and sent with UDP GSO (`UDP_SEGMENT`) in one
    /// `sendmmsg()`; the socket receives with UDP GRO and `recvmmsg()`, and the packets are
    /// coalesced again (GRO) before each `write()` into the TUN. Same wire format as the
    /// others. One thread per direction.
    Offload,
}

impl DatapathMode {
    /// The CLI and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatapathMode::Faithful => "faithful",
            DatapathMode::Batched => "batched",
            DatapathMode::Offload => "offload",
        }
    }

    /// Parses `--datapath`; absent means `faithful`. The error is one line naming the choices.
    pub fn from_option(value: Option<&str>) -> Result<DatapathMode, String> {
        match value {
            None | Some("faithful") => Ok(DatapathMode::Faithful),
            Some("batched") => Ok(DatapathMode::Batched),
            Some("offload") => Ok(DatapathMode::Offload),
            Some(other) => Err(format!(
                "--datapath {other}: flannel-udp has `faithful` (one read and one send per packet, as flannel), `batched` (recvmmsg/sendmmsg) or `offload` (TUN offloads, UDP GSO/GRO)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_choices_and_names_them_on_error() {
        assert_eq!(
            DatapathMode::from_option(None).unwrap(),
            DatapathMode::Faithful
        );
        assert_eq!(
            DatapathMode::from_option(Some("batched")).unwrap(),
            DatapathMode::Batched
        );
        assert_eq!(
            DatapathMode::from_option(Some("offload")).unwrap(),
            DatapathMode::Offload
        );
        let e = DatapathMode::from_option(Some("kernel")).unwrap_err();
        assert!(
            e.contains("faithful")
                && e.contains("batched")
                && e.contains("offload")
                && !e.contains('\n'),
            "{e}"
        );
    }
}

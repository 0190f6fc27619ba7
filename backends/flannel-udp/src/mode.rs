//! The two ways the daemon moves packets (`--datapath`).

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
}

impl DatapathMode {
    /// The CLI and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatapathMode::Faithful => "faithful",
            DatapathMode::Batched => "batched",
        }
    }

    /// Parses `--datapath`; absent means `faithful`. The error is one line naming the choices.
    pub fn from_option(value: Option<&str>) -> Result<DatapathMode, String> {
        match value {
            None | Some("faithful") => Ok(DatapathMode::Faithful),
            Some("batched") => Ok(DatapathMode::Batched),
            Some(other) => Err(format!(
                "--datapath {other}: flannel-udp has `faithful` (one read and one send per packet, as flannel) or `batched` (recvmmsg/sendmmsg)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_choices_and_names_them_on_error() {
        assert_eq!(
            DatapathMode::from_option(None).unwrap(),
            DatapathMode::Faithful
        );
        assert_eq!(
            DatapathMode::from_option(Some("batched")).unwrap(),
            DatapathMode::Batched
        );
        let e = DatapathMode::from_option(Some("kernel")).unwrap_err();
        assert!(
            e.contains("faithful") && e.contains("batched") && !e.contains('\n'),
            "{e}"
        );
    }
}

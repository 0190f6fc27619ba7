//! The kernel's SNMP counters of one network namespace (`/proc/net/snmp`).

use reports::KernelCounters;

/// The counters cnbench reports, as read at one moment in one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snmp {
    /// `Tcp: RetransSegs`.
    pub tcp_retrans_segs: u64,
    /// `Udp: InErrors`.
    pub udp_in_errors: u64,
    /// `Udp: RcvbufErrors`.
    pub udp_rcvbuf_errors: u64,
    /// `Udp: SndbufErrors`.
    pub udp_sndbuf_errors: u64,
    /// `Udp: NoPorts`.
    pub udp_no_ports: u64,
}

impl Snmp {
    /// Parses `/proc/net/snmp`: pairs of lines, a header of names and a line of values, each
    /// starting with the protocol (`Tcp:`).
    pub fn parse(text: &str) -> Option<Snmp> {
        let lines: Vec<&str> = text.lines().collect();
        let field = |proto: &str, name: &str| -> Option<u64> {
            let pair = lines
                .windows(2)
                .find(|w| w[0].starts_with(proto) && w[1].starts_with(proto) && w[0] != w[1])?;
            let names = pair[0].split_whitespace();
            let values = pair[1].split_whitespace();
            names
                .zip(values)
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
                .map(|v| v.max(0) as u64)
        };
        Some(Snmp {
            tcp_retrans_segs: field("Tcp:", "RetransSegs")?,
            udp_in_errors: field("Udp:", "InErrors")?,
            udp_rcvbuf_errors: field("Udp:", "RcvbufErrors")?,
            udp_sndbuf_errors: field("Udp:", "SndbufErrors")?,
            udp_no_ports: field("Udp:", "NoPorts")?,
        })
    }

    /// Adds what changed from `before` to `self` into `into`.
    pub fn add_change(&self, before: &Snmp, into: &mut KernelCounters) {
        into.tcp_retrans_segs += self
            .tcp_retrans_segs
            .saturating_sub(before.tcp_retrans_segs);
        into.udp_in_errors += self.udp_in_errors.saturating_sub(before.udp_in_errors);
        into.udp_rcvbuf_errors += self
            .udp_rcvbuf_errors
            .saturating_sub(before.udp_rcvbuf_errors);
        into.udp_sndbuf_errors += self
            .udp_sndbuf_errors
            .saturating_sub(before.udp_sndbuf_errors);
        into.udp_no_ports += self.udp_no_ports.saturating_sub(before.udp_no_ports);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 100
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 10 5 0 0 2 1000 900 7 0 1 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 50 3 11 40 9 2 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn parses_and_subtracts() {
        let s = Snmp::parse(SAMPLE).unwrap();
        assert_eq!(
            s,
            Snmp {
                tcp_retrans_segs: 7,
                udp_in_errors: 11,
                udp_rcvbuf_errors: 9,
                udp_sndbuf_errors: 2,
                udp_no_ports: 3
            }
        );
        let mut k = KernelCounters::default();
        let later = Snmp {
            tcp_retrans_segs: 10,
            ..s
        };
        later.add_change(&s, &mut k);
        assert_eq!(k.tcp_retrans_segs, 3);
        assert_eq!(k.udp_in_errors, 0);
        assert!(Snmp::parse("Ip: a\nIp: 1\n").is_none());
        // The test process's own namespace has the file, in the format parsed.
        let own = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
        assert!(Snmp::parse(&own).is_some());
    }
}

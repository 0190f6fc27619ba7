//! The figures of one repetition of a workload, by workload, and the metrics drawn from them.

use serde::{Deserialize, Deserializer, Serialize};

/// The figures of one repetition. Serialized flat, tagged by `"workload"`:
/// `{"workload":"tcp-stream","streams":1,...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "workload", rename_all = "kebab-case")]
pub enum Sample {
    /// A `tcp-stream` repetition.
    TcpStream(TcpStreamSample),
    /// A `udp-stream` repetition.
    UdpStream(UdpStreamSample),
    /// A `tcp-rr` repetition.
    TcpRr(RrSample),
    /// A `udp-rr` repetition.
    UdpRr(RrSample),
    /// A `tcp-crr` repetition (connect, request, response, close; the latency is that of the
    /// whole transaction).
    TcpCrr(RrSample),
    /// A `churn` cycle: pods added and removed on a standing topology (`cnbench churn`).
    Churn(crate::churn::ChurnSample),
}

impl Sample {
    /// The workload name of this sample: `"tcp-stream"`, `"udp-stream"`, `"tcp-rr"`,
    /// `"udp-rr"` or `"tcp-crr"`.
    pub fn workload(&self) -> &'static str {
        match self {
            Sample::TcpStream(_) => "tcp-stream",
            Sample::UdpStream(_) => "udp-stream",
            Sample::TcpRr(_) => "tcp-rr",
            Sample::UdpRr(_) => "udp-rr",
            Sample::TcpCrr(_) => "tcp-crr",
            Sample::Churn(_) => crate::churn::CHURN_WORKLOAD,
        }
    }

    /// The headline figures by metric name (the name carries the unit): `throughput_bps` for
    /// tcp-stream; `packets_per_s`, `throughput_bps` and `loss_percent` for udp-stream;
    /// `transactions_per_s`, `rtt_p50_ns`, `rtt_p90_ns`, `rtt_p99_ns`, `rtt_p999_ns`,
    /// `rtt_max_ns` and `rtt_mean_ns` for the request/response workloads; those of
    /// [`crate::churn::ChurnSample::metrics`] for a churn cycle.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        match self {
            Sample::TcpStream(s) => vec![("throughput_bps", s.throughput_bps)],
            Sample::UdpStream(s) => vec![
                ("packets_per_s", s.packets_per_s),
                ("throughput_bps", s.throughput_bps),
                ("loss_percent", s.loss_percent),
            ],
            Sample::TcpRr(s) | Sample::UdpRr(s) | Sample::TcpCrr(s) => vec![
                ("transactions_per_s", s.transactions_per_s),
                ("rtt_p50_ns", s.rtt_p50_ns as f64),
                ("rtt_p90_ns", s.rtt_p90_ns as f64),
                ("rtt_p99_ns", s.rtt_p99_ns as f64),
                ("rtt_p999_ns", s.rtt_p999_ns as f64),
                ("rtt_max_ns", s.rtt_max_ns as f64),
                ("rtt_mean_ns", s.rtt_mean_ns),
            ],
            Sample::Churn(s) => s.metrics(),
        }
    }

    /// Whether a larger value of `metric` is better (throughput) or worse (latency, loss);
    /// `None` for a metric this schema does not know.
    pub fn higher_is_better(metric: &str) -> Option<bool> {
        match metric {
            "throughput_bps" | "packets_per_s" | "transactions_per_s" => Some(true),
            "loss_percent" | "rtt_p50_ns" | "rtt_p90_ns" | "rtt_p99_ns" | "rtt_p999_ns"
            | "rtt_max_ns" | "rtt_mean_ns" => Some(false),
            other => crate::churn::ChurnSample::higher_is_better(other),
        }
    }
}

/// One udp-stream repetition: datagrams of one size sent as fast as the client can, counted at
/// the server during its measurement window (warm-up excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UdpStreamSample {
    /// UDP payload of each datagram, in bytes.
    pub message_size_bytes: u32,
    /// Datagrams the client sent during its own measurement window.
    pub packets_sent: u64,
    /// Datagrams received by the server during its measurement window (the rate's count; its
    /// window is the server's, so it can exceed `packets_sent`).
    pub packets_received: u64,
    /// Of the `packets_sent` (the client's window), those that arrived, by sequence number:
    /// the count `loss_percent` is computed from. Absent in results written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_in_window_received: Option<u64>,
    /// Payload bytes received by the server during its measurement window.
    pub bytes_received: u64,
    /// Length of the server's measurement window, in nanoseconds.
    pub window_ns: u64,
    /// `packets_received / window`, in datagrams per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub packets_per_s: f64,
    /// `bytes_received × 8 / window` (UDP payload), in bits per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub throughput_bps: f64,
    /// Of the datagrams sent in the client's window, the share never received, in percent:
    /// `1 - sent_in_window_received / packets_sent`.
    #[serde(deserialize_with = "f64_or_nan")]
    pub loss_percent: f64,
}

/// One tcp-stream repetition: bulk transfer over `streams` connections, counted at the server
/// during the measurement window (warm-up excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpStreamSample {
    /// Number of parallel TCP connections.
    pub streams: u32,
    /// Size of each `send`, in bytes.
    pub message_size_bytes: u32,
    /// Payload bytes received by the server during the window, all streams together.
    pub bytes_received: u64,
    /// Length of the measurement window, in nanoseconds.
    pub window_ns: u64,
    /// Goodput, `bytes_received × 8 / window`, in bits per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub throughput_bps: f64,
}

/// One request/response repetition (tcp-rr, udp-rr, tcp-crr): one transaction at a time;
/// every transaction's round trip is recorded (HdrHistogram) during the measurement window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RrSample {
    /// Size of the request and of the response, in bytes.
    pub message_size_bytes: u32,
    /// Requests that got no response within the retry timeout and were sent again (udp-rr
    /// only; TCP retransmits for itself, so always 0 there).
    #[serde(default)]
    pub timeouts: u64,
    /// Completed transactions during the window.
    pub transactions: u64,
    /// Length of the measurement window, in nanoseconds.
    pub window_ns: u64,
    /// `transactions / window`, in transactions per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub transactions_per_s: f64,
    /// Shortest round trip, in nanoseconds.
    pub rtt_min_ns: u64,
    /// Mean round trip, in nanoseconds.
    #[serde(deserialize_with = "f64_or_nan")]
    pub rtt_mean_ns: f64,
    /// Median round trip, in nanoseconds.
    pub rtt_p50_ns: u64,
    /// 90th percentile round trip, in nanoseconds.
    pub rtt_p90_ns: u64,
    /// 99th percentile round trip, in nanoseconds.
    pub rtt_p99_ns: u64,
    /// 99.9th percentile round trip, in nanoseconds.
    pub rtt_p999_ns: u64,
    /// Longest round trip, in nanoseconds.
    pub rtt_max_ns: u64,
}

/// Reads an `f64` that may have been written as `null`.
///
/// serde_json writes NaN and infinities as `null`. Without this, one division by a zero-length
/// window would make a whole result file unreadable; with it the figure reads back as NaN.
pub(crate) fn f64_or_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

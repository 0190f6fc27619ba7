//! The external tools' output turned into a [`Sample`]: iperf3's `--json` report and
//! sockperf's text summary, each field mapped as documented on [`parse_iperf3`] and
//! [`parse_sockperf`], with the tools' own error messages returned as errors (both exit 0 on
//! most failures). Pure functions of the text, so they are tested on captured output
//! (`tests/data`). [`strip_ansi`], for sockperf's coloured lines, serves the output readers
//! too.

use reports::{RrSample, Sample, TcpStreamSample, UdpStreamSample};
use serde_json::Value;

use crate::task::Workload;

/// Removes ANSI escape sequences (sockperf colours some lines).
pub(super) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: ESC [ parameters final-byte (0x40..=0x7e). Other escapes: drop the next char.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// The `error` iperf3 puts in its JSON when the server is still busy with the last test.
pub(super) const IPERF3_BUSY: &str = "the server is busy";

/// Converts iperf3's `--json` output (verified on 3.12) into a sample. All figures are the
/// receiver's (iperf3 sends the server's counts back to the client at the end of the test),
/// after the `-O` warm-up:
///
/// - **tcp-stream**: `end.sum_received`: `bytes` → `bytes_received`;
///   `end − start` → `window_ns` (3.12 puts the *sender's* duration in `seconds`, while its
///   `bits_per_second` is `bytes × 8 / (end − start)`); `bits_per_second` →
///   `throughput_bps`.
/// - **udp-stream**: `end.sum_received`: `bytes`, `end − start` and `bits_per_second` as for
///   TCP. `packets_received` = `bytes / blksize`: exact, since every datagram carries
///   exactly `blksize` payload bytes. The receiver's own `packets` and `lost_packets` are not
///   used: with `-O`, 3.12's client adds the warm-up's lost datagrams to `lost_packets` (in
///   a captured run, `tests/data/iperf3-3.12-udp-stream-O1.{json,server.txt}`, the server
///   printed 21447 lost of 1280215, the client JSON 40109, which is those plus the 18662
///   lost in the omitted second), so `packets − lost_packets` is wrong.
///   `packets_sent` = `end.sum_sent.packets`, the client's count over its own window after
///   warm-up (iperf3 has no per-window count at the receiver for what was sent).
///   `packets_per_s` = `packets_received / window`.
///   `loss_percent` = `(packets_sent − packets_received) / packets_sent × 100`, floored at
///   0: the two windows have the same length but the server's starts and ends a moment
///   later than the client's, so at a steady rate their counts compare; a negative
///   difference is that edge effect, not negative loss.
///
/// An iperf3 `error` in the JSON (it exits 0 after one in JSON mode) is returned as the error.
pub(crate) fn parse_iperf3(
    json: &str,
    workload: Workload,
    message_size: u32,
) -> Result<Sample, String> {
    let v: Value = serde_json::from_str(json.trim())
        .map_err(|e| format!("its output is not iperf3 JSON ({e})"))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("iperf3 reported: {e}"));
    }
    let received = &v["end"]["sum_received"];
    let bytes = json_u64(received, "bytes", "end.sum_received")?;
    let start = json_f64(received, "start", "end.sum_received")?;
    let end = json_f64(received, "end", "end.sum_received")?;
    let bps = json_f64(received, "bits_per_second", "end.sum_received")?;
    let window_s = end - start;
    if window_s.is_nan() || window_s <= 0.0 {
        return Err(format!(
            "iperf3's receiver window is {window_s} s (end.sum_received start {start}, end \
             {end}): nothing was measured"
        ));
    }
    let window_ns = (window_s * 1e9).round() as u64;
    let test = &v["start"]["test_start"];
    match workload {
        Workload::TcpStream => Ok(Sample::TcpStream(TcpStreamSample {
            streams: json_u64(test, "num_streams", "start.test_start")? as u32,
            message_size_bytes: message_size,
            bytes_received: bytes,
            window_ns,
            throughput_bps: bps,
        })),
        Workload::UdpStream => {
            let blksize = json_u64(test, "blksize", "start.test_start")?;
            if blksize != u64::from(message_size) {
                return Err(format!(
                    "iperf3 sent {blksize}-byte datagrams, not the {message_size} bytes asked for"
                ));
            }
            let packets_sent = json_u64(&v["end"]["sum_sent"], "packets", "end.sum_sent")?;
            let packets_received = bytes / blksize;
            let loss_percent = if packets_sent == 0 {
                0.0
            } else {
                packets_sent.saturating_sub(packets_received) as f64 * 100.0 / packets_sent as f64
            };
            Ok(Sample::UdpStream(UdpStreamSample {
                message_size_bytes: message_size,
                packets_sent,
                packets_received,
                // iperf3's loss is its own count over the same window as the rate.
                sent_in_window_received: Some(packets_received.min(packets_sent)),
                bytes_received: bytes,
                window_ns,
                packets_per_s: packets_received as f64 / window_s,
                throughput_bps: bps,
                loss_percent,
            }))
        }
        w => Err(format!("iperf3 does not run {w}")),
    }
}

fn json_f64(obj: &Value, key: &str, at: &str) -> Result<f64, String> {
    obj.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("iperf3's JSON has no number {at}.{key}"))
}

/// A count; iperf3 writes integers, but accept a float with no fraction too.
fn json_u64(obj: &Value, key: &str, at: &str) -> Result<u64, String> {
    let x = json_f64(obj, key, at)?;
    if x < 0.0 || x.fract() != 0.0 {
        return Err(format!("iperf3's JSON has {at}.{key} = {x}, not a count"));
    }
    Ok(x as u64)
}

/// Converts `sockperf ping-pong --full-rtt` output (verified on 3.7) into a sample. Every
/// figure is sockperf's own, over its `[Valid Duration]` (the run minus its first 400 ms and
/// last 50 ms); its times are microseconds with three decimals, so nanoseconds are exact:
///
/// - `transactions`: `Total N observations` (round trips in the valid window);
/// - `window_ns`: the valid `RunTime` (seconds, millisecond resolution);
/// - `transactions_per_s` = `transactions / window`;
/// - `rtt_p50/p90/p99/p999_ns`: its `percentile 50.000 / 90.000 / 99.000 / 99.900` lines
///   (exact order statistics of all observations; cnbench's are HdrHistogram values,
///   within 0.1 %);
/// - `rtt_min_ns` / `rtt_max_ns`: its `<MIN>` / `<MAX>` observations;
/// - `rtt_mean_ns`: its `avg-rtt`;
/// - `timeouts`: its `# dropped messages` (requests whose reply never came: sockperf does not
///   resend, it counts them and goes on; always 0 over TCP).
///
/// Without `--full-rtt` sockperf prints half round trips (`avg-lat`): that is refused.
pub(crate) fn parse_sockperf(
    text: &str,
    workload: Workload,
    message_size: u32,
) -> Result<Sample, String> {
    let mut window_s = None;
    let mut observations = None;
    let mut mean = None;
    let mut dropped = None;
    let mut min = None;
    let mut max = None;
    let mut pct: Vec<(f64, f64)> = Vec::new();
    let mut errors = Vec::new();
    for raw in text.lines() {
        let line = strip_ansi(raw);
        let line = line.trim();
        let line = line.strip_prefix("sockperf:").unwrap_or(line).trim();
        if line.starts_with("ERROR")
            || line.contains("No messages were received")
            || line.contains("No valid observations")
        {
            errors.push(line.to_string());
        } else if line.starts_with("[Valid Duration]") {
            window_s = number_after(line, "RunTime=");
        } else if line.contains("avg-lat=") {
            return Err(
                "sockperf printed half round trips (avg-lat): run it with --full-rtt".into(),
            );
        } else if let Some(x) = number_after(line, "avg-rtt=") {
            mean = Some(x);
        } else if let Some(x) = number_after(line, "# dropped messages =") {
            dropped = Some(x);
        } else if let Some(rest) = line.strip_prefix("Total ") {
            if let Some((n, _)) = rest.split_once(" observations") {
                observations = n.trim().parse::<u64>().ok();
            }
        } else if let Some(x) = number_after(line, "<MAX> observation =") {
            max = Some(x);
        } else if let Some(x) = number_after(line, "<MIN> observation =") {
            min = Some(x);
        } else if let Some(rest) = line.strip_prefix("---> percentile ") {
            if let Some((p, v)) = rest.split_once('=') {
                if let (Ok(p), Ok(v)) = (p.trim().parse::<f64>(), v.trim().parse::<f64>()) {
                    pct.push((p, v));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(format!("sockperf reported: {}", errors.join(" | ")));
    }
    let percentile = |p: f64| {
        pct.iter()
            .find(|(q, _)| (q - p).abs() < 1e-9)
            .map(|&(_, v)| v)
    };
    let need = |what: &str, x: Option<f64>| {
        x.ok_or_else(|| format!("sockperf's output has no {what} (did the test run at all?)"))
    };
    let window_s = need("[Valid Duration] RunTime", window_s)?;
    let transactions =
        observations.ok_or("sockperf's output has no `Total N observations` line")?;
    if window_s <= 0.0 || transactions == 0 {
        return Err(format!(
            "sockperf measured {transactions} round trips in {window_s} s: nothing to report"
        ));
    }
    let ns = |usec: f64| (usec * 1000.0).round() as u64;
    let rr = RrSample {
        message_size_bytes: message_size,
        timeouts: dropped.unwrap_or(0.0) as u64,
        transactions,
        window_ns: (window_s * 1e9).round() as u64,
        transactions_per_s: transactions as f64 / window_s,
        rtt_min_ns: ns(need("<MIN> observation", min)?),
        rtt_mean_ns: need("avg-rtt", mean)? * 1000.0,
        rtt_p50_ns: ns(need("percentile 50.000", percentile(50.0))?),
        rtt_p90_ns: ns(need("percentile 90.000", percentile(90.0))?),
        rtt_p99_ns: ns(need("percentile 99.000", percentile(99.0))?),
        rtt_p999_ns: ns(need("percentile 99.900", percentile(99.9))?),
        rtt_max_ns: ns(need("<MAX> observation", max)?),
    };
    match workload {
        Workload::TcpRr => Ok(Sample::TcpRr(rr)),
        Workload::UdpRr => Ok(Sample::UdpRr(rr)),
        w => Err(format!("sockperf does not run {w}")),
    }
}

/// The number right after `key` in `line` (spaces skipped), if `key` is there.
fn number_after(line: &str, key: &str) -> Option<f64> {
    let (_, rest) = line.split_once(key)?;
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == '+'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPERF3_TCP: &str = include_str!("../../tests/data/iperf3-3.12-tcp-stream-P2-O1.json");
    const IPERF3_UDP: &str = include_str!("../../tests/data/iperf3-3.12-udp-stream-O1.json");
    const IPERF3_REFUSED: &str = include_str!("../../tests/data/iperf3-3.12-refused.json");
    const SOCKPERF_UDP: &str = include_str!("../../tests/data/sockperf-3.7-udp-rr.txt");
    const SOCKPERF_TCP: &str = include_str!("../../tests/data/sockperf-3.7-tcp-rr.txt");
    const SOCKPERF_NO_SERVER: &str = include_str!("../../tests/data/sockperf-3.7-no-server.txt");
    const SOCKPERF_REFUSED: &str = include_str!("../../tests/data/sockperf-3.7-refused.txt");
    /// Seen once over a same-node ipip path on a loaded machine (the tail of a harness error).
    const SOCKPERF_NO_VALID: &str =
        include_str!("../../tests/data/sockperf-3.7-no-valid-observations.txt");

    #[test]
    fn iperf3_tcp_uses_the_receiver_summary() {
        let Sample::TcpStream(s) = parse_iperf3(IPERF3_TCP, Workload::TcpStream, 131_072).unwrap()
        else {
            panic!("not a tcp-stream sample")
        };
        assert_eq!(s.streams, 2);
        assert_eq!(s.message_size_bytes, 131_072);
        assert_eq!(s.bytes_received, 2_630_484_074);
        assert_eq!(s.window_ns, 1_000_264_000);
        assert_eq!(s.throughput_bps, 21_038_318_475.922356);
        let derived = s.bytes_received as f64 * 8.0 / (s.window_ns as f64 / 1e9);
        assert!((derived - s.throughput_bps).abs() / derived < 1e-6);
    }

    #[test]
    fn iperf3_udp_derives_received_packets_from_bytes() {
        let Sample::UdpStream(s) = parse_iperf3(IPERF3_UDP, Workload::UdpStream, 64).unwrap()
        else {
            panic!("not a udp-stream sample")
        };
        assert_eq!(s.message_size_bytes, 64);
        assert_eq!(s.packets_sent, 1_280_220);
        assert_eq!(s.bytes_received, 80_561_152);
        // 80561152 / 64; the server printed 21447 lost of 1280215 for this window.
        assert_eq!(s.packets_received, 1_258_768);
        assert_eq!(1_280_215 - 21_447, s.packets_received);
        assert_eq!(s.window_ns, 1_999_568_000);
        assert!((s.packets_per_s - 1_258_768.0 / 1.999568).abs() < 1e-6);
        assert!((s.loss_percent - 21_452.0 * 100.0 / 1_280_220.0).abs() < 1e-9);
        // Not the client JSON's 3.13 %, which includes the warm-up's losses.
        assert!(s.loss_percent < 1.7);
        // The same test with the wrong datagram size is refused, not miscounted.
        assert!(parse_iperf3(IPERF3_UDP, Workload::UdpStream, 65).is_err());
    }

    #[test]
    fn iperf3_errors_come_from_its_json() {
        let e = parse_iperf3(IPERF3_REFUSED, Workload::TcpStream, 1).unwrap_err();
        assert_eq!(
            e,
            "iperf3 reported: unable to connect to server: Connection refused"
        );
        let busy = r#"{"start":{},"intervals":[],"end":{},"error":"the server is busy running a test. try again later"}"#;
        assert!(parse_iperf3(busy, Workload::TcpStream, 1)
            .unwrap_err()
            .contains(IPERF3_BUSY));
        let e = parse_iperf3("iperf3: parameter error", Workload::TcpStream, 1).unwrap_err();
        assert!(e.starts_with("its output is not iperf3 JSON"), "{e}");
        let e = parse_iperf3(r#"{"end":{}}"#, Workload::TcpStream, 1).unwrap_err();
        assert!(e.contains("end.sum_received.bytes"), "{e}");
    }

    #[test]
    fn sockperf_summary_becomes_an_rr_sample() {
        let Sample::UdpRr(s) = parse_sockperf(SOCKPERF_UDP, Workload::UdpRr, 64).unwrap() else {
            panic!("not a udp-rr sample")
        };
        assert_eq!(s.message_size_bytes, 64);
        assert_eq!(s.transactions, 6964);
        assert_eq!(s.window_ns, 550_000_000);
        assert!((s.transactions_per_s - 6964.0 / 0.55).abs() < 1e-6);
        assert_eq!(s.rtt_min_ns, 19_957);
        assert_eq!(s.rtt_p50_ns, 77_672);
        assert_eq!(s.rtt_p90_ns, 83_880);
        assert_eq!(s.rtt_p99_ns, 121_615);
        assert_eq!(s.rtt_p999_ns, 222_897);
        assert_eq!(s.rtt_max_ns, 2_897_675);
        assert!((s.rtt_mean_ns - 78_710.0).abs() < 1e-6);
        assert_eq!(s.timeouts, 0);

        let Sample::TcpRr(t) = parse_sockperf(SOCKPERF_TCP, Workload::TcpRr, 64).unwrap() else {
            panic!("not a tcp-rr sample")
        };
        assert_eq!(t.transactions, 6789);
        assert_eq!(t.rtt_p50_ns, 79_551);
        assert_eq!(t.rtt_min_ns, 22_169);
        assert_eq!(t.rtt_max_ns, 3_259_251);
    }

    #[test]
    fn sockperf_failures_are_errors() {
        let e = parse_sockperf(SOCKPERF_NO_SERVER, Workload::UdpRr, 64).unwrap_err();
        assert!(
            e.contains("No messages were received from the server"),
            "{e}"
        );
        let e = parse_sockperf(SOCKPERF_REFUSED, Workload::TcpRr, 64).unwrap_err();
        assert!(e.contains("Connection refused"), "{e}");
        let e = parse_sockperf(SOCKPERF_NO_VALID, Workload::UdpRr, 64).unwrap_err();
        assert!(
            e.starts_with("sockperf reported: No valid observations found"),
            "{e}"
        );
        let half = SOCKPERF_UDP.replace("avg-rtt", "avg-lat");
        assert!(parse_sockperf(&half, Workload::UdpRr, 64)
            .unwrap_err()
            .contains("--full-rtt"));
        let no_p999: String = SOCKPERF_UDP
            .lines()
            .filter(|l| !l.contains("99.900"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_sockperf(&no_p999, Workload::UdpRr, 64)
            .unwrap_err()
            .contains("percentile 99.900"));
    }

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(
            strip_ansi("sockperf: \u{1b}[2;35m====> avg-rtt=78.710 (std-dev=37.632)\u{1b}[0m"),
            "sockperf: ====> avg-rtt=78.710 (std-dev=37.632)"
        );
    }
}

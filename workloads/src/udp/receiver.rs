//! What the udp-stream server counts: its window (as tcp-stream's, per `recvmmsg` batch) and
//! the set of sequence numbers received, from which the loss among the client's window is
//! read after the trailer. No I/O: the server feeds it batches and their completion times,
//! so the window rules are tested on made-up ones.

use std::time::{Duration, Instant};

use crate::protocol::{Header, UdpStreamResult, UdpTrailer};

use super::mmsg::Batch;

/// Sequence numbers at or above this are not tracked (and counted as strays): it bounds the
/// server's bitmap at 512 MiB, which a sender at 10 million datagrams per second reaches
/// after about 7 minutes.
const SEQ_LIMIT: u64 = 1 << 32;
/// Rate the server's bitmap is preallocated for, in datagrams per second (a 12 s test:
/// 6 MiB); it grows if a faster sender needs more. Several times what a kernel datapath
/// delivered on the reference machines (docs/machine-notes.md "Measuring on these machines": 723k 64-byte datagrams/s on veth).
const SEQ_PREALLOC_RATE: u64 = 4_000_000;

/// The udp-stream receive side: the window (as tcp-stream's, per `recvmmsg` batch) and the
/// set of sequence numbers received.
pub(super) struct StreamReceiver {
    size: usize,
    cookie: [u8; 8],
    warmup: Duration,
    duration: Duration,
    /// `(open_at, close_at)`, set by the first batch with a valid datagram.
    edges: Option<(Instant, Instant)>,
    /// Completion of the last batch at or before `open_at`: where the window starts.
    start: Option<Instant>,
    /// Completion of the last batch inside the window.
    last_in_window: Option<Instant>,
    /// Whether a batch completed after `close_at`, i.e. the traffic outlasted the window.
    after_close: bool,
    packets_in_window: u64,
    bytes_in_window: u64,
    seen: SeqSet,
    strays: u64,
}

impl StreamReceiver {
    pub(super) fn new(header: &Header, cookie: u64) -> StreamReceiver {
        // The client sends for warm-up + duration + a margin; one second covers the margin.
        let secs = (header.warmup_ms.saturating_add(header.duration_ms) / 1000).saturating_add(1);
        StreamReceiver {
            size: header.message_size as usize,
            cookie: cookie.to_be_bytes(),
            warmup: Duration::from_millis(header.warmup_ms),
            duration: Duration::from_millis(header.duration_ms),
            edges: None,
            start: None,
            last_in_window: None,
            after_close: false,
            packets_in_window: 0,
            bytes_in_window: 0,
            seen: SeqSet::with_capacity(secs.saturating_mul(SEQ_PREALLOC_RATE)),
            strays: 0,
        }
    }

    /// Takes the `n` datagrams of one `recvmmsg` batch that completed at `t`.
    pub(super) fn batch(&mut self, batch: &Batch, n: usize, t: Instant) {
        let mut valid: u64 = 0;
        for i in 0..n {
            let d = batch.received(i);
            if d.len() == self.size
                && d[8..16] == self.cookie
                && self
                    .seen
                    .insert(u64::from_be_bytes(d[..8].try_into().expect("8 bytes")))
            {
                valid += 1;
            } else {
                self.strays += 1;
            }
        }
        if valid > 0 {
            self.window(t, valid);
        }
    }

    /// The window, fed with the completion time of a batch of `valid` datagrams.
    fn window(&mut self, t: Instant, valid: u64) {
        let Some((open_at, close_at)) = self.edges else {
            // The first datagram: the window opens warm-up later.
            let open_at = t + self.warmup;
            self.edges = Some((open_at, open_at + self.duration));
            self.start = Some(t);
            return;
        };
        if t <= open_at {
            self.start = Some(t);
        } else if t <= close_at {
            self.packets_in_window += valid;
            self.bytes_in_window += valid * self.size as u64;
            self.last_in_window = Some(t);
        } else {
            self.after_close = true;
        }
    }

    /// The window's length: from its start to `close_at` if the traffic outlasted it (so
    /// loss at its end lowers the rate), else to the last batch in it (the sender stopped
    /// early: the window shrinks rather than the rate drop). 0 if nothing arrived inside
    /// the window.
    fn window_ns(&self) -> u64 {
        let (Some(start), Some((_, close_at))) = (self.start, self.edges) else {
            return 0;
        };
        let end = if self.after_close {
            close_at
        } else {
            self.last_in_window.unwrap_or(start)
        };
        end.duration_since(start).as_nanos() as u64
    }

    pub(super) fn result(&self, tr: &UdpTrailer) -> UdpStreamResult {
        UdpStreamResult {
            packets_in_window: self.packets_in_window,
            bytes_in_window: self.bytes_in_window,
            window_ns: self.window_ns(),
            received_in_range: self.seen.count_range(tr.first_seq, tr.sent_in_window),
            received_total: self.seen.len(),
            strays: self.strays,
        }
    }
}

/// The set of sequence numbers received: a bitmap indexed by sequence number.
struct SeqSet {
    words: Vec<u64>,
    len: u64,
}

impl SeqSet {
    /// A set preallocated for sequence numbers below `seqs` (fresh memory is zeroed lazily
    /// by the kernel, so untouched parts cost little); it grows past that when needed.
    fn with_capacity(seqs: u64) -> SeqSet {
        let words = seqs.min(SEQ_LIMIT).div_ceil(64).max(1) as usize;
        SeqSet {
            words: vec![0u64; words],
            len: 0,
        }
    }

    /// Adds `seq`; `false` if it was in the set already or is not tracked (≥ `SEQ_LIMIT`).
    #[inline]
    fn insert(&mut self, seq: u64) -> bool {
        if seq >= SEQ_LIMIT {
            return false;
        }
        let w = (seq / 64) as usize;
        if w >= self.words.len() {
            let grown = (w + 1).max(self.words.len().saturating_mul(2));
            self.words.resize(grown, 0);
        }
        let bit = 1u64 << (seq % 64);
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.len += 1;
        true
    }

    /// How many distinct sequence numbers are in the set.
    fn len(&self) -> u64 {
        self.len
    }

    /// How many of `first .. first + count` are in the set.
    fn count_range(&self, first: u64, count: u64) -> u64 {
        let end = first
            .saturating_add(count)
            .min(self.words.len() as u64 * 64);
        if first >= end {
            return 0;
        }
        let (first_word, last_word) = (first / 64, (end - 1) / 64);
        (first_word..=last_word)
            .map(|w| {
                let mut word = self.words[w as usize];
                if w == first_word {
                    word &= u64::MAX << (first % 64);
                }
                let top = end - w * 64; // bits of this word below `end`, 1..=64 in the last
                if w == last_word && top < 64 {
                    word &= (1u64 << top) - 1;
                }
                u64::from(word.count_ones())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Workload;
    use crate::udp::fill_datagram;

    #[test]
    fn seq_set_counts_distinct_numbers_in_a_range() {
        let mut s = SeqSet::with_capacity(10);
        for seq in [0, 1, 5, 63, 64, 65, 127, 128, 1_000, 70_000] {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(5), "a duplicate is not new");
        assert!(!s.insert(SEQ_LIMIT), "beyond the limit is not tracked");
        assert_eq!(s.len(), 10);
        assert_eq!(s.count_range(0, 1), 1);
        assert_eq!(s.count_range(0, 64), 4);
        assert_eq!(s.count_range(1, 63), 3);
        assert_eq!(s.count_range(63, 2), 2);
        assert_eq!(s.count_range(64, 64), 3);
        assert_eq!(s.count_range(2, 3), 0);
        assert_eq!(s.count_range(0, 200_000), 10);
        assert_eq!(s.count_range(70_000, 1), 1);
        assert_eq!(s.count_range(70_001, u64::MAX), 0);
        assert_eq!(s.count_range(5, 0), 0);
    }

    fn receiver(warmup_ms: u64, duration_ms: u64) -> StreamReceiver {
        StreamReceiver::new(
            &Header {
                workload: Workload::UdpStream,
                warmup_ms,
                duration_ms,
                message_size: 100,
            },
            7,
        )
    }

    #[test]
    fn window_counts_batches_between_its_edges() {
        let mut rx = receiver(10, 50);
        let t0 = Instant::now();
        // A batch of 4 every ms from t=1 to t=100.
        for ms in 1..=100u64 {
            rx.window(t0 + Duration::from_millis(ms), 4);
        }
        // First at t=1; opens after the batch at t=11, closes with the one at t=61.
        assert_eq!(rx.window_ns(), 50_000_000);
        assert_eq!(rx.packets_in_window, 200);
        assert_eq!(rx.bytes_in_window, 20_000);
    }

    #[test]
    fn a_sender_stopping_early_shortens_the_window_and_loss_at_the_end_does_not() {
        let t0 = Instant::now();
        let mut rx = receiver(10, 50);
        for ms in 1..=30u64 {
            rx.window(t0 + Duration::from_millis(ms), 1);
        }
        assert_eq!(rx.window_ns(), 19_000_000);
        assert_eq!(rx.packets_in_window, 19);

        // Traffic from t=1 to 30, nothing from 31 to 70, then again: the silence is loss.
        let mut rx = receiver(10, 50);
        for ms in (1..=30u64).chain(71..=80) {
            rx.window(t0 + Duration::from_millis(ms), 1);
        }
        assert_eq!(rx.window_ns(), 50_000_000);
        assert_eq!(rx.packets_in_window, 19);
    }

    #[test]
    fn nothing_received_is_a_zero_window() {
        let rx = receiver(10, 50);
        assert_eq!(rx.window_ns(), 0);
        let r = rx.result(&UdpTrailer {
            first_seq: 0,
            sent_in_window: 10,
            sent_total: 20,
        });
        assert_eq!(r.window_ns, 0);
        assert_eq!(r.received_in_range, 0);
    }

    #[test]
    fn batches_drop_strays_and_duplicates() {
        let mut rx = receiver(0, 50);
        let mut b = Batch::new(4, 101);
        let good = |seq: u64| {
            let mut d = vec![0u8; 100];
            fill_datagram(&mut d, 7);
            d[..8].copy_from_slice(&seq.to_be_bytes());
            d
        };
        let mut wrong_cookie = good(3);
        wrong_cookie[15] = 8;
        let datagrams = [good(1), good(1), wrong_cookie, good(2)[..99].to_vec()];
        for (i, d) in datagrams.iter().enumerate() {
            b.fake_received(i, d);
        }
        rx.batch(&b, 4, Instant::now());
        assert_eq!(rx.seen.len(), 1);
        assert_eq!(rx.strays, 3);
    }
}

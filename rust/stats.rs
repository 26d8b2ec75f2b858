// SPDX-License-Identifier: GPL-2.0

//! Per-queue counters: their names as `ethtool -S` shows them, and the
//! layout of the ethtool statistics table (`q<N>_<name>` for every active
//! queue, in queue order).
//!
//! This file only depends on `core`.

use core::fmt::{self, Write};

/// One per-queue counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Counter {
    /// Packets handed to the backend.
    TxPackets,
    /// Bytes handed to the backend.
    TxBytes,
    /// Packets dropped before reaching the ring.
    TxDrops,
    /// Packets the backend reported as failed.
    TxErrors,
    /// GSO (TSO) packets sent.
    TxGso,
    /// Packets that needed more slots than allowed and were linearized.
    TxLinearized,
    /// Times the TX queue was stopped because the ring was full.
    TxStops,
    /// Times a stopped TX queue was woken by completions.
    TxWakes,
    /// Notifications (event channel kicks) sent for TX requests.
    TxNotifies,
    /// Packets received.
    RxPackets,
    /// Bytes received.
    RxBytes,
    /// Received packets dropped (no memory).
    RxDrops,
    /// Received packets the backend flagged as errors or the stack refused.
    RxErrors,
    /// GSO packets received (large packets handed to the stack as one skb).
    RxGso,
    /// Received packets whose partial checksum was set up (a blank checksum,
    /// or any GSO packet).
    RxCsumFixups,
    /// Notifications sent for posted RX buffers.
    RxNotifies,
    /// RX refills that ran out of pages (retried from a timer).
    RxRefillRetries,
    /// Interrupts taken.
    Irqs,
    /// Interrupts with nothing to do.
    SpuriousIrqs,
    /// Buffer pieces (an RX page, a TX packet's page) never freed because
    /// the backend kept access to them.
    PagesLeaked,
    /// Shared ring pages the backend still mapped at teardown: the grant
    /// table frees them once it lets go.
    RingPagesDeferred,
    /// Gauge: grant references the queue holds (buffers and rings).
    GrantRefs,
    /// Gauge: pages the queue holds (RX buffers posted or kept for reuse,
    /// and the two ring pages).
    Pages,
}

impl Counter {
    /// Every counter, in table order.
    pub(crate) const ALL: [Counter; 23] = [
        Counter::TxPackets,
        Counter::TxBytes,
        Counter::TxDrops,
        Counter::TxErrors,
        Counter::TxGso,
        Counter::TxLinearized,
        Counter::TxStops,
        Counter::TxWakes,
        Counter::TxNotifies,
        Counter::RxPackets,
        Counter::RxBytes,
        Counter::RxDrops,
        Counter::RxErrors,
        Counter::RxGso,
        Counter::RxCsumFixups,
        Counter::RxNotifies,
        Counter::RxRefillRetries,
        Counter::Irqs,
        Counter::SpuriousIrqs,
        Counter::PagesLeaked,
        Counter::RingPagesDeferred,
        Counter::GrantRefs,
        Counter::Pages,
    ];

    /// Number of counters per queue.
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// The counter's name in `ethtool -S` (after the `q<N>_` prefix).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Counter::TxPackets => "tx_packets",
            Counter::TxBytes => "tx_bytes",
            Counter::TxDrops => "tx_drops",
            Counter::TxErrors => "tx_errors",
            Counter::TxGso => "tx_gso_packets",
            Counter::TxLinearized => "tx_linearized",
            Counter::TxStops => "tx_queue_stops",
            Counter::TxWakes => "tx_queue_wakes",
            Counter::TxNotifies => "tx_notifications",
            Counter::RxPackets => "rx_packets",
            Counter::RxBytes => "rx_bytes",
            Counter::RxDrops => "rx_drops",
            Counter::RxErrors => "rx_errors",
            Counter::RxGso => "rx_gso_packets",
            Counter::RxCsumFixups => "rx_csum_fixups",
            Counter::RxNotifies => "rx_notifications",
            Counter::RxRefillRetries => "rx_refill_retries",
            Counter::Irqs => "interrupts",
            Counter::SpuriousIrqs => "spurious_interrupts",
            Counter::PagesLeaked => "pages_leaked",
            Counter::RingPagesDeferred => "ring_pages_deferred",
            Counter::GrantRefs => "grant_refs",
            Counter::Pages => "pages",
        }
    }

    /// The counter's index in a queue's array of counters.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// Length of one ethtool string (`ETH_GSTRING_LEN`).
pub(crate) const GSTRING_LEN: usize = 32;

/// Number of ethtool statistics with `queues` active queues.
pub(crate) fn stats_count(queues: usize) -> usize {
    queues * Counter::COUNT
}

/// Which queue and counter entry `i` of the ethtool table is.
pub(crate) fn stat_at(i: usize) -> (usize, Counter) {
    let q = i / Counter::COUNT;
    let c = Counter::ALL
        .get(i % Counter::COUNT)
        .copied()
        .unwrap_or(Counter::TxPackets);
    (q, c)
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            // Keep the last byte for the terminating NUL.
            if self.at + 1 >= self.buf.len() {
                return Err(fmt::Error);
            }
            if let Some(slot) = self.buf.get_mut(self.at) {
                *slot = b;
            }
            self.at += 1;
        }
        Ok(())
    }
}

/// Writes the name of entry `i` (`q<N>_<counter>`) into `out`, NUL padded.
/// Returns `false` if it does not fit (it then holds a truncated name).
pub(crate) fn write_stat_name(i: usize, out: &mut [u8; GSTRING_LEN]) -> bool {
    out.fill(0);
    let (q, c) = stat_at(i);
    let mut cur = Cursor {
        buf: &mut out[..],
        at: 0,
    };
    write!(cur, "q{}_{}", q, c.name()).is_ok()
}

// SPDX-License-Identifier: GPL-2.0

//! Offload decisions of the kernel-independent code: how a packet's memory
//! becomes TX pieces, checksum flags, MTU limits, queue counts, and the
//! ethtool statistics table.

use crate::negotiate::{
    max_mtu, plan, queue_limit, BackendFeatures, FrontendConfig, NetFeatures, ETH_DATA_LEN,
};
use crate::netif::{
    NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED, XEN_NETIF_MAX_TX_SIZE, XEN_PAGE_SIZE,
};
use crate::stats::{stat_at, stats_count, write_stat_name, Counter, GSTRING_LEN};
use crate::tx_queue::{tx_csum_flags, TxLayout, TxPiece, MAX_TX_PIECES};

#[test]
fn layout_of_head_and_fragments() {
    let mut l = TxLayout::new();
    // A 200-byte head at 0x10000 + 4000 crosses into the next page.
    assert!(l.add_span(0, 0x10000 + 4000, 200));
    // A fragment of 9000 bytes at offset 100 of a compound page.
    assert!(l.add_span(1, 100, 9000));
    // A fragment starting in the third page of its compound page.
    assert!(l.add_span(2, 2 * XEN_PAGE_SIZE + 10, 50));
    assert_eq!(
        l.pieces(),
        &[
            TxPiece {
                offset: 4000,
                len: 96
            },
            TxPiece {
                offset: 0,
                len: 104
            },
            TxPiece {
                offset: 100,
                len: 3996
            },
            TxPiece {
                offset: 0,
                len: 4096
            },
            TxPiece {
                offset: 0,
                len: 908
            },
            TxPiece {
                offset: 10,
                len: 50
            },
        ]
    );
    assert_eq!(l.len(), 9250);
    assert_eq!(l.source(0), Some((0, 0x10)));
    assert_eq!(l.source(1), Some((0, 0x11)));
    assert_eq!(l.source(2), Some((1, 0)));
    assert_eq!(l.source(3), Some((1, 1)));
    assert_eq!(l.source(4), Some((1, 2)));
    assert_eq!(l.source(5), Some((2, 2)));
    assert_eq!(l.source(6), None);
}

#[test]
fn layout_at_and_past_the_slot_limit() {
    // 18 one-page fragments: exactly the limit.
    let mut l = TxLayout::new();
    for i in 0..MAX_TX_PIECES {
        assert!(l.add_span(i as u8, 0, XEN_PAGE_SIZE));
    }
    assert_eq!(l.pieces().len(), MAX_TX_PIECES);
    // One byte more needs a 19th piece: the caller must linearize.
    assert!(!l.add_span(99, 0, 1));
    assert!(l.pieces().is_empty());
    assert_eq!(l.source(0), None);

    // A linearized 64 KiB packet at the worst offset still fits.
    let mut l = TxLayout::new();
    assert!(l.add_span(0, 0x20000 + 4095, XEN_NETIF_MAX_TX_SIZE as usize));
    assert_eq!(l.pieces().len(), 17);
    assert_eq!(l.len(), XEN_NETIF_MAX_TX_SIZE as usize);
    // Empty spans add nothing.
    let mut l = TxLayout::new();
    assert!(l.add_span(0, 0x1234, 0));
    assert!(l.is_empty());
}

#[test]
fn checksum_flags_follow_ip_summed() {
    // CHECKSUM_NONE, UNNECESSARY, COMPLETE, PARTIAL.
    assert_eq!(tx_csum_flags(0), 0);
    assert_eq!(tx_csum_flags(1), NETTXF_DATA_VALIDATED);
    assert_eq!(tx_csum_flags(2), 0);
    assert_eq!(tx_csum_flags(3), NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED);
    assert_eq!(tx_csum_flags(77), 0);
}

#[test]
fn mtu_limits() {
    assert_eq!(max_mtu(false), ETH_DATA_LEN);
    assert_eq!(max_mtu(true), 65535);
}

#[test]
fn queue_counts() {
    // 0: one per online CPU, capped at 8.
    assert_eq!(queue_limit(0, 2), 2);
    assert_eq!(queue_limit(0, 64), 8);
    assert_eq!(queue_limit(0, 0), 1);
    assert_eq!(queue_limit(4, 2), 4);
    assert_eq!(queue_limit(100, 2), 8);
    assert_eq!(queue_limit(1, 16), 1);
}

#[test]
fn offload_bits_follow_backend_features() {
    let all = BackendFeatures {
        rx_copy: true,
        sg: true,
        gso_tcpv4: true,
        gso_tcpv6: true,
        ipv6_csum_offload: true,
        ..Default::default()
    };
    let p = plan(&all, &FrontendConfig::default()).unwrap();
    assert_eq!(
        p.features.bits(),
        NetFeatures::SG
            | NetFeatures::TSO
            | NetFeatures::TSO6
            | NetFeatures::IP_CSUM
            | NetFeatures::IPV6_CSUM
    );
    // No SG: no TSO either; no IPv6 offload advertised: none used.
    let bare = BackendFeatures {
        rx_copy: true,
        gso_tcpv4: true,
        gso_tcpv6: true,
        ..Default::default()
    };
    let p = plan(&bare, &FrontendConfig::default()).unwrap();
    assert_eq!(p.features.bits(), NetFeatures::IP_CSUM);
    let no_csum = BackendFeatures {
        no_csum_offload: true,
        ..all
    };
    let p = plan(&no_csum, &FrontendConfig::default()).unwrap();
    assert_eq!(p.features.bits() & NetFeatures::IP_CSUM, 0);
}

#[test]
fn ethtool_stat_table() {
    assert_eq!(stats_count(0), 0);
    assert_eq!(stats_count(4), 4 * Counter::COUNT);
    assert_eq!(stat_at(0), (0, Counter::TxPackets));
    assert_eq!(stat_at(Counter::COUNT), (1, Counter::TxPackets));
    assert_eq!(
        stat_at(3 * Counter::COUNT + Counter::SpuriousIrqs.index()),
        (3, Counter::SpuriousIrqs)
    );
    // Every counter's index is its position in ALL.
    for (i, c) in Counter::ALL.iter().enumerate() {
        assert_eq!(c.index(), i);
    }
    // Names: unique, fitting ETH_GSTRING_LEN with the queue prefix of the
    // largest queue number, NUL padded.
    for i in 0..stats_count(8) {
        let mut n = [0xffu8; GSTRING_LEN];
        assert!(write_stat_name(i, &mut n), "entry {i} does not fit");
        let len = n.iter().position(|&b| b == 0).unwrap();
        assert!(n[len..].iter().all(|&b| b == 0));
        let s = core::str::from_utf8(&n[..len]).unwrap();
        let (q, c) = stat_at(i);
        assert_eq!(s, format!("q{}_{}", q, c.name()));
        for j in 0..i {
            let mut m = [0u8; GSTRING_LEN];
            write_stat_name(j, &mut m);
            assert_ne!(m, n, "entries {j} and {i} share a name");
        }
    }
    // A name that cannot fit is reported, and still NUL terminated.
    let mut n = [0u8; GSTRING_LEN];
    assert!(!write_stat_name(
        100_000_000_000 * Counter::COUNT + Counter::SpuriousIrqs.index(),
        &mut n
    ));
    assert_eq!(n[GSTRING_LEN - 1], 0);
}

// SPDX-License-Identifier: GPL-2.0

//! Byte layouts and constants of the netif ABI.

use std::mem::{align_of, size_of};

use crate::netif::*;
use crate::ring::{entry_size, FrontRing};

fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: `T` is a plain-old-data `repr(C)` struct without padding in
    // these tests; reading its bytes is defined.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()).to_vec() }
}

#[test]
fn struct_sizes_match_c() {
    assert_eq!(size_of::<TxRequest>(), 12);
    assert_eq!(size_of::<TxResponse>(), 4);
    assert_eq!(size_of::<RxRequest>(), 8);
    assert_eq!(size_of::<RxResponse>(), 8);
    assert_eq!(size_of::<ExtraInfo>(), 8);
    assert_eq!(size_of::<SringHeader>(), 64);
    assert_eq!(size_of::<TxSringEntry>(), 12);
    assert_eq!(size_of::<RxSringEntry>(), 8);
    assert_eq!(align_of::<TxSringEntry>(), 4);
    assert_eq!(TX_ENTRY_SIZE, 12);
    assert_eq!(RX_ENTRY_SIZE, 8);
    assert_eq!(entry_size::<TxRequest, TxResponse>(), 12);
    assert_eq!(entry_size::<RxRequest, RxResponse>(), 8);
}

#[test]
fn tx_request_byte_layout() {
    let r = TxRequest {
        gref: 0x0403_0201,
        offset: 0x0605,
        flags: 0x0807,
        id: 0x0a09,
        size: 0x0c0b,
    };
    // Little-endian hosts (x86, arm64), like Xen guests.
    assert_eq!(bytes_of(&r), (1u8..=12).collect::<Vec<_>>());
}

#[test]
fn rx_layouts() {
    let r = RxRequest {
        id: 0x0201,
        pad: 0x0403,
        gref: 0x0807_0605,
    };
    assert_eq!(bytes_of(&r), (1u8..=8).collect::<Vec<_>>());
    let r = RxResponse {
        id: 0x0201,
        offset: 0x0403,
        flags: 0x0605,
        status: 0x0807,
    };
    assert_eq!(bytes_of(&r), (1u8..=8).collect::<Vec<_>>());
    let r = TxResponse {
        id: 0x0201,
        status: -2,
    };
    assert_eq!(bytes_of(&r), vec![1, 2, 0xfe, 0xff]);
}

#[test]
fn extra_info_layout_and_overlays() {
    let e = ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV6, true);
    let b = e.to_bytes();
    assert_eq!(b, bytes_of(&e).as_slice());
    assert_eq!(b[0], XEN_NETIF_EXTRA_TYPE_GSO);
    assert_eq!(b[1], XEN_NETIF_EXTRA_FLAG_MORE);
    assert_eq!(u16::from_le_bytes([b[2], b[3]]), 1448);
    assert_eq!(b[4], XEN_NETIF_GSO_TYPE_TCPV6);
    assert_eq!(b[5], 0);
    assert_eq!(u16::from_le_bytes([b[6], b[7]]), 0);
    assert!(e.has_more());
    assert_eq!(e.gso().size, 1448);
    assert_eq!(e.gso().gso_type, XEN_NETIF_GSO_TYPE_TCPV6);

    // Same bytes when viewed through the rx response / tx request overlays.
    let rsp = e.to_rx_response();
    assert_eq!(bytes_of(&rsp), b.to_vec());
    assert_eq!(ExtraInfo::from_rx_response(&rsp), e);
    let req = e.to_tx_request();
    assert_eq!(&bytes_of(&req)[..8], &b[..]);
    assert_eq!(&bytes_of(&req)[8..], &[0, 0, 0, 0]);
    assert_eq!(ExtraInfo::from_tx_request(&req), e);
    assert_eq!(ExtraInfo::from_bytes(b), e);

    let m = ExtraInfo::new_mcast(true, [1, 2, 3, 4, 5, 6], false);
    assert_eq!(
        m.to_bytes(),
        [XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0, 1, 2, 3, 4, 5, 6]
    );
    let m = ExtraInfo::new_mcast(false, [1, 2, 3, 4, 5, 6], false);
    assert_eq!(m.extra_type, XEN_NETIF_EXTRA_TYPE_MCAST_DEL);
    assert!(!m.has_more());
    assert!(format!("{m:?}").contains("ExtraInfo"));
    let x = ExtraInfo::from_bytes([XEN_NETIF_EXTRA_TYPE_XDP, 0, 0x34, 0x12, 0, 0, 0, 0]);
    assert_eq!(x.xdp_headroom(), 0x1234);
}

#[test]
fn constants_match_netif_h() {
    assert_eq!(NETTXF_CSUM_BLANK, 1);
    assert_eq!(NETTXF_DATA_VALIDATED, 2);
    assert_eq!(NETTXF_MORE_DATA, 4);
    assert_eq!(NETTXF_EXTRA_INFO, 8);
    assert_eq!(NETRXF_DATA_VALIDATED, 1);
    assert_eq!(NETRXF_CSUM_BLANK, 2);
    assert_eq!(NETRXF_MORE_DATA, 4);
    assert_eq!(NETRXF_EXTRA_INFO, 8);
    assert_eq!(NETRXF_GSO_PREFIX, 16);
    assert_eq!(NETRXF_KNOWN, 0x1f);
    assert_eq!(XEN_NETIF_EXTRA_TYPE_NONE, 0);
    assert_eq!(XEN_NETIF_EXTRA_TYPE_GSO, 1);
    assert_eq!(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 2);
    assert_eq!(XEN_NETIF_EXTRA_TYPE_MCAST_DEL, 3);
    assert_eq!(XEN_NETIF_EXTRA_TYPE_HASH, 4);
    assert_eq!(XEN_NETIF_EXTRA_TYPE_XDP, 5);
    assert_eq!(XEN_NETIF_EXTRA_TYPE_MAX, 6);
    assert_eq!(XEN_NETIF_EXTRA_FLAG_MORE, 1);
    assert_eq!(XEN_NETIF_GSO_TYPE_NONE, 0);
    assert_eq!(XEN_NETIF_GSO_TYPE_TCPV4, 1);
    assert_eq!(XEN_NETIF_GSO_TYPE_TCPV6, 2);
    assert_eq!(XEN_NETIF_RSP_DROPPED, -2);
    assert_eq!(XEN_NETIF_RSP_ERROR, -1);
    assert_eq!(XEN_NETIF_RSP_OKAY, 0);
    assert_eq!(XEN_NETIF_RSP_NULL, 1);
    assert_eq!(XEN_NETIF_NR_SLOTS_MIN, 18);
    assert_eq!(XEN_NETIF_MAX_TX_SIZE, 0xFFFF);
    assert_eq!(NET_RX_SLOTS_MIN, 19);
}

#[test]
fn shared_ring_header_offsets() {
    assert_eq!(SRING_REQ_PROD_OFFSET, 0);
    assert_eq!(SRING_REQ_EVENT_OFFSET, 4);
    assert_eq!(SRING_RSP_PROD_OFFSET, 8);
    assert_eq!(SRING_RSP_EVENT_OFFSET, 12);
    assert_eq!(SRING_ENTRIES_OFFSET, 64);
}

#[test]
fn ring_sizes_like_ring_h() {
    // (4096 - 64) / 12 = 336 -> 256; (4096 - 64) / 8 = 504 -> 256.
    assert_eq!(NET_TX_RING_SIZE, 256);
    assert_eq!(NET_RX_RING_SIZE, 256);
    assert_eq!(FrontRing::<TxRequest, TxResponse>::SIZE, 256);
    assert_eq!(FrontRing::<RxRequest, RxResponse>::SIZE, 256);
    assert_eq!(const_ring_size(4096, 12), 256);
    assert_eq!(const_ring_size(64 + 12 * 255, 12), 128);
    assert_eq!(const_ring_size(64 + 12 * 256, 12), 256);
    assert_eq!(const_ring_size(8192, 8), 512);
    assert_eq!(const_ring_size(64 + 8 * 1024, 8), 1024);
    assert_eq!(const_ring_size(63, 8), 0);
    assert_eq!(const_ring_size(4096, 0), 0);
    // A 4-byte entry: (4096 - 64) / 4 = 1008 -> 512.
    assert_eq!(const_ring_size(4096, 4), 512);
}

/// Reference implementation of ring.h's `__RD32` macro chain.
fn rd32_reference(x: u32) -> u32 {
    fn rd2(x: u32) -> u32 {
        if x & 0x2 != 0 {
            0x2
        } else {
            x & 0x1
        }
    }
    fn rd4(x: u32) -> u32 {
        if x & 0xc != 0 {
            rd2(x >> 2) << 2
        } else {
            rd2(x)
        }
    }
    fn rd8(x: u32) -> u32 {
        if x & 0xf0 != 0 {
            rd4(x >> 4) << 4
        } else {
            rd4(x)
        }
    }
    fn rd16(x: u32) -> u32 {
        if x & 0xff00 != 0 {
            rd8(x >> 8) << 8
        } else {
            rd8(x)
        }
    }
    if x & 0xffff_0000 != 0 {
        rd16(x >> 16) << 16
    } else {
        rd16(x)
    }
}

#[test]
fn round_down_matches_rd32() {
    let mut v: Vec<u32> = (0..5000).collect();
    v.extend([
        u32::MAX,
        u32::MAX - 1,
        1 << 31,
        (1 << 31) + 1,
        0x8000_ffff,
        65535,
        65536,
    ]);
    for x in v {
        assert_eq!(round_down_pow2(x), rd32_reference(x), "x = {x}");
    }
}

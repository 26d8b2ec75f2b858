// SPDX-License-Identifier: GPL-2.0

//! Xen paravirtual network interface ABI.
//!
//! A Rust rendering of the wire format defined by Xen's public headers
//! `io/netif.h` and `io/ring.h` (as shipped by Linux in
//! `include/xen/interface/io/`). Every structure here is `#[repr(C)]` and its
//! size and field offsets are checked at compile time against the C layout.
//!
//! This file only depends on `core`; it is compiled both into the kernel
//! module and into the host test crate.

use core::mem::{offset_of, size_of};

/// A grant reference (`grant_ref_t`).
pub(crate) type GrantRef = u32;

/// A free-running ring index (`RING_IDX`).
pub(crate) type RingIdx = u32;

/// Size of a Xen page (`XEN_PAGE_SIZE`); shared rings and buffers use it.
pub(crate) const XEN_PAGE_SIZE: usize = 4096;

/// Minimum number of slots a backend must accept for one packet.
pub(crate) const XEN_NETIF_NR_SLOTS_MIN: u32 = 18;

/// Largest packet (in bytes) the transmit wire format can describe.
pub(crate) const XEN_NETIF_MAX_TX_SIZE: u32 = 0xFFFF;

// ---------------------------------------------------------------------------
// Transmit flags (`XEN_NETTXF_*`).
// ---------------------------------------------------------------------------

/// TX: the protocol checksum field is blank (checksum offload).
pub(crate) const NETTXF_CSUM_BLANK: u16 = 1 << 0;
/// TX: packet data has been validated against its protocol checksum.
pub(crate) const NETTXF_DATA_VALIDATED: u16 = 1 << 1;
/// TX: the packet continues in the next request slot.
pub(crate) const NETTXF_MORE_DATA: u16 = 1 << 2;
/// TX: the request is followed by extra-info slot(s).
pub(crate) const NETTXF_EXTRA_INFO: u16 = 1 << 3;

// ---------------------------------------------------------------------------
// Receive flags (`XEN_NETRXF_*`).
// ---------------------------------------------------------------------------

/// RX: packet data has been validated against its protocol checksum.
pub(crate) const NETRXF_DATA_VALIDATED: u16 = 1 << 0;
/// RX: the protocol checksum field is blank (checksum offload).
pub(crate) const NETRXF_CSUM_BLANK: u16 = 1 << 1;
/// RX: the packet continues in the next response slot.
pub(crate) const NETRXF_MORE_DATA: u16 = 1 << 2;
/// RX: the response is followed by extra-info slot(s).
pub(crate) const NETRXF_EXTRA_INFO: u16 = 1 << 3;
/// RX: packet has a GSO prefix (deprecated, kept for compatibility).
pub(crate) const NETRXF_GSO_PREFIX: u16 = 1 << 4;
/// Every receive flag bit defined by the ABI.
pub(crate) const NETRXF_KNOWN: u16 = NETRXF_DATA_VALIDATED
    | NETRXF_CSUM_BLANK
    | NETRXF_MORE_DATA
    | NETRXF_EXTRA_INFO
    | NETRXF_GSO_PREFIX;

// ---------------------------------------------------------------------------
// Extra info (`XEN_NETIF_EXTRA_*`).
// ---------------------------------------------------------------------------

/// Extra-info type: never used, invalid.
pub(crate) const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
/// Extra-info type: GSO parameters (`u.gso`).
pub(crate) const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
/// Extra-info type: add a multicast filter address (`u.mcast`).
#[cfg(test)]
pub(crate) const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// Extra-info type: delete a multicast filter address (`u.mcast`).
#[cfg(test)]
pub(crate) const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// Extra-info type: packet hash (`u.hash`).
#[cfg(test)]
pub(crate) const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
/// Extra-info type: XDP headroom (`u.xdp`).
#[cfg(test)]
pub(crate) const XEN_NETIF_EXTRA_TYPE_XDP: u8 = 5;
/// One past the largest valid extra-info type.
pub(crate) const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 6;

/// Extra-info flag: another extra-info slot follows this one.
pub(crate) const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << 0;

/// GSO type: none.
pub(crate) const XEN_NETIF_GSO_TYPE_NONE: u8 = 0;
/// GSO type: TCP over IPv4.
pub(crate) const XEN_NETIF_GSO_TYPE_TCPV4: u8 = 1;
/// GSO type: TCP over IPv6.
pub(crate) const XEN_NETIF_GSO_TYPE_TCPV6: u8 = 2;

// ---------------------------------------------------------------------------
// Response status (`XEN_NETIF_RSP_*`).
// ---------------------------------------------------------------------------

/// Response status: the packet was dropped.
pub(crate) const XEN_NETIF_RSP_DROPPED: i16 = -2;
/// Response status: an error occurred.
pub(crate) const XEN_NETIF_RSP_ERROR: i16 = -1;
/// Response status: success.
pub(crate) const XEN_NETIF_RSP_OKAY: i16 = 0;
/// Response status: no response (used for auxiliary extra-info requests).
pub(crate) const XEN_NETIF_RSP_NULL: i16 = 1;

// ---------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------

/// Transmit request (`struct xen_netif_tx_request`), 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TxRequest {
    /// Grant reference of the buffer page.
    pub(crate) gref: GrantRef,
    /// Offset of the data within the buffer page.
    pub(crate) offset: u16,
    /// `NETTXF_*` flags.
    pub(crate) flags: u16,
    /// Request identifier, echoed in the response.
    pub(crate) id: u16,
    /// Total packet size for the first slot of a packet, fragment size otherwise.
    pub(crate) size: u16,
}

/// Transmit response (`struct xen_netif_tx_response`), 4 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TxResponse {
    /// Identifier of the request this answers.
    pub(crate) id: u16,
    /// `XEN_NETIF_RSP_*` status.
    pub(crate) status: i16,
}

/// Receive request (`struct xen_netif_rx_request`), 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RxRequest {
    /// Request identifier, echoed in the response.
    pub(crate) id: u16,
    /// Padding.
    pub(crate) pad: u16,
    /// Grant reference of the (writable) buffer page.
    pub(crate) gref: GrantRef,
}

/// Receive response (`struct xen_netif_rx_response`), 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RxResponse {
    /// Identifier of the request this answers.
    pub(crate) id: u16,
    /// Offset of the data within the buffer page.
    pub(crate) offset: u16,
    /// `NETRXF_*` flags.
    pub(crate) flags: u16,
    /// Negative: `XEN_NETIF_RSP_*` error; otherwise the fragment size.
    pub(crate) status: i16,
}

/// GSO member of the extra-info union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtraGso {
    /// Maximum payload size of each segment (the MSS for TCP).
    pub(crate) size: u16,
    /// `XEN_NETIF_GSO_TYPE_*`.
    pub(crate) gso_type: u8,
    /// Padding (future expansion).
    pub(crate) pad: u8,
    /// `XEN_NETIF_GSO_FEAT_*` flags.
    pub(crate) features: u16,
}

/// Multicast member of the extra-info union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtraMcast {
    /// Ethernet address to add to or remove from the filter.
    pub(crate) addr: [u8; 6],
}

/// Hash member of the extra-info union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtraHash {
    /// Hash type (`_XEN_NETIF_CTRL_HASH_TYPE_*`).
    pub(crate) hash_type: u8,
    /// Hash algorithm (`XEN_NETIF_CTRL_HASH_ALGORITHM_*`).
    pub(crate) algorithm: u8,
    /// Hash value, least significant byte first.
    pub(crate) value: [u8; 4],
}

/// XDP member of the extra-info union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtraXdp {
    /// Headroom in bytes in front of the received data.
    pub(crate) headroom: u16,
    /// Padding.
    pub(crate) pad: [u16; 2],
}

/// The type-specific payload of an extra-info slot (6 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union ExtraInfoUnion {
    /// `XEN_NETIF_EXTRA_TYPE_GSO`.
    pub(crate) gso: ExtraGso,
    /// `XEN_NETIF_EXTRA_TYPE_MCAST_{ADD,DEL}`.
    pub(crate) mcast: ExtraMcast,
    /// `XEN_NETIF_EXTRA_TYPE_HASH`.
    pub(crate) hash: ExtraHash,
    /// `XEN_NETIF_EXTRA_TYPE_XDP`.
    pub(crate) xdp: ExtraXdp,
    /// Raw view of the payload.
    pub(crate) pad: [u16; 3],
}

/// Extra-info slot (`struct xen_netif_extra_info`), 8 bytes.
///
/// It overlays a TX request or RX response slot of the same ring.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ExtraInfo {
    /// `XEN_NETIF_EXTRA_TYPE_*`.
    pub(crate) extra_type: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub(crate) flags: u8,
    /// Type-specific payload.
    pub(crate) u: ExtraInfoUnion,
}

impl core::fmt::Debug for ExtraInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExtraInfo")
            .field("extra_type", &self.extra_type)
            .field("flags", &self.flags)
            .field("payload", &self.payload())
            .finish()
    }
}

impl PartialEq for ExtraInfo {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for ExtraInfo {}

impl ExtraInfo {
    /// Builds an extra-info slot from its 8-byte in-memory representation.
    pub(crate) fn from_bytes(b: [u8; 8]) -> Self {
        ExtraInfo {
            extra_type: b[0],
            flags: b[1],
            u: ExtraInfoUnion {
                pad: [
                    u16::from_ne_bytes([b[2], b[3]]),
                    u16::from_ne_bytes([b[4], b[5]]),
                    u16::from_ne_bytes([b[6], b[7]]),
                ],
            },
        }
    }

    /// Returns the 8-byte in-memory representation of this slot.
    pub(crate) fn to_bytes(self) -> [u8; 8] {
        let p = self.payload();
        [
            self.extra_type,
            self.flags,
            p[0],
            p[1],
            p[2],
            p[3],
            p[4],
            p[5],
        ]
    }

    /// Returns the 6 payload bytes, whichever union member was written.
    pub(crate) fn payload(&self) -> [u8; 6] {
        // SAFETY: every member of the union is plain old data made of
        // integers, they all start at offset 0, and `pad` spans all 6 bytes
        // of the union (checked by the compile-time asserts below), so
        // reading it is always defined.
        let pad = unsafe { self.u.pad };
        let a = pad[0].to_ne_bytes();
        let b = pad[1].to_ne_bytes();
        let c = pad[2].to_ne_bytes();
        [a[0], a[1], b[0], b[1], c[0], c[1]]
    }

    /// Builds a GSO extra-info slot.
    pub(crate) fn new_gso(size: u16, gso_type: u8, more: bool) -> Self {
        ExtraInfo {
            extra_type: XEN_NETIF_EXTRA_TYPE_GSO,
            flags: if more { XEN_NETIF_EXTRA_FLAG_MORE } else { 0 },
            u: ExtraInfoUnion {
                gso: ExtraGso {
                    size,
                    gso_type,
                    pad: 0,
                    features: 0,
                },
            },
        }
    }

    /// Builds a multicast add/delete extra-info slot.
    #[cfg(test)]
    pub(crate) fn new_mcast(add: bool, addr: [u8; 6], more: bool) -> Self {
        ExtraInfo {
            extra_type: if add {
                XEN_NETIF_EXTRA_TYPE_MCAST_ADD
            } else {
                XEN_NETIF_EXTRA_TYPE_MCAST_DEL
            },
            flags: if more { XEN_NETIF_EXTRA_FLAG_MORE } else { 0 },
            u: ExtraInfoUnion {
                mcast: ExtraMcast { addr },
            },
        }
    }

    /// Interprets the payload as GSO parameters (regardless of the type).
    pub(crate) fn gso(&self) -> ExtraGso {
        let p = self.payload();
        ExtraGso {
            size: u16::from_ne_bytes([p[0], p[1]]),
            gso_type: p[2],
            pad: p[3],
            features: u16::from_ne_bytes([p[4], p[5]]),
        }
    }

    /// Interprets the payload as an XDP headroom (regardless of the type).
    #[cfg(test)]
    pub(crate) fn xdp_headroom(&self) -> u16 {
        let p = self.payload();
        u16::from_ne_bytes([p[0], p[1]])
    }

    /// Whether another extra-info slot follows this one.
    pub(crate) fn has_more(&self) -> bool {
        self.flags & XEN_NETIF_EXTRA_FLAG_MORE != 0
    }

    /// Reinterprets an RX response slot as an extra-info slot (the C union).
    pub(crate) fn from_rx_response(r: &RxResponse) -> Self {
        let a = r.id.to_ne_bytes();
        let b = r.offset.to_ne_bytes();
        let c = r.flags.to_ne_bytes();
        let d = r.status.to_ne_bytes();
        Self::from_bytes([a[0], a[1], b[0], b[1], c[0], c[1], d[0], d[1]])
    }

    /// Reinterprets this extra-info slot as an RX response slot.
    #[cfg(test)]
    pub(crate) fn to_rx_response(self) -> RxResponse {
        let b = self.to_bytes();
        RxResponse {
            id: u16::from_ne_bytes([b[0], b[1]]),
            offset: u16::from_ne_bytes([b[2], b[3]]),
            flags: u16::from_ne_bytes([b[4], b[5]]),
            status: i16::from_ne_bytes([b[6], b[7]]),
        }
    }

    /// Reinterprets a TX request slot as an extra-info slot (first 8 bytes).
    #[cfg(test)]
    pub(crate) fn from_tx_request(r: &TxRequest) -> Self {
        let a = r.gref.to_ne_bytes();
        let b = r.offset.to_ne_bytes();
        let c = r.flags.to_ne_bytes();
        Self::from_bytes([a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1]])
    }

    /// Reinterprets this extra-info slot as a TX request slot; the 4 bytes
    /// past the extra-info structure are zero.
    pub(crate) fn to_tx_request(self) -> TxRequest {
        let b = self.to_bytes();
        TxRequest {
            gref: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            offset: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            id: 0,
            size: 0,
        }
    }
}

// ---------------------------------------------------------------------------
// Shared ring layout (`DEFINE_RING_TYPES`).
// ---------------------------------------------------------------------------

/// Shared ring header (`struct *_sring` without the flexible `ring[]`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct SringHeader {
    /// Request producer index (written by the frontend).
    pub(crate) req_prod: RingIdx,
    /// Request index at which the backend wants a notification.
    pub(crate) req_event: RingIdx,
    /// Response producer index (written by the backend).
    pub(crate) rsp_prod: RingIdx,
    /// Response index at which the frontend wants a notification.
    pub(crate) rsp_event: RingIdx,
    /// Padding (`__pad[48]`).
    pub(crate) pad: [u8; 48],
}

/// Byte offset of `req_prod` in the shared ring page.
pub(crate) const SRING_REQ_PROD_OFFSET: usize = offset_of!(SringHeader, req_prod);
/// Byte offset of `req_event` in the shared ring page.
pub(crate) const SRING_REQ_EVENT_OFFSET: usize = offset_of!(SringHeader, req_event);
/// Byte offset of `rsp_prod` in the shared ring page.
pub(crate) const SRING_RSP_PROD_OFFSET: usize = offset_of!(SringHeader, rsp_prod);
/// Byte offset of `rsp_event` in the shared ring page.
pub(crate) const SRING_RSP_EVENT_OFFSET: usize = offset_of!(SringHeader, rsp_event);
/// Byte offset of `ring[0]` in the shared ring page.
pub(crate) const SRING_ENTRIES_OFFSET: usize = size_of::<SringHeader>();

/// Shared TX ring entry (`union xen_netif_tx_sring_entry`), 12 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union TxSringEntry {
    /// Request view.
    pub(crate) req: TxRequest,
    /// Response view.
    pub(crate) rsp: TxResponse,
}

/// Shared RX ring entry (`union xen_netif_rx_sring_entry`), 8 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union RxSringEntry {
    /// Request view.
    pub(crate) req: RxRequest,
    /// Response view.
    pub(crate) rsp: RxResponse,
}

/// Size of one TX ring entry.
pub(crate) const TX_ENTRY_SIZE: usize = size_of::<TxSringEntry>();
/// Size of one RX ring entry.
pub(crate) const RX_ENTRY_SIZE: usize = size_of::<RxSringEntry>();

/// Rounds a 32-bit value down to a power of two, exactly like ring.h's
/// `__RD32` (0 stays 0).
pub(crate) const fn round_down_pow2(x: u32) -> u32 {
    if x == 0 {
        0
    } else {
        1u32 << (31 - x.leading_zeros())
    }
}

/// Number of entries of a shared ring living in `ring_bytes` bytes with
/// `entry_size`-byte entries (`__CONST_RING_SIZE` / `__RING_SIZE`).
///
/// Returns 0 when the area cannot hold the header or `entry_size` is 0.
pub(crate) const fn const_ring_size(ring_bytes: usize, entry_size: usize) -> u32 {
    if entry_size == 0 || ring_bytes < SRING_ENTRIES_OFFSET {
        return 0;
    }
    let n = (ring_bytes - SRING_ENTRIES_OFFSET) / entry_size;
    if n > u32::MAX as usize {
        round_down_pow2(u32::MAX)
    } else {
        round_down_pow2(n as u32)
    }
}

/// Number of entries of a one-page TX ring (`NET_TX_RING_SIZE`).
pub(crate) const NET_TX_RING_SIZE: u32 = const_ring_size(XEN_PAGE_SIZE, TX_ENTRY_SIZE);
/// Number of entries of a one-page RX ring (`NET_RX_RING_SIZE`).
pub(crate) const NET_RX_RING_SIZE: u32 = const_ring_size(XEN_PAGE_SIZE, RX_ENTRY_SIZE);

/// Minimum number of RX slots worth posting (`NET_RX_SLOTS_MIN`, includes
/// one slot for GSO metadata).
pub(crate) const NET_RX_SLOTS_MIN: u32 = XEN_NETIF_NR_SLOTS_MIN + 1;

/// Packets whose first RX fragment is at most this long may use one extra
/// slot (`RX_COPY_THRESHOLD` in xen-netfront).
pub(crate) const RX_COPY_THRESHOLD: u32 = 256;

// ---------------------------------------------------------------------------
// Compile-time layout checks against the C ABI.
// ---------------------------------------------------------------------------

const _: () = assert!(size_of::<TxRequest>() == 12);
const _: () = assert!(offset_of!(TxRequest, gref) == 0);
const _: () = assert!(offset_of!(TxRequest, offset) == 4);
const _: () = assert!(offset_of!(TxRequest, flags) == 6);
const _: () = assert!(offset_of!(TxRequest, id) == 8);
const _: () = assert!(offset_of!(TxRequest, size) == 10);

const _: () = assert!(size_of::<TxResponse>() == 4);
const _: () = assert!(offset_of!(TxResponse, id) == 0);
const _: () = assert!(offset_of!(TxResponse, status) == 2);

const _: () = assert!(size_of::<RxRequest>() == 8);
const _: () = assert!(offset_of!(RxRequest, id) == 0);
const _: () = assert!(offset_of!(RxRequest, pad) == 2);
const _: () = assert!(offset_of!(RxRequest, gref) == 4);

const _: () = assert!(size_of::<RxResponse>() == 8);
const _: () = assert!(offset_of!(RxResponse, id) == 0);
const _: () = assert!(offset_of!(RxResponse, offset) == 2);
const _: () = assert!(offset_of!(RxResponse, flags) == 4);
const _: () = assert!(offset_of!(RxResponse, status) == 6);

const _: () = assert!(size_of::<ExtraGso>() == 6);
const _: () = assert!(offset_of!(ExtraGso, size) == 0);
const _: () = assert!(offset_of!(ExtraGso, gso_type) == 2);
const _: () = assert!(offset_of!(ExtraGso, pad) == 3);
const _: () = assert!(offset_of!(ExtraGso, features) == 4);
const _: () = assert!(size_of::<ExtraMcast>() == 6);
const _: () = assert!(size_of::<ExtraHash>() == 6);
const _: () = assert!(offset_of!(ExtraHash, value) == 2);
const _: () = assert!(size_of::<ExtraXdp>() == 6);
const _: () = assert!(size_of::<ExtraInfoUnion>() == 6);
const _: () = assert!(size_of::<ExtraInfo>() == 8);
const _: () = assert!(offset_of!(ExtraInfo, extra_type) == 0);
const _: () = assert!(offset_of!(ExtraInfo, flags) == 1);
const _: () = assert!(offset_of!(ExtraInfo, u) == 2);
// The extra-info slot must fit in both a TX request and an RX response slot.
const _: () = assert!(size_of::<ExtraInfo>() <= TX_ENTRY_SIZE);
const _: () = assert!(size_of::<ExtraInfo>() <= RX_ENTRY_SIZE);

const _: () = assert!(SRING_REQ_PROD_OFFSET == 0);
const _: () = assert!(SRING_REQ_EVENT_OFFSET == 4);
const _: () = assert!(SRING_RSP_PROD_OFFSET == 8);
const _: () = assert!(SRING_RSP_EVENT_OFFSET == 12);
const _: () = assert!(offset_of!(SringHeader, pad) == 16);
const _: () = assert!(SRING_ENTRIES_OFFSET == 64);

const _: () = assert!(TX_ENTRY_SIZE == 12);
const _: () = assert!(RX_ENTRY_SIZE == 8);
const _: () = assert!(NET_TX_RING_SIZE == 256);
const _: () = assert!(NET_RX_RING_SIZE == 256);
// The whole ring must fit in one page.
const _: () =
    assert!(SRING_ENTRIES_OFFSET + NET_TX_RING_SIZE as usize * TX_ENTRY_SIZE <= XEN_PAGE_SIZE);
const _: () =
    assert!(SRING_ENTRIES_OFFSET + NET_RX_RING_SIZE as usize * RX_ENTRY_SIZE <= XEN_PAGE_SIZE);

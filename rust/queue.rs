// SPDX-License-Identifier: GPL-2.0

//! What the TX and RX slot bookkeeping of one netfront queue share: the
//! ring types and sizes, the [`QueueError`] both report, and small helpers.
//!
//! The bookkeeping itself is the kernel-independent part of xen-netfront's
//! `xennet_start_xmit`, `xennet_tx_buf_gc` ([`crate::tx_queue`]),
//! `xennet_alloc_rx_buffers` and `xennet_poll` ([`crate::rx_queue`]): it
//! decides what goes into which ring slot of a [`FrontRing`], remembers what
//! every outstanding request refers to (a caller-chosen `T: Copy` token such
//! as an skb pointer, and a [`Grant`](crate::grant::Grant)) and validates
//! every response the backend produces. The two directions share no state,
//! so each has its own file; this one holds only what both use.
//!
//! Nothing in there trusts the backend: ids, statuses, offsets, sizes, flags
//! and chain lengths are checked, and a bad value yields a [`QueueError`]
//! instead of a panic or an out-of-bounds access.
//!
//! The kernel glue is responsible for the actual grant-table operations: it
//! grants the backend access to a page before posting it, and ends that
//! access before returning the grant to the queue's [`GrantPool`].
//!
//! This file only depends on `core` and sibling modules.

use core::fmt;
use core::mem::MaybeUninit;

use crate::grant::{GrantError, GrantPool};
use crate::netif::{
    GrantRef, RxRequest, RxResponse, TxRequest, TxResponse, NET_RX_RING_SIZE, NET_TX_RING_SIZE,
    XEN_NETIF_MAX_TX_SIZE,
};
use crate::ring::{FrontRing, RingError};
use crate::tx_queue::MAX_TX_PIECES;

/// The TX front ring type.
pub(crate) type TxRing = FrontRing<TxRequest, TxResponse>;
/// The RX front ring type.
pub(crate) type RxRing = FrontRing<RxRequest, RxResponse>;

/// Number of TX ring entries (and TX request ids).
pub(crate) const TX_RING_SIZE: usize = NET_TX_RING_SIZE as usize;
/// Number of RX ring entries (and RX buffers).
pub(crate) const RX_RING_SIZE: usize = NET_RX_RING_SIZE as usize;

const _: () = assert!(TxRing::SIZE == NET_TX_RING_SIZE);
const _: () = assert!(RxRing::SIZE == NET_RX_RING_SIZE);
const _: () = assert!(TX_RING_SIZE <= 1 << 16 && RX_RING_SIZE <= 1 << 16);

/// Errors of the TX and RX queues.
///
/// Variants documented as "backend" are caused by values the backend wrote
/// into the shared ring; the others are misuse by the caller or resource
/// exhaustion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// Backend: `rsp_prod` claims more responses than requests outstanding.
    /// Fatal: the queue is marked broken.
    ProducerOverflow {
        /// The `rsp_prod` read from the ring.
        rsp_prod: u32,
        /// Our response consumer index.
        rsp_cons: u32,
        /// The request producer index we published.
        req_prod: u32,
    },
    /// Backend: response id not below the ring size.
    IdOutOfRange {
        /// The id found in the response.
        id: u16,
    },
    /// Backend: response for an id that has no request in flight.
    IdNotPending {
        /// The id found in the response.
        id: u16,
    },
    /// Backend: RX response not in the ring slot of its request.
    IdMismatch {
        /// The id found in the response.
        id: u16,
        /// The id of the request posted in that slot.
        expected: u16,
    },
    /// Backend: TX response status is not a `XEN_NETIF_RSP_*` value.
    UnknownStatus {
        /// The id found in the response.
        id: u16,
        /// The status found in the response.
        status: i16,
    },
    /// Backend: RX response reports an error (status < 0): an error frame.
    ErrorStatus {
        /// The id found in the response.
        id: u16,
        /// The (negative) status.
        status: i16,
    },
    /// Backend: RX data does not lie within the buffer page.
    BadOffset {
        /// The id found in the response.
        id: u16,
        /// Offset of the data in the page.
        offset: u16,
        /// Length of the data.
        len: u16,
    },
    /// Backend: RX response carries flag bits the ABI does not define.
    UnknownFlags {
        /// The id found in the response.
        id: u16,
        /// The flags found in the response.
        flags: u16,
    },
    /// Backend: a `more_data` chain longer than allowed.
    ChainTooLong {
        /// Number of data slots in the chain.
        slots: u32,
        /// The maximum allowed.
        max: u32,
    },
    /// Backend: a `more_data` or extra-info chain continues past the
    /// responses the backend produced.
    Truncated {
        /// Number of slots consumed before running out.
        slots: u32,
    },
    /// Backend: extra-info slot of an unknown type.
    BadExtraType {
        /// The type found.
        extra_type: u8,
    },
    /// Backend: more extra-info slots than there are extra-info types.
    TooManyExtras {
        /// Number of extra-info slots seen.
        count: u32,
    },
    /// Backend: GSO extra info with a zero size or an unknown GSO type.
    BadGso {
        /// GSO segment size.
        size: u16,
        /// GSO type.
        gso_type: u8,
    },
    /// Backend: `NETRXF_gso_prefix` on RX, which we never ask for.
    GsoPrefix {
        /// The id found in the response.
        id: u16,
    },
    /// Backend: a second extra-info slot of the same type in one packet.
    DuplicateExtra {
        /// The type found twice.
        extra_type: u8,
    },
    /// Backend: a received packet longer than any packet may be.
    PacketTooLong {
        /// The packet's total length.
        len: u32,
        /// The longest allowed.
        max: u32,
    },
    /// Backend: a TX `XEN_NETIF_RSP_NULL` response where no extra-info
    /// slot's response is due.
    UnexpectedNull,
    /// The queue was disabled after a fatal backend error.
    Broken,
    /// Caller: a packet needs at least one piece.
    NoPieces,
    /// Caller: a packet has more pieces than [`MAX_TX_PIECES`].
    TooManyPieces {
        /// Number of pieces requested.
        pieces: usize,
    },
    /// Caller: a piece is empty or crosses the end of its page.
    BadPiece {
        /// Index of the piece.
        index: usize,
        /// Offset in the page.
        offset: u16,
        /// Length.
        len: u16,
    },
    /// Caller: the packet is longer than `XEN_NETIF_MAX_TX_SIZE`.
    PacketTooLarge {
        /// Total length requested.
        len: u32,
    },
    /// Caller: TX flags other than `csum_blank`/`data_validated` requested.
    BadTxFlags {
        /// The flags requested.
        flags: u16,
    },
    /// Caller: TX extra info of an unknown type.
    BadTxExtra {
        /// The type requested.
        extra_type: u8,
    },
    /// Not enough free ring slots.
    RingFull {
        /// Slots needed.
        needed: u32,
        /// Slots free.
        free: u32,
    },
    /// No free request id.
    NoIds,
    /// No free grant reference.
    NoGrants,
    /// Caller: the reservation does not match this queue's state.
    StaleReservation,
    /// Setting up the grant pool failed.
    Grant(GrantError),
    /// Internal invariant violated: an RX slot that should be empty is not.
    SlotBusy {
        /// The slot index.
        idx: u32,
    },
}

#[cfg(test)]
impl QueueError {
    /// Whether the error was caused by a value written by the backend.
    pub(crate) fn is_backend_error(&self) -> bool {
        matches!(
            self,
            QueueError::ProducerOverflow { .. }
                | QueueError::IdOutOfRange { .. }
                | QueueError::IdNotPending { .. }
                | QueueError::IdMismatch { .. }
                | QueueError::UnknownStatus { .. }
                | QueueError::ErrorStatus { .. }
                | QueueError::BadOffset { .. }
                | QueueError::UnknownFlags { .. }
                | QueueError::ChainTooLong { .. }
                | QueueError::Truncated { .. }
                | QueueError::BadExtraType { .. }
                | QueueError::TooManyExtras { .. }
                | QueueError::BadGso { .. }
                | QueueError::GsoPrefix { .. }
                | QueueError::DuplicateExtra { .. }
                | QueueError::PacketTooLong { .. }
                | QueueError::UnexpectedNull
        )
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QueueError::ProducerOverflow {
                rsp_prod,
                rsp_cons,
                req_prod,
            } => write!(
                f,
                "illegal number of responses: backend rsp_prod {} is {} past rsp_cons {} but only {} requests are outstanding",
                rsp_prod,
                rsp_prod.wrapping_sub(rsp_cons),
                rsp_cons,
                req_prod.wrapping_sub(rsp_cons)
            ),
            QueueError::IdOutOfRange { id } => {
                write!(f, "response has incorrect id {} (out of range)", id)
            }
            QueueError::IdNotPending { id } => {
                write!(f, "response for inactive request id {}", id)
            }
            QueueError::IdMismatch { id, expected } => write!(
                f,
                "rx response id {} is not in the slot of its request (expected id {})",
                id, expected
            ),
            QueueError::UnknownStatus { id, status } => {
                write!(f, "response id {} has unknown status {}", id, status)
            }
            QueueError::ErrorStatus { id, status } => {
                write!(f, "rx response id {} reports error status {}", id, status)
            }
            QueueError::BadOffset { id, offset, len } => write!(
                f,
                "rx response id {}: offset {} + size {} exceeds the page",
                id, offset, len
            ),
            QueueError::UnknownFlags { id, flags } => {
                write!(f, "rx response id {} has unknown flags {:#x}", id, flags)
            }
            QueueError::ChainTooLong { slots, max } => {
                write!(f, "packet uses too many slots ({} > {})", slots, max)
            }
            QueueError::Truncated { slots } => write!(
                f,
                "packet continues past the produced responses after {} slots",
                slots
            ),
            QueueError::BadExtraType { extra_type } => {
                write!(f, "invalid extra info type {}", extra_type)
            }
            QueueError::TooManyExtras { count } => {
                write!(f, "too many extra info slots ({})", count)
            }
            QueueError::BadGso { size, gso_type } => {
                write!(f, "bad GSO extra info (size {}, type {})", size, gso_type)
            }
            QueueError::GsoPrefix { id } => write!(
                f,
                "rx response {} has NETRXF_gso_prefix, which was not negotiated",
                id
            ),
            QueueError::DuplicateExtra { extra_type } => write!(
                f,
                "rx packet has a second extra-info slot of type {}",
                extra_type
            ),
            QueueError::PacketTooLong { len, max } => write!(
                f,
                "rx packet of {} bytes, longer than the {} a packet may have",
                len, max
            ),
            QueueError::UnexpectedNull => write!(
                f,
                "tx response XEN_NETIF_RSP_NULL where no extra-info slot is due"
            ),
            QueueError::Broken => write!(f, "queue disabled after a fatal backend error"),
            QueueError::NoPieces => write!(f, "packet has no data pieces"),
            QueueError::TooManyPieces { pieces } => write!(
                f,
                "packet has {} pieces, at most {} allowed",
                pieces, MAX_TX_PIECES
            ),
            QueueError::BadPiece { index, offset, len } => write!(
                f,
                "piece {} (offset {}, length {}) is empty or crosses its page",
                index, offset, len
            ),
            QueueError::PacketTooLarge { len } => write!(
                f,
                "packet length {} exceeds the wire maximum {}",
                len, XEN_NETIF_MAX_TX_SIZE
            ),
            QueueError::BadTxFlags { flags } => {
                write!(f, "unsupported tx flags {:#x}", flags)
            }
            QueueError::BadTxExtra { extra_type } => {
                write!(f, "unsupported tx extra info type {}", extra_type)
            }
            QueueError::RingFull { needed, free } => {
                write!(f, "ring full: {} slots needed, {} free", needed, free)
            }
            QueueError::NoIds => write!(f, "no free request id"),
            QueueError::NoGrants => write!(f, "no free grant reference"),
            QueueError::StaleReservation => {
                write!(f, "reservation does not belong to this queue state")
            }
            QueueError::Grant(e) => write!(f, "grant pool: {}", e),
            QueueError::SlotBusy { idx } => {
                write!(f, "internal error: rx slot {} unexpectedly busy", idx)
            }
        }
    }
}

impl From<RingError> for QueueError {
    fn from(e: RingError) -> Self {
        match e {
            RingError::ResponseOverflow {
                rsp_prod,
                rsp_cons,
                req_prod,
            } => QueueError::ProducerOverflow {
                rsp_prod,
                rsp_cons,
                req_prod,
            },
            RingError::Full => QueueError::RingFull { needed: 1, free: 0 },
        }
    }
}

impl From<GrantError> for QueueError {
    fn from(e: GrantError) -> Self {
        QueueError::Grant(e)
    }
}

/// Writes `value` into every element of the array at `p`.
///
/// # Safety
///
/// `p` must be valid for writes and aligned for `[E; N]`.
pub(crate) unsafe fn fill_array<E: Copy, const N: usize>(p: *mut [E; N], value: E) {
    let p = p.cast::<E>();
    for i in 0..N {
        // SAFETY: `i < N`, so the element is inside the array the caller
        // vouched for.
        unsafe { p.add(i).write(value) };
    }
}

/// Records `e` unless an earlier error was recorded.
pub(crate) fn note(e: QueueError, err: &mut Option<QueueError>) {
    if err.is_none() {
        *err = Some(e);
    }
}

/// The grant pool part of `TxQueue::init` and `RxQueue::init`: refuses more
/// than `N` references, then initialises the pool at `pool` in place (no
/// large temporary on the stack) and adds every reference of `grefs`.
///
/// # Safety
///
/// `pool` must be valid for writes and aligned for `GrantPool<N>`, and
/// nothing else may access it during the call.
pub(crate) unsafe fn init_grant_pool<const N: usize>(
    pool: *mut GrantPool<N>,
    grefs: &[GrantRef],
) -> Result<(), QueueError> {
    if grefs.len() > N {
        let gref = grefs.get(N).copied().unwrap_or(0);
        return Err(QueueError::Grant(GrantError::PoolFull { gref }));
    }
    // SAFETY: valid, aligned and exclusive (caller);
    // `MaybeUninit<GrantPool<N>>` has the layout of `GrantPool<N>`.
    let pool = GrantPool::init(unsafe { &mut *pool.cast::<MaybeUninit<GrantPool<N>>>() });
    pool.add_all(grefs)?;
    Ok(())
}

// SPDX-License-Identifier: GPL-2.0

//! TX and RX slot bookkeeping of one netfront queue, driving a
//! [`FrontRing`].
//!
//! This is the kernel-independent part of xen-netfront's `xennet_start_xmit`,
//! `xennet_tx_buf_gc`, `xennet_alloc_rx_buffers` and `xennet_poll`: it decides
//! what goes into which ring slot, remembers what every outstanding request
//! refers to (a caller-chosen `T: Copy` token such as an skb pointer, and a
//! [`Grant`]) and validates every response the backend produces.
//!
//! Nothing in here trusts the backend: ids, statuses, offsets, sizes, flags
//! and chain lengths are checked, and a bad value yields a [`QueueError`]
//! instead of a panic or an out-of-bounds access.
//!
//! The kernel glue is responsible for the actual grant-table operations: it
//! grants the backend access to a page before posting it, and ends that
//! access before returning the [`Grant`] to the queue's [`GrantPool`].
//!
//! This file only depends on `core` and sibling modules.

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr;

use crate::grant::{Grant, GrantError, GrantPool, IdPool};
use crate::netif::{
    ExtraGso, ExtraInfo, GrantRef, RxRequest, RxResponse, TxRequest, TxResponse, NETRXF_CSUM_BLANK,
    NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO, NETRXF_KNOWN, NETRXF_MORE_DATA, NETTXF_CSUM_BLANK,
    NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, NET_RX_RING_SIZE, NET_RX_SLOTS_MIN,
    NET_TX_RING_SIZE, RX_COPY_THRESHOLD, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_MAX,
    XEN_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
    XEN_NETIF_MAX_TX_SIZE, XEN_NETIF_NR_SLOTS_MIN, XEN_NETIF_RSP_DROPPED, XEN_NETIF_RSP_ERROR,
    XEN_NETIF_RSP_NULL, XEN_NETIF_RSP_OKAY, XEN_PAGE_SIZE,
};
use crate::ring::{FrontRing, RingError};

/// The TX front ring type.
pub type TxRing = FrontRing<TxRequest, TxResponse>;
/// The RX front ring type.
pub type RxRing = FrontRing<RxRequest, RxResponse>;

/// Number of TX ring entries (and TX request ids).
pub const TX_RING_SIZE: usize = NET_TX_RING_SIZE as usize;
/// Number of RX ring entries (and RX buffers).
pub const RX_RING_SIZE: usize = NET_RX_RING_SIZE as usize;

const _: () = assert!(TxRing::SIZE == NET_TX_RING_SIZE);
const _: () = assert!(RxRing::SIZE == NET_RX_RING_SIZE);
const _: () = assert!(TX_RING_SIZE <= 1 << 16 && RX_RING_SIZE <= 1 << 16);

/// Maximum number of data pieces (slots) of one transmitted packet.
pub const MAX_TX_PIECES: usize = XEN_NETIF_NR_SLOTS_MIN as usize;
/// Maximum number of ring slots one transmitted packet may use: the data
/// pieces plus one extra-info slot.
pub const MAX_TX_SLOTS: u32 = XEN_NETIF_NR_SLOTS_MIN + 1;
/// Maximum number of data fragments of one received packet
/// (`XEN_NETIF_NR_SLOTS_MIN`, plus one when the first fragment is at most
/// `RX_COPY_THRESHOLD` bytes, as in xen-netfront).
pub const MAX_RX_FRAGS: usize = XEN_NETIF_NR_SLOTS_MIN as usize + 1;
/// Maximum number of extra-info slots of one received packet (one per type).
pub const MAX_RX_EXTRAS: usize = XEN_NETIF_EXTRA_TYPE_MAX as usize - 1;

/// Errors of the TX and RX queues.
///
/// Variants documented as "backend" are caused by values the backend wrote
/// into the shared ring; the others are misuse by the caller or resource
/// exhaustion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
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

impl QueueError {
    /// Whether the error was caused by a value written by the backend.
    pub fn is_backend_error(&self) -> bool {
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
unsafe fn fill_array<E: Copy, const N: usize>(p: *mut [E; N], value: E) {
    let p = p.cast::<E>();
    for i in 0..N {
        // SAFETY: `i < N`, so the element is inside the array the caller
        // vouched for.
        unsafe { p.add(i).write(value) };
    }
}

// ===========================================================================
// TX
// ===========================================================================

/// The page-bounded pieces of one packet to transmit, gathered from the
/// spans of memory it lies in (an skb's linear head and its fragments).
///
/// Each piece remembers which span it came from and the number of the page
/// it lies in (its start address or offset divided by the page size), so
/// the kernel glue can find the page's frame number to grant.
#[derive(Clone, Copy, Debug)]
pub struct TxLayout {
    pieces: [TxPiece; MAX_TX_PIECES],
    spans: [u8; MAX_TX_PIECES],
    pages: [usize; MAX_TX_PIECES],
    n: usize,
    len: usize,
}

impl Default for TxLayout {
    fn default() -> Self {
        Self::new()
    }
}

impl TxLayout {
    /// An empty layout.
    pub const fn new() -> Self {
        TxLayout {
            pieces: [TxPiece { offset: 0, len: 0 }; MAX_TX_PIECES],
            spans: [0; MAX_TX_PIECES],
            pages: [0; MAX_TX_PIECES],
            n: 0,
            len: 0,
        }
    }

    /// Adds the `len` bytes that start at `start` (an address, or an offset
    /// from the start of a run of contiguous pages) of span `span`. Returns
    /// `false`, leaving the layout unusable, if the packet needs more than
    /// [`MAX_TX_PIECES`] pieces: the caller then linearizes it.
    pub fn add_span(&mut self, span: u8, start: usize, len: usize) -> bool {
        let mut at = start;
        let mut left = len;
        while left > 0 {
            let off = at % XEN_PAGE_SIZE;
            let chunk = left.min(XEN_PAGE_SIZE - off);
            let (Some(p), Some(s), Some(pg)) = (
                self.pieces.get_mut(self.n),
                self.spans.get_mut(self.n),
                self.pages.get_mut(self.n),
            ) else {
                self.n = MAX_TX_PIECES + 1;
                return false;
            };
            *p = TxPiece {
                offset: off as u16,
                len: chunk as u16,
            };
            *s = span;
            *pg = at / XEN_PAGE_SIZE;
            self.n += 1;
            self.len += chunk;
            at += chunk;
            left -= chunk;
        }
        self.n <= MAX_TX_PIECES
    }

    /// The pieces, in packet order (empty if the layout overflowed).
    pub fn pieces(&self) -> &[TxPiece] {
        self.pieces.get(..self.n).unwrap_or(&[])
    }

    /// Span and page number of piece `i` (`None` if the layout overflowed).
    pub fn source(&self, i: usize) -> Option<(u8, usize)> {
        if i < self.n && self.n <= MAX_TX_PIECES {
            Some((*self.spans.get(i)?, *self.pages.get(i)?))
        } else {
            None
        }
    }

    /// Total number of bytes added.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The `NETTXF_*` checksum flags for an skb's `ip_summed` value
/// (`CHECKSUM_NONE` 0, `CHECKSUM_UNNECESSARY` 1, `CHECKSUM_COMPLETE` 2,
/// `CHECKSUM_PARTIAL` 3), as xen-netfront sets them.
pub fn tx_csum_flags(ip_summed: u32) -> u16 {
    match ip_summed {
        // The checksum is to be filled in by whoever delivers the packet.
        3 => NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
        1 => NETTXF_DATA_VALIDATED,
        _ => 0,
    }
}

/// Outcome of one transmitted slot or packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// `XEN_NETIF_RSP_OKAY`.
    Okay,
    /// `XEN_NETIF_RSP_ERROR`.
    Error,
    /// `XEN_NETIF_RSP_DROPPED` (also used for requests released without a
    /// response at teardown).
    Dropped,
}

impl TxStatus {
    fn severity(self) -> u8 {
        match self {
            TxStatus::Okay => 0,
            TxStatus::Dropped => 1,
            TxStatus::Error => 2,
        }
    }

    fn worst(self, other: TxStatus) -> TxStatus {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// A piece of a packet to transmit: `len` bytes at `offset` in one page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxPiece {
    /// Offset of the data within its page.
    pub offset: u16,
    /// Length of the data (at least 1, `offset + len <= XEN_PAGE_SIZE`).
    pub len: u16,
}

/// Ring slots, ids and grants set aside for one packet by
/// [`TxQueue::reserve`].
///
/// The caller grants the backend read access to each piece's page with
/// [`TxReservation::gref`] and then calls [`TxQueue::post`], or gives
/// everything back with [`TxQueue::cancel`].
#[derive(Debug)]
pub struct TxReservation {
    n: usize,
    ids: [u16; MAX_TX_PIECES],
    grants: [Option<Grant>; MAX_TX_PIECES],
    pieces: [TxPiece; MAX_TX_PIECES],
    flags: u16,
    extra: Option<ExtraInfo>,
    total: u16,
}

impl TxReservation {
    /// Number of data pieces.
    pub fn pieces(&self) -> usize {
        self.n
    }

    /// Number of ring slots the packet will use (pieces + extra info).
    pub fn slots(&self) -> u32 {
        self.n as u32 + u32::from(self.extra.is_some())
    }

    /// The grant reference to use for piece `i` (`None` if out of range).
    pub fn gref(&self, i: usize) -> Option<GrantRef> {
        self.grant(i).map(|g| g.gref())
    }

    /// The grant for piece `i` (`None` if out of range).
    pub fn grant(&self, i: usize) -> Option<Grant> {
        if i < self.n {
            self.grants.get(i).copied().flatten()
        } else {
            None
        }
    }

    /// Total packet length.
    pub fn total_len(&self) -> u16 {
        self.total
    }
}

/// One completed TX request, handed to the [`TxQueue::poll`] callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCompletion<T> {
    /// The packet's token.
    pub token: T,
    /// The grant of this piece. The caller must end the backend's access and
    /// then return it with [`GrantPool::free`]; if access cannot be ended it
    /// must not be returned (and the device should be considered broken).
    pub grant: Grant,
    /// Outcome of this piece.
    pub status: TxStatus,
    /// `Some(worst status of all pieces)` when this completion was the last
    /// outstanding piece of its packet: the token may now be released.
    pub packet_done: Option<TxStatus>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TxState {
    Free,
    /// Reserved by a `TxReservation`, not on the ring yet.
    Reserved,
    /// On the ring, waiting for its response.
    Pending,
    /// Response received but the packet's other pieces are still pending;
    /// the id is kept because it holds the packet's counters.
    Waiting,
}

#[derive(Clone, Copy)]
struct TxSlot<T> {
    state: TxState,
    grant: Option<Grant>,
    token: Option<T>,
    /// Id of the packet's first piece.
    head: u16,
    /// On the head: pieces not completed yet.
    remaining: u8,
    /// On the head: worst status seen so far.
    worst: TxStatus,
}

impl<T: Copy> TxSlot<T> {
    const EMPTY: Self = TxSlot {
        state: TxState::Free,
        grant: None,
        token: None,
        head: 0,
        remaining: 0,
        worst: TxStatus::Okay,
    };
}

/// Transmit side of one queue.
pub struct TxQueue<T> {
    ring: TxRing,
    ids: IdPool<TX_RING_SIZE>,
    grants: GrantPool<TX_RING_SIZE>,
    slots: [TxSlot<T>; TX_RING_SIZE],
    reserved_slots: u32,
    broken: bool,
}

impl<T: Copy> TxQueue<T> {
    /// Builds a TX queue on `ring` with the grant references `grefs`
    /// (normally [`TX_RING_SIZE`] of them, claimed by the kernel glue).
    ///
    /// The value is large (several KiB); in the kernel prefer
    /// [`TxQueue::init`] on heap memory.
    pub fn new(ring: TxRing, grefs: &[GrantRef]) -> Result<Self, QueueError> {
        let mut this = MaybeUninit::uninit();
        Self::init(&mut this, ring, grefs)?;
        // SAFETY: `init` returned Ok, so every field is initialised.
        Ok(unsafe { this.assume_init() })
    }

    /// Initialises a TX queue in place (see [`TxQueue::new`]). On error,
    /// `this` is left uninitialised.
    pub fn init<'a>(
        this: &'a mut MaybeUninit<Self>,
        ring: TxRing,
        grefs: &[GrantRef],
    ) -> Result<&'a mut Self, QueueError> {
        if grefs.len() > TX_RING_SIZE {
            let gref = grefs.get(TX_RING_SIZE).copied().unwrap_or(0);
            return Err(QueueError::Grant(GrantError::PoolFull { gref }));
        }
        let p = this.as_mut_ptr();
        // SAFETY: `p` is valid for writes and aligned (from `&mut
        // MaybeUninit<Self>`). Every field is initialised through raw
        // pointers, without reading uninitialised memory; sub-structures are
        // initialised by their own `init`, which accept `MaybeUninit` views
        // with identical layout.
        let this = unsafe {
            ptr::addr_of_mut!((*p).ring).write(ring);
            IdPool::init(
                &mut *ptr::addr_of_mut!((*p).ids).cast::<MaybeUninit<IdPool<TX_RING_SIZE>>>(),
            );
            GrantPool::init(
                &mut *ptr::addr_of_mut!((*p).grants).cast::<MaybeUninit<GrantPool<TX_RING_SIZE>>>(),
            );
            fill_array(ptr::addr_of_mut!((*p).slots), TxSlot::EMPTY);
            ptr::addr_of_mut!((*p).reserved_slots).write(0);
            ptr::addr_of_mut!((*p).broken).write(false);
            this.assume_init_mut()
        };
        this.grants.add_all(grefs)?;
        Ok(this)
    }

    /// The underlying ring.
    pub fn ring(&self) -> &TxRing {
        &self.ring
    }

    /// The grant pool (e.g. to return grants outside of [`TxQueue::poll`]).
    pub fn grants(&mut self) -> &mut GrantPool<TX_RING_SIZE> {
        &mut self.grants
    }

    /// Read-only view of the grant pool.
    pub fn grants_ref(&self) -> &GrantPool<TX_RING_SIZE> {
        &self.grants
    }

    /// Number of request ids in use (reserved, pending or waiting).
    pub fn ids_in_use(&self) -> usize {
        self.ids.count()
    }

    /// Whether the queue was disabled by a fatal backend error.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Ring slots usable by a new reservation.
    pub fn free_slots(&self) -> u32 {
        self.ring
            .free_requests()
            .saturating_sub(self.reserved_slots)
    }

    /// Whether a packet of any allowed shape still fits: more than
    /// [`MAX_TX_SLOTS`] free slots (`netfront_tx_slot_available`).
    pub fn slot_available(&self) -> bool {
        self.free_slots() > MAX_TX_SLOTS
    }

    /// Whether the caller should stop its transmit queue now, so that the
    /// ring can never overflow (netfront stops when
    /// `!netfront_tx_slot_available`).
    pub fn need_stop(&self) -> bool {
        !self.slot_available()
    }

    /// Whether a stopped transmit queue may be woken again.
    pub fn can_wake(&self) -> bool {
        !self.broken && self.slot_available()
    }

    /// Validates a packet and sets aside its ids, grants and ring slots.
    ///
    /// * `pieces`: page-bounded data pieces, one ring slot each (1 to
    ///   [`MAX_TX_PIECES`]); the total length must not exceed
    ///   `XEN_NETIF_MAX_TX_SIZE`.
    /// * `flags`: `NETTXF_CSUM_BLANK` and/or `NETTXF_DATA_VALIDATED` for the
    ///   first slot.
    /// * `extra`: optional extra-info slot (e.g. GSO) placed after the first
    ///   slot.
    pub fn reserve(
        &mut self,
        pieces: &[TxPiece],
        flags: u16,
        extra: Option<ExtraInfo>,
    ) -> Result<TxReservation, QueueError> {
        if self.broken {
            return Err(QueueError::Broken);
        }
        let n = pieces.len();
        if n == 0 {
            return Err(QueueError::NoPieces);
        }
        if n > MAX_TX_PIECES {
            return Err(QueueError::TooManyPieces { pieces: n });
        }
        if flags & !(NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED) != 0 {
            return Err(QueueError::BadTxFlags { flags });
        }
        if let Some(e) = extra {
            if e.extra_type == XEN_NETIF_EXTRA_TYPE_NONE
                || e.extra_type >= XEN_NETIF_EXTRA_TYPE_MAX
                || e.has_more()
            {
                return Err(QueueError::BadTxExtra {
                    extra_type: e.extra_type,
                });
            }
        }
        let mut total: u32 = 0;
        for (index, p) in pieces.iter().enumerate() {
            if p.len == 0 || usize::from(p.offset) + usize::from(p.len) > XEN_PAGE_SIZE {
                return Err(QueueError::BadPiece {
                    index,
                    offset: p.offset,
                    len: p.len,
                });
            }
            total += u32::from(p.len);
        }
        if total > XEN_NETIF_MAX_TX_SIZE {
            return Err(QueueError::PacketTooLarge { len: total });
        }
        let needed = n as u32 + u32::from(extra.is_some());
        let free = self.free_slots();
        if needed > free {
            return Err(QueueError::RingFull { needed, free });
        }
        if self.ids.available() < n {
            return Err(QueueError::NoIds);
        }
        if self.grants.available() < n {
            return Err(QueueError::NoGrants);
        }

        let mut res = TxReservation {
            n: 0,
            ids: [0; MAX_TX_PIECES],
            grants: [None; MAX_TX_PIECES],
            pieces: [TxPiece::default(); MAX_TX_PIECES],
            flags,
            extra,
            total: total as u16,
        };
        for (i, p) in pieces.iter().enumerate() {
            // Both allocations succeed after the availability checks above;
            // undo everything if they do not.
            let Some(id) = self.ids.alloc() else {
                self.release_reservation(&res);
                return Err(QueueError::NoIds);
            };
            let Some(grant) = self.grants.alloc() else {
                let _ = self.ids.free(id);
                self.release_reservation(&res);
                return Err(QueueError::NoGrants);
            };
            if let (Some(slot_id), Some(slot_grant), Some(slot_piece), Some(slot)) = (
                res.ids.get_mut(i),
                res.grants.get_mut(i),
                res.pieces.get_mut(i),
                self.slots.get_mut(usize::from(id)),
            ) {
                *slot_id = id;
                *slot_grant = Some(grant);
                *slot_piece = *p;
                slot.state = TxState::Reserved;
                slot.grant = Some(grant);
                res.n = i + 1;
            } else {
                let _ = self.ids.free(id);
                let _ = self.grants.free(grant);
                self.release_reservation(&res);
                return Err(QueueError::NoIds);
            }
        }
        self.reserved_slots += needed;
        Ok(res)
    }

    /// Whether `res` still matches the queue state.
    fn reservation_valid(&self, res: &TxReservation) -> bool {
        if res.n == 0 || res.n > MAX_TX_PIECES {
            return false;
        }
        (0..res.n).all(|i| {
            match (
                res.ids
                    .get(i)
                    .and_then(|&id| self.slots.get(usize::from(id))),
                res.grants.get(i).copied().flatten(),
            ) {
                (Some(slot), Some(g)) => slot.state == TxState::Reserved && slot.grant == Some(g),
                _ => false,
            }
        })
    }

    fn release_reservation(&mut self, res: &TxReservation) {
        for i in 0..res.n {
            if let (Some(&id), Some(Some(g))) = (res.ids.get(i), res.grants.get(i)) {
                if let Some(slot) = self.slots.get_mut(usize::from(id)) {
                    *slot = TxSlot::EMPTY;
                }
                let _ = self.ids.free(id);
                let _ = self.grants.free(*g);
            }
        }
    }

    /// Gives back everything `res` set aside (e.g. when granting failed).
    /// The caller must have ended any access it granted with these grants.
    pub fn cancel(&mut self, res: TxReservation) -> Result<(), QueueError> {
        if !self.reservation_valid(&res) {
            return Err(QueueError::StaleReservation);
        }
        self.release_reservation(&res);
        self.reserved_slots = self.reserved_slots.saturating_sub(res.slots());
        Ok(())
    }

    /// Writes the reserved packet into the ring with `token` attached to
    /// each of its pieces. The first slot carries the total packet length,
    /// every slot but the last has `more_data`. Call [`TxQueue::push`] to
    /// make it visible to the backend.
    pub fn post(&mut self, res: TxReservation, token: T) -> Result<(), QueueError> {
        if !self.reservation_valid(&res) {
            return Err(QueueError::StaleReservation);
        }
        let needed = res.slots();
        if self.ring.free_requests() < needed {
            // Unreachable while reservations are accounted for.
            return Err(QueueError::RingFull {
                needed,
                free: self.ring.free_requests(),
            });
        }
        let head = res.ids[0];
        for i in 0..res.n {
            let (Some(&id), Some(Some(grant)), Some(piece)) =
                (res.ids.get(i), res.grants.get(i), res.pieces.get(i))
            else {
                return Err(QueueError::StaleReservation);
            };
            let mut flags = 0;
            if i == 0 {
                flags |= res.flags;
                if res.extra.is_some() {
                    flags |= NETTXF_EXTRA_INFO;
                }
            }
            if i + 1 < res.n {
                flags |= NETTXF_MORE_DATA;
            }
            let req = TxRequest {
                gref: grant.gref(),
                offset: piece.offset,
                flags,
                id,
                size: if i == 0 { res.total } else { piece.len },
            };
            self.ring.next_request_slot(req)?;
            if i == 0 {
                if let Some(extra) = res.extra {
                    self.ring.next_request_slot(extra.to_tx_request())?;
                }
            }
            if let Some(slot) = self.slots.get_mut(usize::from(id)) {
                slot.state = TxState::Pending;
                slot.token = Some(token);
                slot.head = head;
                if i == 0 {
                    slot.remaining = res.n as u8;
                    slot.worst = TxStatus::Okay;
                }
            }
        }
        self.reserved_slots = self.reserved_slots.saturating_sub(needed);
        Ok(())
    }

    /// Publishes posted requests; returns whether the backend must be
    /// notified.
    pub fn push(&mut self) -> bool {
        self.ring.push_requests()
    }

    /// Marks piece `id` complete with `status` and builds its completion.
    fn complete(&mut self, id: u16, status: TxStatus) -> Result<TxCompletion<T>, QueueError> {
        let slot = self
            .slots
            .get_mut(usize::from(id))
            .ok_or(QueueError::IdOutOfRange { id })?;
        if slot.state != TxState::Pending {
            return Err(QueueError::IdNotPending { id });
        }
        let (Some(grant), Some(token)) = (slot.grant.take(), slot.token) else {
            return Err(QueueError::IdNotPending { id });
        };
        let head = slot.head;
        slot.state = TxState::Waiting;

        let head_slot = self
            .slots
            .get_mut(usize::from(head))
            .ok_or(QueueError::IdOutOfRange { id: head })?;
        head_slot.remaining = head_slot.remaining.saturating_sub(1);
        head_slot.worst = head_slot.worst.worst(status);
        let packet_done = if head_slot.remaining == 0 {
            Some(head_slot.worst)
        } else {
            None
        };

        // A non-head piece is finished for good; the head stays until the
        // whole packet is done because it holds the packet's counters.
        if id != head {
            self.free_id(id);
        }
        if packet_done.is_some() {
            self.free_id(head);
        }
        Ok(TxCompletion {
            token,
            grant,
            status,
            packet_done,
        })
    }

    fn free_id(&mut self, id: u16) {
        if let Some(slot) = self.slots.get_mut(usize::from(id)) {
            *slot = TxSlot::EMPTY;
        }
        let _ = self.ids.free(id);
    }

    /// Consumes TX responses (`xennet_tx_buf_gc`): for each completed piece
    /// calls `f` with its [`TxCompletion`] and the grant pool (to return the
    /// grant once access has been ended). Loops until the final check finds
    /// no more responses. Returns the number of completions.
    ///
    /// Any invalid response is fatal: the queue is marked broken and the
    /// error returned.
    pub fn poll<F>(&mut self, mut f: F) -> Result<usize, QueueError>
    where
        F: FnMut(TxCompletion<T>, &mut GrantPool<TX_RING_SIZE>),
    {
        if self.broken {
            return Err(QueueError::Broken);
        }
        let mut done = 0;
        loop {
            if let Err(e) = self.ring.unconsumed_responses() {
                self.broken = true;
                return Err(e.into());
            }
            while let Some(rsp) = self.ring.take_response() {
                match self.check_response(rsp) {
                    Ok(Some(c)) => {
                        f(c, &mut self.grants);
                        done += 1;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.broken = true;
                        return Err(e);
                    }
                }
            }
            match self.ring.final_check_for_responses() {
                // More responses arrived meanwhile: go round again.
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.broken = true;
                    return Err(e.into());
                }
            }
        }
        Ok(done)
    }

    fn check_response(&mut self, rsp: TxResponse) -> Result<Option<TxCompletion<T>>, QueueError> {
        if rsp.status == XEN_NETIF_RSP_NULL {
            // Response slot of an extra-info request.
            return Ok(None);
        }
        let id = rsp.id;
        if usize::from(id) >= TX_RING_SIZE {
            return Err(QueueError::IdOutOfRange { id });
        }
        if self.slots.get(usize::from(id)).map(|s| s.state) != Some(TxState::Pending) {
            return Err(QueueError::IdNotPending { id });
        }
        let status = match rsp.status {
            XEN_NETIF_RSP_OKAY => TxStatus::Okay,
            XEN_NETIF_RSP_ERROR => TxStatus::Error,
            XEN_NETIF_RSP_DROPPED => TxStatus::Dropped,
            status => return Err(QueueError::UnknownStatus { id, status }),
        };
        self.complete(id, status).map(Some)
    }

    /// Releases every pending piece as [`TxStatus::Dropped`] (teardown,
    /// `xennet_release_tx_bufs`), calling `f` like [`TxQueue::poll`].
    /// Returns the number of completions. The ring must no longer be used
    /// by the backend.
    pub fn release_all<F>(&mut self, mut f: F) -> usize
    where
        F: FnMut(TxCompletion<T>, &mut GrantPool<TX_RING_SIZE>),
    {
        let mut done = 0;
        for id in 0..TX_RING_SIZE as u16 {
            let pending =
                self.slots.get(usize::from(id)).map(|s| s.state) == Some(TxState::Pending);
            if pending {
                if let Ok(c) = self.complete(id, TxStatus::Dropped) {
                    f(c, &mut self.grants);
                    done += 1;
                }
            }
        }
        done
    }
}

/// Records `e` unless an earlier error was recorded.
fn note(e: QueueError, err: &mut Option<QueueError>) {
    if err.is_none() {
        *err = Some(e);
    }
}

// ===========================================================================
// RX
// ===========================================================================

#[derive(Clone, Copy)]
struct RxBuf<T> {
    token: T,
    grant: Grant,
}

/// One fragment of a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrag<T> {
    /// The buffer's token (as returned by the fill callback).
    pub token: T,
    /// The buffer's grant. The caller must end the backend's access and then
    /// return it with [`GrantPool::free`]; if access cannot be ended it must
    /// not be returned (and the device should be considered broken).
    pub grant: Grant,
    /// Offset of the data in the buffer page.
    pub offset: u16,
    /// Length of the data.
    pub len: u16,
}

/// A received packet: up to [`MAX_RX_FRAGS`] fragments plus extra info.
#[derive(Clone, Copy, Debug)]
pub struct RxPacket<T> {
    frags: [Option<RxFrag<T>>; MAX_RX_FRAGS],
    nfrags: usize,
    flags: u16,
    len: u32,
    extras: [Option<ExtraInfo>; MAX_RX_EXTRAS],
}

impl<T: Copy> RxPacket<T> {
    fn empty(flags: u16) -> Self {
        RxPacket {
            frags: [None; MAX_RX_FRAGS],
            nfrags: 0,
            flags,
            len: 0,
            extras: [None; MAX_RX_EXTRAS],
        }
    }

    fn push(&mut self, frag: RxFrag<T>) -> Result<(), RxFrag<T>> {
        match self.frags.get_mut(self.nfrags) {
            Some(slot) => {
                *slot = Some(frag);
                self.nfrags += 1;
                self.len += u32::from(frag.len);
                Ok(())
            }
            None => Err(frag),
        }
    }

    /// The fragments, in order.
    pub fn frags(&self) -> impl Iterator<Item = &RxFrag<T>> + '_ {
        self.frags.iter().take(self.nfrags).flatten()
    }

    /// Fragment `i`, if any.
    pub fn frag(&self, i: usize) -> Option<&RxFrag<T>> {
        if i < self.nfrags {
            self.frags.get(i).and_then(|f| f.as_ref())
        } else {
            None
        }
    }

    /// Number of fragments.
    pub fn nfrags(&self) -> usize {
        self.nfrags
    }

    /// Total length of the packet.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the packet has no data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `NETRXF_*` flags of the first response.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// The backend left the checksum blank (`NETRXF_csum_blank`).
    pub fn csum_blank(&self) -> bool {
        self.flags & NETRXF_CSUM_BLANK != 0
    }

    /// The data was validated (`NETRXF_data_validated`).
    pub fn data_validated(&self) -> bool {
        self.flags & NETRXF_DATA_VALIDATED != 0
    }

    /// The extra-info slot of type `extra_type`, if received.
    pub fn extra(&self, extra_type: u8) -> Option<ExtraInfo> {
        let i = usize::from(extra_type).checked_sub(1)?;
        self.extras.get(i).copied().flatten()
    }

    /// The (validated) GSO parameters, if any.
    pub fn gso(&self) -> Option<ExtraGso> {
        self.extra(XEN_NETIF_EXTRA_TYPE_GSO).map(|e| e.gso())
    }
}

/// Event delivered by [`RxQueue::poll`].
#[derive(Clone, Copy, Debug)]
pub enum RxEvent<T> {
    /// A valid packet; the caller now owns its buffers.
    Packet(RxPacket<T>),
    /// A malformed or error packet was dropped; its buffers were recycled
    /// onto the ring. The caller should count an rx error.
    Dropped(QueueError),
}

/// Result of [`RxQueue::poll`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxPoll {
    /// Packets delivered.
    pub packets: usize,
    /// Packets dropped.
    pub dropped: usize,
}

impl RxPoll {
    /// Work done, to compare with the NAPI budget.
    pub fn work(&self) -> usize {
        self.packets + self.dropped
    }
}

/// Result of [`RxQueue::fill`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxFill {
    /// Buffers newly posted.
    pub posted: u32,
    /// Whether the backend must be notified.
    pub notify: bool,
    /// Whether the caller should retry later (allocation failed or fewer
    /// than `NET_RX_SLOTS_MIN` buffers are posted).
    pub retry: bool,
}

/// Receive side of one queue.
pub struct RxQueue<T> {
    ring: RxRing,
    grants: GrantPool<RX_RING_SIZE>,
    /// Buffer posted in each ring slot (request id == slot index).
    bufs: [Option<RxBuf<T>>; RX_RING_SIZE],
    broken: bool,
}

const RX_MASK: u32 = NET_RX_RING_SIZE - 1;

impl<T: Copy> RxQueue<T> {
    /// Builds an RX queue on `ring` with the grant references `grefs`
    /// (normally [`RX_RING_SIZE`] of them).
    ///
    /// The value is large; in the kernel prefer [`RxQueue::init`].
    pub fn new(ring: RxRing, grefs: &[GrantRef]) -> Result<Self, QueueError> {
        let mut this = MaybeUninit::uninit();
        Self::init(&mut this, ring, grefs)?;
        // SAFETY: `init` returned Ok, so every field is initialised.
        Ok(unsafe { this.assume_init() })
    }

    /// Initialises an RX queue in place. On error, `this` is left
    /// uninitialised.
    pub fn init<'a>(
        this: &'a mut MaybeUninit<Self>,
        ring: RxRing,
        grefs: &[GrantRef],
    ) -> Result<&'a mut Self, QueueError> {
        if grefs.len() > RX_RING_SIZE {
            let gref = grefs.get(RX_RING_SIZE).copied().unwrap_or(0);
            return Err(QueueError::Grant(GrantError::PoolFull { gref }));
        }
        let p = this.as_mut_ptr();
        // SAFETY: as in `TxQueue::init`.
        let this = unsafe {
            ptr::addr_of_mut!((*p).ring).write(ring);
            GrantPool::init(
                &mut *ptr::addr_of_mut!((*p).grants).cast::<MaybeUninit<GrantPool<RX_RING_SIZE>>>(),
            );
            fill_array(ptr::addr_of_mut!((*p).bufs), None);
            ptr::addr_of_mut!((*p).broken).write(false);
            this.assume_init_mut()
        };
        this.grants.add_all(grefs)?;
        Ok(this)
    }

    /// The underlying ring.
    pub fn ring(&self) -> &RxRing {
        &self.ring
    }

    /// Mutable access to the ring (e.g. for the final check after NAPI
    /// completes).
    pub fn ring_mut(&mut self) -> &mut RxRing {
        &mut self.ring
    }

    /// The grant pool.
    pub fn grants(&mut self) -> &mut GrantPool<RX_RING_SIZE> {
        &mut self.grants
    }

    /// Read-only view of the grant pool.
    pub fn grants_ref(&self) -> &GrantPool<RX_RING_SIZE> {
        &self.grants
    }

    /// Whether the queue was disabled by a fatal backend error.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Number of buffers currently posted to the backend.
    pub fn posted(&self) -> usize {
        self.bufs.iter().filter(|b| b.is_some()).count()
    }

    /// Posts new buffers into every free slot (`xennet_alloc_rx_buffers`).
    ///
    /// For each slot a grant is taken from the pool and `alloc(grant)` is
    /// called: it must allocate a page, grant the backend write access to it
    /// with `grant.gref()` and return its token, or return `None` to stop
    /// (the grant goes back to the pool). The requests are published only
    /// when at least `NET_RX_SLOTS_MIN` buffers are outstanding.
    pub fn fill<F>(&mut self, mut alloc: F) -> Result<RxFill, QueueError>
    where
        F: FnMut(Grant) -> Option<T>,
    {
        if self.broken {
            return Err(QueueError::Broken);
        }
        let mut posted = 0;
        let mut short = false;
        while !self.ring.full() {
            let idx = self.ring.req_prod_pvt() & RX_MASK;
            let Some(slot) = self.bufs.get_mut(idx as usize) else {
                return Err(QueueError::SlotBusy { idx });
            };
            if slot.is_some() {
                self.broken = true;
                return Err(QueueError::SlotBusy { idx });
            }
            let Some(grant) = self.grants.alloc() else {
                short = true;
                break;
            };
            let Some(token) = alloc(grant) else {
                let _ = self.grants.free(grant);
                short = true;
                break;
            };
            self.ring.next_request_slot(RxRequest {
                id: idx as u16,
                pad: 0,
                gref: grant.gref(),
            })?;
            *slot = Some(RxBuf { token, grant });
            posted += 1;
        }
        if self.ring.outstanding() < NET_RX_SLOTS_MIN {
            return Ok(RxFill {
                posted,
                notify: false,
                retry: true,
            });
        }
        let notify = self.ring.push_requests();
        Ok(RxFill {
            posted,
            notify,
            retry: short,
        })
    }

    /// Consumes the response at `rsp_cons`: returns the slot index, the
    /// response and the buffer that was posted in that slot.
    fn take(&mut self) -> Option<(u32, RxResponse, Option<RxBuf<T>>)> {
        let idx = self.ring.rsp_cons() & RX_MASK;
        let rsp = self.ring.take_response()?;
        let buf = self.bufs.get_mut(idx as usize).and_then(|b| b.take());
        Some((idx, rsp, buf))
    }

    /// Re-posts a buffer in the next request slot (`xennet_move_rx_slot`).
    fn recycle(&mut self, buf: RxBuf<T>) -> Result<(), QueueError> {
        let idx = self.ring.req_prod_pvt() & RX_MASK;
        let slot = self
            .bufs
            .get_mut(idx as usize)
            .ok_or(QueueError::SlotBusy { idx })?;
        if slot.is_some() {
            return Err(QueueError::SlotBusy { idx });
        }
        self.ring.next_request_slot(RxRequest {
            id: idx as u16,
            pad: 0,
            gref: buf.grant.gref(),
        })?;
        *slot = Some(buf);
        Ok(())
    }

    /// Checks a data response found in slot `idx`.
    fn check_data(idx: u32, rsp: &RxResponse) -> Result<(), QueueError> {
        let id = rsp.id;
        if u32::from(id) >= NET_RX_RING_SIZE {
            return Err(QueueError::IdOutOfRange { id });
        }
        if u32::from(id) != idx {
            return Err(QueueError::IdMismatch {
                id,
                expected: idx as u16,
            });
        }
        if rsp.flags & !NETRXF_KNOWN != 0 {
            return Err(QueueError::UnknownFlags {
                id,
                flags: rsp.flags,
            });
        }
        if rsp.status < 0 {
            return Err(QueueError::ErrorStatus {
                id,
                status: rsp.status,
            });
        }
        let len = rsp.status as u16;
        if usize::from(rsp.offset) + usize::from(len) > XEN_PAGE_SIZE {
            return Err(QueueError::BadOffset {
                id,
                offset: rsp.offset,
                len,
            });
        }
        Ok(())
    }

    /// Reads one packet starting at `rsp_cons`. The outer `Result` carries
    /// fatal errors, the inner one per-packet errors (the packet's buffers
    /// have then been recycled).
    #[allow(clippy::type_complexity)]
    fn read_packet(&mut self) -> Result<Result<RxPacket<T>, QueueError>, QueueError> {
        let Some((idx0, first, buf0)) = self.take() else {
            return Ok(Err(QueueError::Truncated { slots: 0 }));
        };
        let mut err: Option<QueueError> = None;
        let mut pkt = RxPacket::empty(first.flags);

        // Extra-info slots come right after the first response.
        if first.flags & NETRXF_EXTRA_INFO != 0 {
            let mut count: u32 = 0;
            loop {
                if self.ring.pending_responses() == 0 {
                    note(QueueError::Truncated { slots: 1 + count }, &mut err);
                    break;
                }
                let Some((_, rsp, buf)) = self.take() else {
                    break;
                };
                count += 1;
                if let Some(b) = buf {
                    self.recycle(b)?;
                }
                let extra = ExtraInfo::from_rx_response(&rsp);
                let t = extra.extra_type;
                if t == XEN_NETIF_EXTRA_TYPE_NONE || t >= XEN_NETIF_EXTRA_TYPE_MAX {
                    note(QueueError::BadExtraType { extra_type: t }, &mut err);
                } else if count as usize > MAX_RX_EXTRAS {
                    note(QueueError::TooManyExtras { count }, &mut err);
                } else if let Some(e) = pkt.extras.get_mut(usize::from(t) - 1) {
                    *e = Some(extra);
                }
                if !extra.has_more() {
                    break;
                }
            }
            if let Some(g) = pkt.gso() {
                if g.size == 0
                    || (g.gso_type != XEN_NETIF_GSO_TYPE_TCPV4
                        && g.gso_type != XEN_NETIF_GSO_TYPE_TCPV6)
                {
                    note(
                        QueueError::BadGso {
                            size: g.size,
                            gso_type: g.gso_type,
                        },
                        &mut err,
                    );
                }
            }
        }

        // First data fragment.
        if let Err(e) = Self::check_data(idx0, &first) {
            note(e, &mut err);
        }
        match buf0 {
            Some(b) => {
                let frag = RxFrag {
                    token: b.token,
                    grant: b.grant,
                    offset: first.offset,
                    len: first.status.max(0) as u16,
                };
                if pkt.push(frag).is_err() {
                    // Cannot happen for the first fragment; never leak it.
                    self.recycle(b)?;
                }
            }
            None => note(QueueError::IdNotPending { id: idx0 as u16 }, &mut err),
        }

        // Following fragments.
        let mut slots: u32 = 1;
        let mut flags = first.flags;
        while flags & NETRXF_MORE_DATA != 0 {
            if self.ring.pending_responses() == 0 {
                note(QueueError::Truncated { slots }, &mut err);
                break;
            }
            let Some((idx, rsp, buf)) = self.take() else {
                break;
            };
            slots += 1;
            flags = rsp.flags;
            if let Err(e) = Self::check_data(idx, &rsp) {
                note(e, &mut err);
            }
            match buf {
                Some(b) => {
                    let frag = RxFrag {
                        token: b.token,
                        grant: b.grant,
                        offset: rsp.offset,
                        len: rsp.status.max(0) as u16,
                    };
                    if pkt.push(frag).is_err() {
                        // Chain longer than any valid packet: flagged below.
                        self.recycle(b)?;
                    }
                }
                None => note(QueueError::IdNotPending { id: idx as u16 }, &mut err),
            }
        }
        let small_first = first.status >= 0 && (first.status as u32) <= RX_COPY_THRESHOLD;
        let max = XEN_NETIF_NR_SLOTS_MIN + u32::from(small_first);
        if slots > max {
            note(QueueError::ChainTooLong { slots, max }, &mut err);
        }

        match err {
            None => Ok(Ok(pkt)),
            Some(e) => {
                for i in 0..pkt.nfrags {
                    if let Some(Some(f)) = pkt.frags.get(i) {
                        self.recycle(RxBuf {
                            token: f.token,
                            grant: f.grant,
                        })?;
                    }
                }
                Ok(Err(e))
            }
        }
    }

    /// Consumes RX responses (`xennet_poll`), at most `budget` packets
    /// (delivered or dropped). Each valid packet is passed to `f` as
    /// [`RxEvent::Packet`]; the caller then owns the buffers and must end
    /// the backend's access to each grant and return it to the pool passed
    /// along. Malformed packets are passed as [`RxEvent::Dropped`] after
    /// their buffers were re-posted.
    ///
    /// Only a producer overflow (or an internal inconsistency) is fatal; it
    /// marks the queue broken and is returned as `Err`.
    ///
    /// Call [`RxQueue::fill`] afterwards to replenish the ring, and
    /// [`RxQueue::final_check`] when less than `budget` work was done.
    pub fn poll<F>(&mut self, budget: usize, mut f: F) -> Result<RxPoll, QueueError>
    where
        F: FnMut(RxEvent<T>, &mut GrantPool<RX_RING_SIZE>),
    {
        if self.broken {
            return Err(QueueError::Broken);
        }
        if let Err(e) = self.ring.unconsumed_responses() {
            self.broken = true;
            return Err(e.into());
        }
        let mut stats = RxPoll::default();
        while stats.work() < budget && self.ring.pending_responses() > 0 {
            match self.read_packet() {
                Ok(Ok(pkt)) => {
                    stats.packets += 1;
                    f(RxEvent::Packet(pkt), &mut self.grants);
                }
                Ok(Err(e)) => {
                    stats.dropped += 1;
                    f(RxEvent::Dropped(e), &mut self.grants);
                }
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Ok(stats)
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES` on the RX ring: returns whether more
    /// responses arrived (the caller should poll again).
    pub fn final_check(&mut self) -> Result<bool, QueueError> {
        if self.broken {
            return Err(QueueError::Broken);
        }
        self.ring.final_check_for_responses().map_err(|e| {
            self.broken = true;
            e.into()
        })
    }

    /// Takes back every posted buffer (teardown, `xennet_release_rx_bufs`),
    /// calling `f(token, grant, pool)` for each. Returns how many. The ring
    /// must no longer be used by the backend.
    pub fn release_all<F>(&mut self, mut f: F) -> usize
    where
        F: FnMut(T, Grant, &mut GrantPool<RX_RING_SIZE>),
    {
        let mut n = 0;
        for b in self.bufs.iter_mut() {
            if let Some(buf) = b.take() {
                f(buf.token, buf.grant, &mut self.grants);
                n += 1;
            }
        }
        n
    }
}

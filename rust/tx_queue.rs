// SPDX-License-Identifier: GPL-2.0

//! TX slot bookkeeping of one netfront queue, driving a [`TxRing`].
//!
//! The kernel-independent part of xen-netfront's `xennet_start_xmit` and
//! `xennet_tx_buf_gc`: [`TxLayout`] cuts a packet into page-bounded pieces,
//! [`TxQueue`] sets aside ids, grants and ring slots for it
//! ([`TxQueue::reserve`]), writes its requests ([`TxQueue::post`]) and
//! validates every response ([`TxQueue::poll`]); what TX and RX share is in
//! [`crate::queue`].
//!
//! This file only depends on `core` and sibling modules.

use core::mem::MaybeUninit;
use core::ptr;

use crate::grant::{Grant, GrantPool, IdPool};
use crate::netif::{
    ExtraInfo, GrantRef, TxRequest, TxResponse, NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED,
    NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, XEN_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_NONE,
    XEN_NETIF_MAX_TX_SIZE, XEN_NETIF_NR_SLOTS_MIN, XEN_NETIF_RSP_DROPPED, XEN_NETIF_RSP_ERROR,
    XEN_NETIF_RSP_NULL, XEN_NETIF_RSP_OKAY, XEN_PAGE_SIZE,
};
use crate::queue::{fill_array, init_grant_pool, QueueError, TxRing, TX_RING_SIZE};

/// Maximum number of data pieces (slots) of one transmitted packet.
pub(crate) const MAX_TX_PIECES: usize = XEN_NETIF_NR_SLOTS_MIN as usize;
/// Maximum number of ring slots one transmitted packet may use: the data
/// pieces plus one extra-info slot.
pub(crate) const MAX_TX_SLOTS: u32 = XEN_NETIF_NR_SLOTS_MIN + 1;

/// The page-bounded pieces of one packet to transmit, gathered from the
/// spans of memory it lies in (an skb's linear head and its fragments).
///
/// Each piece remembers which span it came from and the number of the page
/// it lies in (its start address or offset divided by the page size), so
/// the kernel glue can find the page's frame number to grant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxLayout {
    pieces: [TxPiece; MAX_TX_PIECES],
    spans: [u8; MAX_TX_PIECES],
    pages: [usize; MAX_TX_PIECES],
    n: usize,
    len: usize,
}

impl TxLayout {
    /// An empty layout.
    pub(crate) const fn new() -> Self {
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
    pub(crate) fn add_span(&mut self, span: u8, start: usize, len: usize) -> bool {
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
    pub(crate) fn pieces(&self) -> &[TxPiece] {
        self.pieces.get(..self.n).unwrap_or(&[])
    }

    /// Span and page number of piece `i` (`None` if the layout overflowed).
    pub(crate) fn source(&self, i: usize) -> Option<(u8, usize)> {
        if i < self.n && self.n <= MAX_TX_PIECES {
            Some((*self.spans.get(i)?, *self.pages.get(i)?))
        } else {
            None
        }
    }

    /// Total number of bytes added.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The `NETTXF_*` checksum flags for an skb's `ip_summed` value
/// (`CHECKSUM_NONE` 0, `CHECKSUM_UNNECESSARY` 1, `CHECKSUM_COMPLETE` 2,
/// `CHECKSUM_PARTIAL` 3), as xen-netfront sets them.
pub(crate) fn tx_csum_flags(ip_summed: u32) -> u16 {
    match ip_summed {
        // The checksum is to be filled in by whoever delivers the packet.
        3 => NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
        1 => NETTXF_DATA_VALIDATED,
        _ => 0,
    }
}

/// Outcome of one transmitted slot or packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxStatus {
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
pub(crate) struct TxPiece {
    /// Offset of the data within its page.
    pub(crate) offset: u16,
    /// Length of the data (at least 1, `offset + len <= XEN_PAGE_SIZE`).
    pub(crate) len: u16,
}

/// Ring slots, ids and grants set aside for one packet by
/// [`TxQueue::reserve`].
///
/// The caller grants the backend read access to each piece's page with
/// [`TxReservation::gref`] and then calls [`TxQueue::post`] (the tests can
/// also give everything back with `TxQueue::cancel`).
#[derive(Debug)]
pub(crate) struct TxReservation {
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
    pub(crate) fn pieces(&self) -> usize {
        self.n
    }

    /// Number of ring slots the packet will use (pieces + extra info).
    pub(crate) fn slots(&self) -> u32 {
        self.n as u32 + u32::from(self.extra.is_some())
    }

    /// The grant reference to use for piece `i` (`None` if out of range).
    pub(crate) fn gref(&self, i: usize) -> Option<GrantRef> {
        self.grant(i).map(|g| g.gref())
    }

    /// The grant for piece `i` (`None` if out of range).
    pub(crate) fn grant(&self, i: usize) -> Option<Grant> {
        if i < self.n {
            self.grants.get(i).copied().flatten()
        } else {
            None
        }
    }

    /// Total packet length.
    #[cfg(test)]
    pub(crate) fn total_len(&self) -> u16 {
        self.total
    }
}

/// One completed TX request, handed to the [`TxQueue::poll`] callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxCompletion<T> {
    /// The packet's token.
    pub(crate) token: T,
    /// The grant of this piece. The caller must end the backend's access and
    /// then return it with [`GrantPool::free`]; if access cannot be ended it
    /// must not be returned (and the device should be considered broken).
    pub(crate) grant: Grant,
    /// Outcome of this piece.
    pub(crate) status: TxStatus,
    /// `Some(worst status of all pieces)` when this completion was the last
    /// outstanding piece of its packet: the token may now be released.
    pub(crate) packet_done: Option<TxStatus>,
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
    /// On the head: extra-info slots posted right after it (their
    /// `XEN_NETIF_RSP_NULL` responses follow the head's response).
    extras: u8,
}

impl<T: Copy> TxSlot<T> {
    const EMPTY: Self = TxSlot {
        state: TxState::Free,
        grant: None,
        token: None,
        head: 0,
        remaining: 0,
        worst: TxStatus::Okay,
        extras: 0,
    };
}

/// With lazy completions, how many responses the TX event waits for at
/// least (a quarter of the ring).
pub(crate) const LAZY_TX_EVENT: u32 = TX_RING_SIZE as u32 / 4;

/// Transmit side of one queue.
pub(crate) struct TxQueue<T> {
    ring: TxRing,
    ids: IdPool<TX_RING_SIZE>,
    grants: GrantPool<TX_RING_SIZE>,
    slots: [TxSlot<T>; TX_RING_SIZE],
    reserved_slots: u32,
    /// `XEN_NETIF_RSP_NULL` responses due: those of the extra-info slots of
    /// the packet whose head response came last.
    nulls_due: u8,
    /// Completions may come late (see [`TxQueue::set_lazy_completions`]).
    lazy: bool,
    broken: bool,
}

impl<T: Copy> TxQueue<T> {
    /// Builds a TX queue on the stack (tests only: the value is large,
    /// several KiB); see [`TxQueue::init`].
    #[cfg(test)]
    pub(crate) fn new(ring: TxRing, grefs: &[GrantRef]) -> Result<Self, QueueError> {
        let mut this = MaybeUninit::uninit();
        Self::init(&mut this, ring, grefs)?;
        // SAFETY: `init` returned Ok, so every field is initialised.
        Ok(unsafe { this.assume_init() })
    }

    /// Initialises, in place (e.g. in heap memory: the value is large,
    /// several KiB), a TX queue on `ring` with the grant references `grefs`
    /// (normally [`TX_RING_SIZE`] of them, claimed by the kernel glue). On
    /// error, `this` is left uninitialised.
    pub(crate) fn init<'a>(
        this: &'a mut MaybeUninit<Self>,
        ring: TxRing,
        grefs: &[GrantRef],
    ) -> Result<&'a mut Self, QueueError> {
        let p = this.as_mut_ptr();
        // SAFETY: `p` is valid for writes, aligned and exclusive (from
        // `&mut MaybeUninit<Self>`), and so are its fields. Every field is
        // initialised through raw pointers, without reading uninitialised
        // memory; sub-structures are initialised by their own `init`, which
        // accept `MaybeUninit` views with identical layout.
        unsafe {
            init_grant_pool(ptr::addr_of_mut!((*p).grants), grefs)?;
            ptr::addr_of_mut!((*p).ring).write(ring);
            IdPool::init(
                &mut *ptr::addr_of_mut!((*p).ids).cast::<MaybeUninit<IdPool<TX_RING_SIZE>>>(),
            );
            fill_array(ptr::addr_of_mut!((*p).slots), TxSlot::EMPTY);
            ptr::addr_of_mut!((*p).reserved_slots).write(0);
            ptr::addr_of_mut!((*p).nulls_due).write(0);
            ptr::addr_of_mut!((*p).lazy).write(false);
            ptr::addr_of_mut!((*p).broken).write(false);
            Ok(this.assume_init_mut())
        }
    }

    /// The underlying ring.
    #[cfg(test)]
    pub(crate) fn ring(&self) -> &TxRing {
        &self.ring
    }

    /// The grant pool (e.g. to return grants outside of [`TxQueue::poll`]).
    #[cfg(test)]
    pub(crate) fn grants(&mut self) -> &mut GrantPool<TX_RING_SIZE> {
        &mut self.grants
    }

    /// Read-only view of the grant pool.
    #[cfg(test)]
    pub(crate) fn grants_ref(&self) -> &GrantPool<TX_RING_SIZE> {
        &self.grants
    }

    /// Number of request ids in use (reserved, pending or waiting).
    #[cfg(test)]
    pub(crate) fn ids_in_use(&self) -> usize {
        self.ids.count()
    }

    /// Whether the queue was disabled by a fatal backend error.
    #[cfg(test)]
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// With `lazy`, [`TxQueue::poll`] asks the backend for its next event
    /// only [`LAZY_TX_EVENT`] responses ahead (or, with more in flight, once
    /// three quarters of them are answered), not at the next response.
    /// That is for packets whose memory does not wait for the completion
    /// (copied into bounce pages, the skb freed at once): most responses
    /// then cost neither an interrupt in the guest nor a notification in
    /// the backend. Completions of the last packets before the queue goes
    /// quiet wait in the ring until more traffic (or teardown) comes; they
    /// hold only their bounce slots. The event is always due before the
    /// queue must stop (see [`TxQueue::event_ahead`]), so a stopped queue
    /// is always woken.
    pub(crate) fn set_lazy_completions(&mut self, lazy: bool) {
        self.lazy = lazy;
    }

    /// How many responses ahead the next completion event is wanted: 1, or
    /// when lazy at most `TX_RING_SIZE - MAX_TX_SLOTS - 1`, fewer than the
    /// requests in flight whenever [`TxQueue::need_stop`] holds (the stop
    /// needs `MAX_TX_SLOTS` or fewer free slots, so at least
    /// `TX_RING_SIZE - MAX_TX_SLOTS` in flight).
    pub(crate) fn event_ahead(&self) -> u32 {
        if !self.lazy {
            return 1;
        }
        let n = self.ring.in_flight();
        (n - n / 4)
            .max(LAZY_TX_EVENT)
            .min(TX_RING_SIZE as u32 - MAX_TX_SLOTS - 1)
    }

    /// Ring slots usable by a new reservation.
    pub(crate) fn free_slots(&self) -> u32 {
        self.ring
            .free_requests()
            .saturating_sub(self.reserved_slots)
    }

    /// Whether a packet of any allowed shape still fits: more than
    /// [`MAX_TX_SLOTS`] free slots (`netfront_tx_slot_available`).
    pub(crate) fn slot_available(&self) -> bool {
        self.free_slots() > MAX_TX_SLOTS
    }

    /// Whether the caller should stop its transmit queue now, so that the
    /// ring can never overflow (netfront stops when
    /// `!netfront_tx_slot_available`).
    pub(crate) fn need_stop(&self) -> bool {
        !self.slot_available()
    }

    /// Whether a stopped transmit queue may be woken again.
    pub(crate) fn can_wake(&self) -> bool {
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
    pub(crate) fn reserve(
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
    pub(crate) fn cancel(&mut self, res: TxReservation) -> Result<(), QueueError> {
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
    pub(crate) fn post(&mut self, res: TxReservation, token: T) -> Result<(), QueueError> {
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
                    slot.extras = u8::from(res.extra.is_some());
                }
            }
        }
        self.reserved_slots = self.reserved_slots.saturating_sub(needed);
        Ok(())
    }

    /// Publishes posted requests; returns whether the backend must be
    /// notified.
    pub(crate) fn push(&mut self) -> bool {
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
    pub(crate) fn poll<F>(&mut self, mut f: F) -> Result<usize, QueueError>
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
            match self
                .ring
                .final_check_for_responses_ahead(self.event_ahead())
            {
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
            // The response slot of an extra-info request: only right after
            // the response of the packet head that carried it.
            self.nulls_due = self
                .nulls_due
                .checked_sub(1)
                .ok_or(QueueError::UnexpectedNull)?;
            return Ok(None);
        }
        // A missing NULL does no harm; one that comes later is refused.
        self.nulls_due = 0;
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
        let extras = self
            .slots
            .get(usize::from(id))
            .filter(|s| s.head == id)
            .map_or(0, |s| s.extras);
        let c = self.complete(id, status)?;
        self.nulls_due = extras;
        Ok(Some(c))
    }

    /// Releases every pending piece as [`TxStatus::Dropped`] (teardown,
    /// `xennet_release_tx_bufs`), calling `f` like [`TxQueue::poll`].
    /// Returns the number of completions. The ring must no longer be used
    /// by the backend.
    pub(crate) fn release_all<F>(&mut self, mut f: F) -> usize
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

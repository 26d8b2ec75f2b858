// SPDX-License-Identifier: GPL-2.0

//! Typed Xen shared rings (`io/ring.h`): the front half the driver uses.
//! The back half, which the tests' backends drive, is in `back_ring.rs`.
//!
//! A shared ring lives in one page: a 64-byte header holding the four
//! free-running indices (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`)
//! followed by a power-of-two number of entries, each big enough for either a
//! request or a response.
//!
//! All accesses to the shared page are volatile and ordered by explicit
//! fences, mirroring the barriers of ring.h:
//!
//! * write barrier (`virt_wmb`) -> `fence(Release)`,
//! * read barrier (`virt_rmb`) -> `fence(Acquire)`,
//! * full barrier (`virt_mb`) -> `fence(SeqCst)`.
//!
//! Indices are `u32` and free-running; every index computation uses wrapping
//! arithmetic, so the rings keep working across the 2^32 wrap.
//!
//! Values written by the other end are never trusted: producer indices are
//! validated before use and entries are copied out of the page exactly once.
//!
//! This file only depends on `core` and `crate::netif`.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{fence, Ordering};

use crate::netif::{
    const_ring_size, RingIdx, SringHeader, SRING_ENTRIES_OFFSET, SRING_REQ_EVENT_OFFSET,
    SRING_REQ_PROD_OFFSET, SRING_RSP_EVENT_OFFSET, SRING_RSP_PROD_OFFSET, XEN_PAGE_SIZE,
};

/// Errors detected by the frontend half of a shared ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingError {
    /// The backend's `rsp_prod` claims more responses than there are
    /// requests outstanding (`RING_RESPONSE_PROD_OVERFLOW`, made strict).
    ResponseOverflow {
        /// The `rsp_prod` value read from the shared page.
        rsp_prod: RingIdx,
        /// Our response consumer index.
        rsp_cons: RingIdx,
        /// The last request producer index we published.
        req_prod: RingIdx,
    },
    /// No free request slot (the ring is full).
    Full,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RingError::ResponseOverflow {
                rsp_prod,
                rsp_cons,
                req_prod,
            } => write!(
                f,
                "backend rsp_prod {} claims {} responses but only {} requests are outstanding (rsp_cons {}, req_prod {})",
                rsp_prod,
                rsp_prod.wrapping_sub(rsp_cons),
                req_prod.wrapping_sub(rsp_cons),
                rsp_cons,
                req_prod
            ),
            RingError::Full => write!(f, "shared ring is full"),
        }
    }
}

/// Returns whether the other end must be notified after moving a producer
/// index from `old` to `new` when it asked to be woken at `event`
/// (`RING_PUSH_*_AND_CHECK_NOTIFY`): `(new - event) < (new - old)` in
/// wrapping `u32` arithmetic, i.e. `event` lies in `(old, new]`.
pub(crate) const fn need_notify(old: RingIdx, new: RingIdx, event: RingIdx) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// Size of one ring entry: the C union of `Req` and `Rsp`.
pub(crate) const fn entry_size<Req, Rsp>() -> usize {
    let size = max(core::mem::size_of::<Req>(), core::mem::size_of::<Rsp>());
    let align = max(core::mem::align_of::<Req>(), core::mem::align_of::<Rsp>());
    size.div_ceil(align) * align
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Raw access to a shared ring page. All accesses are volatile.
///
/// Built only by the ring constructors (the front half here, the back half
/// of the test backends in `back_ring.rs`), whose contracts make `base` a
/// live, page-aligned shared ring page.
#[derive(Clone, Copy)]
pub(crate) struct Sring {
    base: NonNull<u8>,
}

impl Sring {
    /// Wraps a shared ring page.
    ///
    /// # Safety
    ///
    /// `base` must satisfy the contract of [`FrontRing::new`] (or of the
    /// back half's `attach`) for as long as the result or anything built
    /// from it is used.
    pub(crate) const unsafe fn from_page(base: NonNull<u8>) -> Self {
        Sring { base }
    }

    /// Reads a header index.
    pub(crate) fn read_idx(&self, offset: usize) -> RingIdx {
        // SAFETY: by the contract of the ring constructors (which covers
        // anything built from a ring, such as a `RingWatch`) `base` points
        // to a live, page-aligned page of `XEN_PAGE_SIZE` bytes; `offset` is one of
        // the 4-aligned header offsets (< 64), so the `u32` is in bounds and
        // aligned. The other end may write it concurrently, hence volatile.
        unsafe { ptr::read_volatile(self.base.as_ptr().add(offset).cast::<u32>()) }
    }

    /// Writes a header index.
    pub(crate) fn write_idx(&self, offset: usize, value: RingIdx) {
        // SAFETY: as in `read_idx`; the page is writable by contract.
        unsafe { ptr::write_volatile(self.base.as_ptr().add(offset).cast::<u32>(), value) }
    }

    /// Returns a pointer to entry `idx & (size - 1)`.
    ///
    /// `size` must be a non-zero power of two such that `size` entries of
    /// `entry` bytes fit in the page after the header (checked by the
    /// callers' compile-time asserts).
    pub(crate) fn entry(&self, idx: RingIdx, size: u32, entry: usize) -> *mut u8 {
        let slot = (idx & size.wrapping_sub(1)) as usize;
        // SAFETY: `slot < size` and `SRING_ENTRIES_OFFSET + size * entry <=
        // XEN_PAGE_SIZE` (compile-time checked), so the result stays inside
        // the page that `base` points to.
        unsafe { self.base.as_ptr().add(SRING_ENTRIES_OFFSET + slot * entry) }
    }

    /// `SHARED_RING_INIT`, generalised to start at index `start`.
    fn init(&self, start: RingIdx) {
        self.write_idx(SRING_REQ_PROD_OFFSET, start);
        self.write_idx(SRING_RSP_PROD_OFFSET, start);
        self.write_idx(SRING_REQ_EVENT_OFFSET, start.wrapping_add(1));
        self.write_idx(SRING_RSP_EVENT_OFFSET, start.wrapping_add(1));
        let pad = core::mem::offset_of!(SringHeader, pad);
        let mut i = pad;
        while i < SRING_ENTRIES_OFFSET {
            // SAFETY: `pad <= i < 64`, inside the page header.
            unsafe { ptr::write_volatile(self.base.as_ptr().add(i), 0u8) };
            i += 1;
        }
    }
}

/// Snapshot of the four shared indices, for tests.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SharedIndices {
    /// `req_prod`.
    pub(crate) req_prod: RingIdx,
    /// `req_event`.
    pub(crate) req_event: RingIdx,
    /// `rsp_prod`.
    pub(crate) rsp_prod: RingIdx,
    /// `rsp_event`.
    pub(crate) rsp_event: RingIdx,
}

#[cfg(test)]
pub(crate) fn read_indices(s: &Sring) -> SharedIndices {
    SharedIndices {
        req_prod: s.read_idx(SRING_REQ_PROD_OFFSET),
        req_event: s.read_idx(SRING_REQ_EVENT_OFFSET),
        rsp_prod: s.read_idx(SRING_RSP_PROD_OFFSET),
        rsp_event: s.read_idx(SRING_RSP_EVENT_OFFSET),
    }
}

/// A read-only view of the response producer of a shared ring, obtained
/// from its [`FrontRing`] with [`FrontRing::watch`].
///
/// It lets code that cannot borrow the ring (an interrupt handler, while
/// the NAPI poller owns the ring) ask whether the backend may have produced
/// something new. It holds only the page pointer and is valid as long as
/// the ring's page is (see the contract of [`FrontRing::new`]).
#[derive(Clone, Copy)]
pub(crate) struct RingWatch {
    sring: Sring,
}

// SAFETY: a `RingWatch` only ever performs volatile reads of the `rsp_prod`
// index of a page that, by the contract of `FrontRing::new`, stays valid
// while anything built from the ring is used. The backend may write that
// index concurrently anyway, so concurrent reads from any thread are no
// different; nothing is written and no Rust reference to the page exists.
unsafe impl Send for RingWatch {}
// SAFETY: as for `Send`: `&RingWatch` only allows the same volatile reads.
unsafe impl Sync for RingWatch {}

impl RingWatch {
    /// The backend's response producer index (`rsp_prod`), read from the
    /// shared page once (volatile, no barrier).
    ///
    /// The value is not validated: it is only a hint whether there may be
    /// something new (e.g. compared with the responses consumed so far).
    /// Responses are consumed only through the ring, which validates the
    /// index ([`FrontRing::unconsumed_responses`]).
    pub(crate) fn rsp_prod(&self) -> RingIdx {
        self.sring.read_idx(SRING_RSP_PROD_OFFSET)
    }
}

/// Decides whether an event of the backend brought new responses, so that
/// an event storm (events with nothing new, while the consumer is busy or
/// disabled) is answered with a spurious late EOI and throttled by Xen
/// (`rx_rsp_unconsumed` in xen-netfront).
///
/// It remembers how many responses were known to be unconsumed: an event is
/// work only if it finds more. The interrupt handler calls
/// [`EventGate::on_event`] with the producer it read; the consumer calls
/// [`EventGate::on_consumed`] after consuming. Both run under one lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EventGate {
    /// The consumer index published by the consumer.
    cons: RingIdx,
    /// Responses known to be unconsumed (producer minus `cons`).
    unconsumed: u32,
}

/// A producer index an [`EventGate`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GateError {
    /// The producer moved backwards: it shows fewer unconsumed responses
    /// than an earlier event did.
    Backwards {
        /// The producer read at this event.
        rsp_prod: RingIdx,
        /// Responses unconsumed by this producer.
        now: u32,
        /// Responses unconsumed at an earlier event.
        before: u32,
    },
    /// The producer claims more unconsumed responses than the ring has
    /// slots.
    BeyondRing {
        /// The producer read at this event.
        rsp_prod: RingIdx,
        /// The consumer index.
        rsp_cons: RingIdx,
    },
}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GateError::Backwards {
                rsp_prod,
                now,
                before,
            } => write!(
                f,
                "backend rsp_prod moved backwards to {} ({} unconsumed responses, {} before)",
                rsp_prod, now, before
            ),
            GateError::BeyondRing { rsp_prod, rsp_cons } => write!(
                f,
                "backend rsp_prod {} is {} responses ahead of rsp_cons {}, more than the ring holds",
                rsp_prod,
                rsp_prod.wrapping_sub(rsp_cons),
                rsp_cons
            ),
        }
    }
}

impl EventGate {
    /// A gate for a fresh ring (both indices 0).
    pub(crate) const fn new() -> Self {
        EventGate {
            cons: 0,
            unconsumed: 0,
        }
    }

    /// An event found the producer at `rsp_prod` on a ring of `size`
    /// slots: `Ok(true)` if it shows responses no earlier event showed.
    pub(crate) fn on_event(&mut self, rsp_prod: RingIdx, size: u32) -> Result<bool, GateError> {
        let now = rsp_prod.wrapping_sub(self.cons);
        if now > size {
            return Err(GateError::BeyondRing {
                rsp_prod,
                rsp_cons: self.cons,
            });
        }
        if now < self.unconsumed {
            return Err(GateError::Backwards {
                rsp_prod,
                now,
                before: self.unconsumed,
            });
        }
        let new = now > self.unconsumed;
        self.unconsumed = now;
        Ok(new)
    }

    /// The consumer consumed up to `rsp_cons`, and the producer reads
    /// `rsp_prod` now (a producer behind `rsp_cons` counts as nothing
    /// unconsumed: the ring itself refuses it).
    pub(crate) fn on_consumed(&mut self, rsp_cons: RingIdx, rsp_prod: RingIdx, size: u32) {
        self.cons = rsp_cons;
        let n = rsp_prod.wrapping_sub(rsp_cons);
        self.unconsumed = if n > size { 0 } else { n };
    }
}

/// The frontend half of a shared ring: produces requests, consumes responses.
pub(crate) struct FrontRing<Req, Rsp> {
    sring: Sring,
    /// Private request producer (`req_prod_pvt`).
    req_prod_pvt: RingIdx,
    /// Last request producer index written to the shared page.
    req_prod_pub: RingIdx,
    /// Response consumer (`rsp_cons`).
    rsp_cons: RingIdx,
    /// Last validated `rsp_prod`; entries before it may be read.
    rsp_prod_seen: RingIdx,
    _marker: PhantomData<(Req, Rsp)>,
}

// SAFETY: a `FrontRing` is, by the contract of its constructors, the only
// frontend handle to its page; moving it to another thread moves that
// exclusive access along. All shared-memory accesses are volatile and ordered
// by fences, and `Req`/`Rsp` values are only copied in and out.
unsafe impl<Req: Send, Rsp: Send> Send for FrontRing<Req, Rsp> {}

impl<Req: Copy, Rsp: Copy> FrontRing<Req, Rsp> {
    /// Size in bytes of one ring entry.
    pub(crate) const ENTRY_SIZE: usize = entry_size::<Req, Rsp>();
    /// Number of entries (`__CONST_RING_SIZE(.., XEN_PAGE_SIZE)`).
    pub(crate) const SIZE: u32 = const_ring_size(XEN_PAGE_SIZE, Self::ENTRY_SIZE);

    const LAYOUT_OK: () = {
        assert!(Self::SIZE > 0);
        assert!(Self::SIZE.is_power_of_two());
        assert!(SRING_ENTRIES_OFFSET + Self::SIZE as usize * Self::ENTRY_SIZE <= XEN_PAGE_SIZE);
        assert!(core::mem::align_of::<Req>() <= 64);
        assert!(core::mem::align_of::<Rsp>() <= 64);
    };

    /// Initialises the shared ring in `page` and returns its front half
    /// (`XEN_FRONT_RING_INIT`).
    ///
    /// # Safety
    ///
    /// * `page` must point to `XEN_PAGE_SIZE` bytes, aligned to
    ///   `XEN_PAGE_SIZE`, valid for reads and writes for as long as the
    ///   returned ring (or anything built from it, such as a [`RingWatch`])
    ///   is used.
    /// * Apart from the other end of the ring (a backend, possibly in another
    ///   domain, following the ring protocol), nothing else may access the
    ///   page while the ring is in use, and no Rust reference to its memory
    ///   may exist.
    /// * At most one `FrontRing` may exist for a page at a time.
    pub(crate) unsafe fn new(page: NonNull<u8>) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Self::new_at(page, 0) }
    }

    /// Like [`FrontRing::new`], but starts all indices at `start` instead of
    /// 0 (`SHARED_RING_INIT` + `FRONT_RING_ATTACH`). Useful to exercise
    /// index wrap-around.
    ///
    /// # Safety
    ///
    /// Same contract as [`FrontRing::new`].
    pub(crate) unsafe fn new_at(page: NonNull<u8>, start: RingIdx) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::LAYOUT_OK;
        // SAFETY: the caller guarantees the contract of `from_page`.
        let sring = unsafe { Sring::from_page(page) };
        sring.init(start);
        FrontRing {
            sring,
            req_prod_pvt: start,
            req_prod_pub: start,
            rsp_cons: start,
            rsp_prod_seen: start,
            _marker: PhantomData,
        }
    }

    /// Number of entries in the ring (`RING_SIZE`).
    #[cfg(test)]
    pub(crate) fn size(&self) -> u32 {
        Self::SIZE
    }

    /// Private request producer index (`req_prod_pvt`).
    pub(crate) fn req_prod_pvt(&self) -> RingIdx {
        self.req_prod_pvt
    }

    /// Response consumer index (`rsp_cons`).
    pub(crate) fn rsp_cons(&self) -> RingIdx {
        self.rsp_cons
    }

    /// Requests produced (published or not) whose response has not been
    /// consumed yet.
    pub(crate) fn outstanding(&self) -> u32 {
        self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// Number of free request slots (`RING_FREE_REQUESTS`).
    pub(crate) fn free_requests(&self) -> u32 {
        Self::SIZE.saturating_sub(self.outstanding())
    }

    /// Whether no request slot is free (`RING_FULL`).
    pub(crate) fn full(&self) -> bool {
        self.free_requests() == 0
    }

    /// Writes `req` into the next request slot (volatile) and advances
    /// `req_prod_pvt`. The request is not visible to the backend until
    /// [`FrontRing::push_requests`]. Returns the index used.
    pub(crate) fn next_request_slot(&mut self, req: Req) -> Result<RingIdx, RingError> {
        if self.full() {
            return Err(RingError::Full);
        }
        let idx = self.req_prod_pvt;
        let p = self.sring.entry(idx, Self::SIZE, Self::ENTRY_SIZE);
        // SAFETY: `p` is inside the page and aligned for `Req` (the page is
        // page-aligned, the header is 64 bytes and `ENTRY_SIZE` is a multiple
        // of `Req`'s alignment). The slot is free (not full), so the backend
        // does not own it.
        unsafe { ptr::write_volatile(p.cast::<Req>(), req) };
        self.req_prod_pvt = idx.wrapping_add(1);
        Ok(idx)
    }

    /// Publishes the requests written so far and returns whether the backend
    /// must be notified (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    pub(crate) fn push_requests(&mut self) -> bool {
        let old = self.req_prod_pub;
        let new = self.req_prod_pvt;
        // Backend sees requests /before/ the updated producer index.
        fence(Ordering::Release);
        self.sring.write_idx(SRING_REQ_PROD_OFFSET, new);
        self.req_prod_pub = new;
        // Backend sees new requests /before/ we check req_event.
        fence(Ordering::SeqCst);
        let event = self.sring.read_idx(SRING_REQ_EVENT_OFFSET);
        need_notify(old, new, event)
    }

    /// Reads and validates the backend's `rsp_prod`, then returns how many
    /// responses may be consumed (`RING_HAS_UNCONSUMED_RESPONSES` with the
    /// overflow check and read barrier of xen-netfront).
    ///
    /// A producer index claiming more responses than requests were published
    /// is reported as [`RingError::ResponseOverflow`] and not used.
    pub(crate) fn unconsumed_responses(&mut self) -> Result<u32, RingError> {
        let prod = self.sring.read_idx(SRING_RSP_PROD_OFFSET);
        let avail = prod.wrapping_sub(self.rsp_cons);
        let limit = self.req_prod_pub.wrapping_sub(self.rsp_cons);
        if avail > limit {
            return Err(RingError::ResponseOverflow {
                rsp_prod: prod,
                rsp_cons: self.rsp_cons,
                req_prod: self.req_prod_pub,
            });
        }
        // Ensure we see responses up to `prod`.
        fence(Ordering::Acquire);
        self.rsp_prod_seen = prod;
        Ok(avail)
    }

    /// Responses known to be available (validated by the last call to
    /// [`FrontRing::unconsumed_responses`]) and not consumed yet.
    pub(crate) fn pending_responses(&self) -> u32 {
        self.rsp_prod_seen.wrapping_sub(self.rsp_cons)
    }

    /// Copies the next available response out of the shared page (one
    /// volatile read) and advances `rsp_cons`. Returns `None` when no
    /// validated response is pending.
    pub(crate) fn take_response(&mut self) -> Option<Rsp> {
        if self.pending_responses() == 0 {
            return None;
        }
        let idx = self.rsp_cons;
        let p = self.sring.entry(idx, Self::SIZE, Self::ENTRY_SIZE);
        // SAFETY: `p` is inside the page and aligned for `Rsp` (see
        // `next_request_slot`). `rsp_prod_seen` was validated and followed by
        // a read barrier, so the backend has finished writing this slot. The
        // backend may still scribble over it; the volatile copy means we act
        // on a single snapshot.
        let rsp = unsafe { ptr::read_volatile(p.cast::<Rsp>()) };
        self.rsp_cons = idx.wrapping_add(1);
        Some(rsp)
    }

    /// Final check before going idle (`RING_FINAL_CHECK_FOR_RESPONSES`):
    /// returns whether responses are pending; if none, asks to be notified
    /// for the next one (`rsp_event = rsp_cons + 1`) and checks again after
    /// a full barrier.
    pub(crate) fn final_check_for_responses(&mut self) -> Result<bool, RingError> {
        self.final_check_for_responses_ahead(1)
    }

    /// [`FrontRing::final_check_for_responses`] asking to be notified only
    /// once the `ahead`-th next response is there (`rsp_event = rsp_cons +
    /// ahead`, `ahead` at least 1). With more than one, the caller must not
    /// depend on an event before that many requests are in flight.
    pub(crate) fn final_check_for_responses_ahead(
        &mut self,
        ahead: u32,
    ) -> Result<bool, RingError> {
        if self.unconsumed_responses()? != 0 {
            return Ok(true);
        }
        let ahead = ahead.max(1);
        self.sring
            .write_idx(SRING_RSP_EVENT_OFFSET, self.rsp_cons.wrapping_add(ahead));
        fence(Ordering::SeqCst);
        Ok(self.unconsumed_responses()? != 0)
    }

    /// Requests published to the backend and not answered yet.
    pub(crate) fn in_flight(&self) -> u32 {
        self.req_prod_pub.wrapping_sub(self.rsp_cons)
    }

    /// A read-only view of the backend's response producer, for code that
    /// cannot borrow the ring (see [`RingWatch`]).
    pub(crate) fn watch(&self) -> RingWatch {
        RingWatch { sring: self.sring }
    }

    /// Reads the four shared indices.
    #[cfg(test)]
    pub(crate) fn shared_indices(&self) -> SharedIndices {
        read_indices(&self.sring)
    }
}

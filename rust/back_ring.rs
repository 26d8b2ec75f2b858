// SPDX-License-Identifier: GPL-2.0

//! The backend half of a Xen shared ring (`io/ring.h`): consumes requests,
//! produces responses, with the same volatile accesses and fences as the
//! front half in `ring.rs`.
//!
//! The driver never uses it, and the kernel module does not compile this
//! file: it serves the simulated backend of the host tests (`tests/host`)
//! and the userspace lab backend (`tests/backend`), which serves a real
//! frontend from dom0.
//!
//! This file only depends on `core`, `crate::netif` and `crate::ring`.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{fence, Ordering};

use crate::netif::{
    const_ring_size, RingIdx, SRING_ENTRIES_OFFSET, SRING_REQ_EVENT_OFFSET, SRING_REQ_PROD_OFFSET,
    SRING_RSP_EVENT_OFFSET, SRING_RSP_PROD_OFFSET, XEN_PAGE_SIZE,
};
use crate::ring::{entry_size, need_notify, Sring};
#[cfg(test)]
use crate::ring::{read_indices, SharedIndices};

/// Errors detected by the backend half of a shared ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BackRingError {
    /// The frontend's `req_prod` claims more requests than fit in the ring
    /// (`RING_REQUEST_PROD_OVERFLOW`).
    RequestOverflow {
        /// The `req_prod` value read from the shared page.
        req_prod: RingIdx,
        /// Our request consumer index.
        req_cons: RingIdx,
        /// Our private response producer index.
        rsp_prod: RingIdx,
    },
    /// A response was produced without a consumed request to answer.
    NoRequestToAnswer,
}

impl fmt::Display for BackRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BackRingError::RequestOverflow {
                req_prod,
                req_cons,
                rsp_prod,
            } => write!(
                f,
                "frontend req_prod {} claims {} requests, more than the ring holds (req_cons {}, rsp_prod {})",
                req_prod,
                req_prod.wrapping_sub(rsp_prod),
                req_cons,
                rsp_prod
            ),
            BackRingError::NoRequestToAnswer => {
                write!(f, "response produced without a consumed request")
            }
        }
    }
}

/// The backend half of a shared ring: consumes requests, produces responses.
///
/// The driver itself never uses this; it exists for the simulated backends
/// of the tests.
pub(crate) struct BackRing<Req, Rsp> {
    sring: Sring,
    /// Private response producer (`rsp_prod_pvt`).
    rsp_prod_pvt: RingIdx,
    /// Last response producer index written to the shared page.
    rsp_prod_pub: RingIdx,
    /// Request consumer (`req_cons`).
    req_cons: RingIdx,
    /// Last validated `req_prod`.
    req_prod_seen: RingIdx,
    _marker: PhantomData<(Req, Rsp)>,
}

// SAFETY: same reasoning as for `FrontRing`: exclusive backend handle,
// volatile accesses only.
unsafe impl<Req: Send, Rsp: Send> Send for BackRing<Req, Rsp> {}

impl<Req: Copy, Rsp: Copy> BackRing<Req, Rsp> {
    /// Size in bytes of one ring entry.
    pub(crate) const ENTRY_SIZE: usize = entry_size::<Req, Rsp>();
    /// Number of entries.
    pub(crate) const SIZE: u32 = const_ring_size(XEN_PAGE_SIZE, Self::ENTRY_SIZE);

    const LAYOUT_OK: () = {
        assert!(Self::SIZE > 0);
        assert!(Self::SIZE.is_power_of_two());
        assert!(SRING_ENTRIES_OFFSET + Self::SIZE as usize * Self::ENTRY_SIZE <= XEN_PAGE_SIZE);
    };

    /// Attaches to a shared ring already initialised by the frontend, with
    /// private indices starting at `start` (`BACK_RING_ATTACH`).
    ///
    /// # Safety
    ///
    /// Same contract as [`FrontRing::new`], with "frontend" and "backend"
    /// swapped: `page` must be a valid, page-aligned, writable page that
    /// outlives the ring, accessed otherwise only by the frontend, and at
    /// most one `BackRing` may exist for it.
    pub(crate) unsafe fn attach(page: NonNull<u8>, start: RingIdx) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::LAYOUT_OK;
        BackRing {
            // SAFETY: the caller guarantees the contract of `from_page`.
            sring: unsafe { Sring::from_page(page) },
            rsp_prod_pvt: start,
            rsp_prod_pub: start,
            req_cons: start,
            req_prod_seen: start,
            _marker: PhantomData,
        }
    }

    /// Number of entries in the ring.
    pub(crate) fn size(&self) -> u32 {
        Self::SIZE
    }

    /// Request consumer index (`req_cons`).
    pub(crate) fn req_cons(&self) -> RingIdx {
        self.req_cons
    }

    /// Private response producer index (`rsp_prod_pvt`).
    pub(crate) fn rsp_prod_pvt(&self) -> RingIdx {
        self.rsp_prod_pvt
    }

    /// Reads and validates the frontend's `req_prod`
    /// (`RING_REQUEST_PROD_OVERFLOW`), then returns the number of requests
    /// that may be consumed (`XEN_RING_NR_UNCONSUMED_REQUESTS`).
    pub(crate) fn unconsumed_requests(&mut self) -> Result<u32, BackRingError> {
        let prod = self.sring.read_idx(SRING_REQ_PROD_OFFSET);
        if prod.wrapping_sub(self.rsp_prod_pvt) > Self::SIZE
            || prod.wrapping_sub(self.req_cons) > Self::SIZE
        {
            return Err(BackRingError::RequestOverflow {
                req_prod: prod,
                req_cons: self.req_cons,
                rsp_prod: self.rsp_prod_pvt,
            });
        }
        fence(Ordering::Acquire);
        self.req_prod_seen = prod;
        Ok(self.pending_requests())
    }

    /// Requests validated by the last [`BackRing::unconsumed_requests`] and
    /// not consumed yet, bounded by the free response space.
    pub(crate) fn pending_requests(&self) -> u32 {
        let req = self.req_prod_seen.wrapping_sub(self.req_cons);
        let rsp = Self::SIZE.saturating_sub(self.req_cons.wrapping_sub(self.rsp_prod_pvt));
        if req < rsp {
            req
        } else {
            rsp
        }
    }

    /// Copies the next request out of the page and advances `req_cons`.
    pub(crate) fn take_request(&mut self) -> Option<Req> {
        if self.pending_requests() == 0 {
            return None;
        }
        let idx = self.req_cons;
        let p = self.sring.entry(idx, Self::SIZE, Self::ENTRY_SIZE);
        // SAFETY: in-bounds and aligned (see `FrontRing::next_request_slot`);
        // the request was published before the validated `req_prod`.
        let req = unsafe { ptr::read_volatile(p.cast::<Req>()) };
        self.req_cons = idx.wrapping_add(1);
        Some(req)
    }

    /// Writes `rsp` into the next response slot and advances `rsp_prod_pvt`.
    /// Fails if every consumed request has already been answered.
    pub(crate) fn next_response_slot(&mut self, rsp: Rsp) -> Result<RingIdx, BackRingError> {
        if self.req_cons.wrapping_sub(self.rsp_prod_pvt) == 0 {
            return Err(BackRingError::NoRequestToAnswer);
        }
        let idx = self.rsp_prod_pvt;
        let p = self.sring.entry(idx, Self::SIZE, Self::ENTRY_SIZE);
        // SAFETY: in-bounds and aligned; the slot belongs to a request we
        // already consumed, so the frontend does not touch it.
        unsafe { ptr::write_volatile(p.cast::<Rsp>(), rsp) };
        self.rsp_prod_pvt = idx.wrapping_add(1);
        Ok(idx)
    }

    /// Publishes responses and returns whether the frontend must be notified
    /// (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`).
    pub(crate) fn push_responses(&mut self) -> bool {
        let old = self.rsp_prod_pub;
        let new = self.rsp_prod_pvt;
        fence(Ordering::Release);
        self.sring.write_idx(SRING_RSP_PROD_OFFSET, new);
        self.rsp_prod_pub = new;
        fence(Ordering::SeqCst);
        let event = self.sring.read_idx(SRING_RSP_EVENT_OFFSET);
        need_notify(old, new, event)
    }

    /// Batched variant of [`BackRing::final_check_for_requests`]: returns
    /// whether at least `n` requests are available; if not, asks to be
    /// notified once they are (`req_event = req_cons + n`) and checks again
    /// after a full barrier.
    pub(crate) fn wait_for_requests(&mut self, n: u32) -> Result<bool, BackRingError> {
        if self.unconsumed_requests()? >= n {
            return Ok(true);
        }
        self.sring
            .write_idx(SRING_REQ_EVENT_OFFSET, self.req_cons.wrapping_add(n));
        fence(Ordering::SeqCst);
        Ok(self.unconsumed_requests()? >= n)
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`.
    pub(crate) fn final_check_for_requests(&mut self) -> Result<bool, BackRingError> {
        if self.unconsumed_requests()? != 0 {
            return Ok(true);
        }
        self.sring
            .write_idx(SRING_REQ_EVENT_OFFSET, self.req_cons.wrapping_add(1));
        fence(Ordering::SeqCst);
        Ok(self.unconsumed_requests()? != 0)
    }

    /// Reads the four shared indices.
    #[cfg(test)]
    pub(crate) fn shared_indices(&self) -> SharedIndices {
        read_indices(&self.sring)
    }
}

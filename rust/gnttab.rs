// SPDX-License-Identifier: GPL-2.0

//! The grant table: the one place where the driver grants the backend
//! access to guest pages and ends that access.
//!
//! Three kinds of pages are shared with the backend: the two shared ring
//! pages of each queue ([`RingPage`]), the RX buffer pages (write access)
//! and the pages under a transmitted packet (read access). The references
//! for the buffers are claimed once per connection ([`claim`]) and handed
//! out per packet by the kernel-independent [`crate::grant::GrantPool`];
//! this module only makes the hypervisor-visible calls.

use core::ffi::{c_int, c_void};
use core::ptr::NonNull;

use kernel::prelude::*;

use crate::netif::GrantRef;
use crate::sys;
use crate::xenbus::XenbusDevice;

/// A guest frame number, as the grant table takes it.
pub(crate) type Gfn = kernel::ffi::c_ulong;

/// Claims `refs.len()` grant references into `refs`.
pub(crate) fn claim(refs: &mut [GrantRef]) -> Result {
    let mut head: GrantRef = 0;
    let n = u16::try_from(refs.len()).map_err(|_| EINVAL)?;
    // SAFETY: reserves `n` references into `head`.
    kernel::error::to_result(unsafe { sys::gnttab_alloc_grant_references(n, &mut head) })?;
    for r in refs.iter_mut() {
        // SAFETY: `head` holds `n` references, one claimed per iteration.
        *r = unsafe { sys::gnttab_claim_grant_reference(&mut head) } as GrantRef;
    }
    Ok(())
}

/// Gives references claimed by [`claim`] back to the grant table.
///
/// The backend must have no access through any of them (every grant ended
/// with [`end_access`], which returned `true`).
pub(crate) fn release(refs: &[GrantRef]) {
    for &r in refs {
        // SAFETY: `r` was claimed by `claim` and is no longer granted
        // (caller).
        unsafe { sys::gnttab_free_grant_reference(r) };
    }
}

/// Grants backend domain `domid` access to frame `gfn` through `gref`
/// (read-only when `readonly`).
///
/// The frame must stay allocated until [`end_access`] on `gref` returns
/// `true`.
pub(crate) fn grant_access(gref: GrantRef, domid: u16, gfn: Gfn, readonly: bool) {
    // SAFETY: `gref` is a claimed reference not granted elsewhere (the
    // grant pool hands each out once); the caller keeps the frame alive
    // until access ended.
    unsafe { sys::gnttab_grant_foreign_access_ref(gref, domid, gfn, c_int::from(readonly)) };
}

/// Ends the backend's access through `gref`. `false`: the backend still
/// maps the page, which must then never be reused or freed.
pub(crate) fn end_access(gref: GrantRef) -> bool {
    // SAFETY: `gref` is one of our claimed references.
    unsafe { sys::gnttab_end_foreign_access_ref(gref) != 0 }
}

/// The frame number of a page of ours.
pub(crate) fn page_gfn(page: *mut sys::page) -> Gfn {
    // SAFETY: `page` is a live page we allocated.
    unsafe { sys::xpn_page_to_gfn(page) }
}

/// One shared ring page: allocated, zeroed and granted to the backend by
/// [`RingPage::setup`], access ended and page released by
/// [`RingPage::teardown`].
pub(crate) struct RingPage {
    addr: *mut c_void,
    gref: GrantRef,
}

impl RingPage {
    /// No page.
    pub(crate) const EMPTY: Self = RingPage {
        addr: core::ptr::null_mut(),
        gref: 0,
    };

    /// Allocates a ring page for `xb` and grants it to the backend
    /// (`xenbus_setup_ring`). Replaces `self`, which must be empty.
    pub(crate) fn setup(&mut self, xb: XenbusDevice) -> Result<NonNull<u8>> {
        // SAFETY: `xb` is live; the outputs are ours.
        kernel::error::to_result(unsafe {
            sys::xenbus_setup_ring(
                xb.raw(),
                sys::XPN_GFP_RING,
                &mut self.addr,
                1,
                &mut self.gref,
            )
        })?;
        NonNull::new(self.addr.cast::<u8>()).ok_or(ENOMEM)
    }

    /// The grant reference the backend maps the page with.
    pub(crate) fn gref(&self) -> GrantRef {
        self.gref
    }

    /// Ends the backend's access and releases the page and its grant
    /// reference. A page the backend still maps goes to the grant table,
    /// which frees it once the backend lets go (never while mapped, unlike
    /// `xenbus_teardown_ring`). Nothing may use the ring afterwards.
    pub(crate) fn teardown(&mut self) -> RingRelease {
        if self.addr.is_null() {
            return RingRelease::Empty;
        }
        // SAFETY: set up by `xenbus_setup_ring` (one page from
        // `alloc_pages_exact`, granted through `gref`); nothing uses the
        // ring any more (caller), and the page is not touched after.
        let freed = unsafe { sys::xpn_ring_page_release(self.gref, self.addr) };
        *self = Self::EMPTY;
        if freed {
            RingRelease::Freed
        } else {
            RingRelease::Deferred
        }
    }
}

/// What [`RingPage::teardown`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingRelease {
    /// There was no page.
    Empty,
    /// Access ended, page and reference freed.
    Freed,
    /// The backend still maps the page: the grant table frees it later.
    Deferred,
}

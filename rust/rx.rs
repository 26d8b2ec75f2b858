// SPDX-License-Identifier: GPL-2.0

//! The RX path: the RX interrupt schedules NAPI; the NAPI poll consumes the
//! validated packets of the kernel-independent [`crate::rx_queue::RxQueue`],
//! ends the backend's access to their pages, builds skbs (small packets
//! copied, larger ones with their pages attached as fragments) and hands
//! them to the stack, then refills the ring with granted pages.

use core::ffi::c_int;
use core::mem::offset_of;

use crate::gnttab;
use crate::grant::GrantPool;
use crate::held;
use crate::netdev::Broken;
use crate::netif::{RX_COPY_THRESHOLD, XEN_NETIF_GSO_TYPE_NONE};
use crate::netqueue::Queue;
use crate::queue::{QueueError, RX_RING_SIZE};
use crate::rx_queue::{rx_frame_fits, RxEvent, RxPacket, RxQueue};
use crate::stats::Counter;
use crate::sys;

/// Delay before retrying an RX refill that ran out of pages (HZ/10 in
/// xen-netfront).
const RX_REFILL_RETRY_MS: u32 = 100;

/// Ethernet header length: shorter received frames are errors.
const ETH_HLEN: u32 = 14;

/// An RX buffer page (owned by the RX ring while posted).
#[derive(Clone, Copy)]
pub(crate) struct Page(pub(crate) *mut sys::page);

/// Pages taken back from the RX ring, reused for refills (NAPI-owned).
pub(crate) struct PageStash {
    pages: [*mut sys::page; RX_RING_SIZE],
    len: usize,
}

impl PageStash {
    /// Keeps `page` for reuse, or frees it when the stash is full (then
    /// returns `false`).
    pub(crate) fn put(&mut self, page: *mut sys::page) -> bool {
        match self.pages.get_mut(self.len) {
            Some(slot) => {
                *slot = page;
                self.len += 1;
                true
            }
            None => {
                // SAFETY: the page is ours and no longer granted.
                unsafe { sys::xpn_free_page(page) };
                false
            }
        }
    }

    fn take(&mut self) -> Option<*mut sys::page> {
        self.len = self.len.checked_sub(1)?;
        self.pages.get(self.len).copied()
    }

    /// Frees every stashed page; returns how many.
    pub(crate) fn free_all(&mut self) -> usize {
        let mut n = 0;
        while let Some(p) = self.take() {
            // SAFETY: stashed pages are ours and not granted.
            unsafe { sys::xpn_free_page(p) };
            n += 1;
        }
        n
    }
}

impl Queue {
    /// Keeps a page of ours for reuse (or frees it).
    pub(crate) fn put_page(&self, stash: &mut PageStash, page: *mut sys::page) {
        if !stash.put(page) {
            self.account(Counter::Pages, -1);
        }
    }

    /// RX events from the interrupt: schedules NAPI if the event brought
    /// responses no earlier event showed. Returns whether it did (an event
    /// with nothing new is spurious, however many responses still wait for
    /// a busy or disabled NAPI: Xen then throttles the event channel).
    pub(crate) fn rx_interrupt(&self) -> bool {
        let seen = {
            let mut g = self.rx_gate.lock();
            let Some(watch) = g.watch else {
                return false;
            };
            g.gate.on_event(watch.rsp_prod(), RX_RING_SIZE as u32)
        };
        match seen {
            Ok(true) => {
                // SAFETY: NAPI was added in `Queue::init`.
                unsafe { sys::xpn_napi_schedule(self.napi_ptr()) };
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.dev().set_broken(Broken::Queue("rx", self.index, &e));
                false
            }
        }
    }

    /// Handles one received packet: hands it to the stack (small packets
    /// copied, larger ones with their pages attached) and takes the pages
    /// of copied packets back for reuse.
    fn rx_packet(
        &self,
        pkt: &RxPacket<Page>,
        pool: &mut GrantPool<RX_RING_SIZE>,
        stash: &mut PageStash,
    ) {
        let d = self.dev();
        // End the backend's access first: a page it keeps is never read,
        // reused or freed.
        let mut all_ended = true;
        for f in pkt.frags() {
            if d.end_access(f.grant.gref()) {
                if let Err(e) = pool.free(f.grant) {
                    d.set_broken(Broken::Queue("rx grant", self.index, &e));
                }
            } else {
                all_ended = false;
                self.stats.inc(Counter::PagesLeaked);
            }
        }
        if !all_ended {
            // None of the packet's pages is reused or freed any more.
            held::keep_pages(pkt.nfrags());
            return;
        }
        let len = pkt.len();
        let recycle = |stash: &mut PageStash| {
            for f in pkt.frags() {
                self.put_page(stash, f.token.0);
            }
        };
        if len < ETH_HLEN {
            // Not even an Ethernet header.
            self.stats.inc(Counter::RxErrors);
            recycle(stash);
            return;
        }
        let gso = pkt.gso();
        // SAFETY: `d.netdev()` is our registered net_device.
        let mtu = unsafe { sys::xpn_netdev_mtu(d.netdev()) };
        if !rx_frame_fits(len, mtu, gso.is_some()) {
            // Longer than the MTU allows, and not GSO.
            self.stats.inc(Counter::RxErrors);
            recycle(stash);
            return;
        }
        // SAFETY: trivial accessor.
        let max_frags = unsafe { sys::xpn_skb_max_frags() } as usize;
        let copy = len <= RX_COPY_THRESHOLD || pkt.nfrags() > max_frags;
        let napi = self.napi_ptr();
        // SAFETY: NAPI context; `len` is at most 64 KiB (validated).
        let skb =
            unsafe { sys::xpn_rx_skb_alloc(napi, if copy { len } else { RX_COPY_THRESHOLD }) };
        if skb.is_null() {
            self.stats.inc(Counter::RxDrops);
            recycle(stash);
            return;
        }
        for f in pkt.frags() {
            // SAFETY: the page is ours (access ended) and `offset + len` lies
            // within it (validated by the queue).
            unsafe {
                if copy {
                    let base = sys::xpn_page_address(f.token.0).cast::<u8>();
                    sys::xpn_skb_put_data(
                        skb,
                        base.add(usize::from(f.offset)).cast(),
                        f.len.into(),
                    );
                } else {
                    sys::xpn_skb_add_rx_frag(skb, f.token.0, f.offset.into(), f.len.into());
                    // The skb owns the page now.
                    self.account(Counter::Pages, -1);
                }
            }
        }
        if copy {
            recycle(stash);
        }
        if gso.is_some() {
            self.stats.inc(Counter::RxGso);
        }
        // A GSO packet gets a partial checksum set up even when the backend
        // forgot `csum_blank` (the stack requires CHECKSUM_PARTIAL for GSO).
        if pkt.csum_blank() || gso.is_some() {
            self.stats.inc(Counter::RxCsumFixups);
        }
        let (gso_size, gso_type) =
            gso.map_or((0, XEN_NETIF_GSO_TYPE_NONE), |g| (g.size, g.gso_type));
        // SAFETY: `skb` is a complete frame we own; consumed by the call.
        let r = unsafe {
            sys::xpn_rx_deliver(
                napi,
                d.netdev(),
                skb,
                len.min(RX_COPY_THRESHOLD),
                pkt.csum_blank(),
                pkt.data_validated(),
                gso_size,
                gso_type,
            )
        };
        if r == 0 {
            self.stats.inc(Counter::RxPackets);
            self.stats.add(Counter::RxBytes, len.into());
        } else {
            self.stats.inc(Counter::RxErrors);
        }
    }

    /// Posts RX buffers into every free slot; notifies the backend if needed.
    /// When pages ran out, NAPI is scheduled again from a timer
    /// (`RX_REFILL_RETRY_MS`) to try again, as in xen-netfront: without
    /// buffers the backend has nothing to answer and no interrupt would
    /// come.
    pub(crate) fn rx_refill(&self, rx: &mut RxQueue<Page>, stash: &mut PageStash) {
        let domid = self.dev().xb().otherend_id();
        let fill = rx.fill(|grant| {
            let page = match stash.take() {
                Some(p) => p,
                None => {
                    // SAFETY: plain page allocation.
                    let p = unsafe { sys::xpn_alloc_page() };
                    if !p.is_null() {
                        self.account(Counter::Pages, 1);
                    }
                    p
                }
            };
            if page.is_null() {
                return None;
            }
            // The page stays allocated until the grant is ended.
            gnttab::grant_access(grant.gref(), domid, gnttab::page_gfn(page), false);
            Some(Page(page))
        });
        match fill {
            Ok(f) => {
                if f.notify {
                    self.notify(true);
                }
                if f.retry {
                    self.stats.inc(Counter::RxRefillRetries);
                    // SAFETY: set up in `Queue::init`.
                    unsafe { sys::xpn_timer_arm(self.timer_ptr(), RX_REFILL_RETRY_MS) };
                }
            }
            Err(e) => self.set_broken("rx", &e),
        }
    }
}

/// The RX refill timer: NAPI retries refilling the ring.
pub(crate) unsafe extern "C" fn refill_timer(t: *mut sys::timer_list) {
    // SAFETY: `t` is the `refill_timer` field of a `Queue` (the only
    // timers we set up).
    let q = unsafe {
        &*t.cast::<u8>()
            .sub(offset_of!(Queue, refill_timer))
            .cast::<Queue>()
    };
    if q.dev().is_connected() {
        // SAFETY: NAPI was added in `Queue::init`; scheduling a disabled
        // NAPI context does nothing.
        unsafe { sys::xpn_napi_schedule(q.napi_ptr()) };
    }
}

pub(crate) unsafe extern "C" fn napi_poll(napi: *mut sys::napi_struct, budget: c_int) -> c_int {
    // SAFETY: `napi` is the field of a `Queue` (we only add those).
    let q = unsafe {
        &*napi
            .cast::<u8>()
            .sub(offset_of!(Queue, napi))
            .cast::<Queue>()
    };
    let budget = budget.max(0) as usize;
    if !q.dev().is_running() {
        // SAFETY: we are the NAPI poller.
        unsafe { sys::napi_complete_done(napi, 0) };
        return 0;
    }
    // SAFETY: NAPI serialises polls; connect/teardown do not run while NAPI
    // is enabled, so the RX state of this queue is ours.
    let (rx, stash) = unsafe { ((*q.rx.get()).assume_init_mut(), &mut *q.stash.get()) };
    let res = rx.poll(budget, |ev, pool| match ev {
        RxEvent::Packet(pkt) => q.rx_packet(&pkt, pool, stash),
        // The backend reported an error for this packet: count it.
        RxEvent::Dropped(QueueError::ErrorStatus { .. }) => q.stats.inc(Counter::RxErrors),
        // The backend wrote something invalid.
        RxEvent::Dropped(e) => q.set_broken("rx", &e),
    });
    let work = match res {
        Ok(p) => p.work(),
        Err(e) => {
            q.set_broken("rx", &e);
            // SAFETY: we are the NAPI poller.
            unsafe { sys::napi_complete_done(napi, 0) };
            return 0;
        }
    };
    q.rx_refill(rx, stash);
    {
        let mut g = q.rx_gate.lock();
        if let Some(watch) = g.watch {
            g.gate
                .on_consumed(rx.ring().rsp_cons(), watch.rsp_prod(), RX_RING_SIZE as u32);
        }
    }
    if work < budget {
        match rx.final_check() {
            // More arrived: stay scheduled.
            Ok(true) => return budget as c_int,
            Ok(false) => {}
            Err(e) => q.set_broken("rx", &e),
        }
        // SAFETY: we are the NAPI poller.
        unsafe { sys::napi_complete_done(napi, work as c_int) };
    }
    work as c_int
}

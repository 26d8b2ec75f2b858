// SPDX-License-Identifier: GPL-2.0

//! The TX path: `ndo_start_xmit` lays a packet out in page-bounded pieces,
//! grants the backend read access to them and posts them on the queue's TX
//! ring; completions (from the TX interrupt only) end that access and free
//! the skb. The slot, id and grant bookkeeping is the
//! kernel-independent [`crate::tx_queue::TxQueue`], behind the queue's TX
//! lock ([`TxSlot`]).

use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::ptr;

use crate::gnttab::{self, Gfn};
use crate::grant::GrantPool;
use crate::netdev::{Broken, Device};
use crate::netif::GrantRef;
use crate::netif::{ExtraInfo, XEN_NETIF_MAX_TX_SIZE, XEN_PAGE_SIZE};
use crate::netqueue::Queue;
use crate::queue::{QueueError, TX_RING_SIZE};
use crate::stats::Counter;
use crate::sys;
use crate::tx_queue::{tx_csum_flags, TxCompletion, TxLayout, TxQueue, TxReservation, TxStatus};

/// A transmitted packet (owned by the TX ring until completed).
#[derive(Clone, Copy)]
pub(crate) struct Skb(*mut sys::sk_buff);

/// The span number of an skb's linear head in a [`TxLayout`]; fragment `i`
/// is span `i + 1`.
const HEAD_SPAN: u8 = 0;

/// One TX bounce page (untrusted backend): a zeroed page granted
/// read-only to the backend through `gref` for the whole connection, so
/// that it only ever holds packet data. All-zero: no page.
#[derive(Clone, Copy)]
pub(crate) struct BouncePage {
    pub(crate) gref: GrantRef,
    pub(crate) page: *mut sys::page,
    pub(crate) addr: *mut u8,
}

impl BouncePage {
    pub(crate) const EMPTY: Self = BouncePage {
        gref: 0,
        page: ptr::null_mut(),
        addr: ptr::null_mut(),
    };
}

/// A queue's TX state, behind its TX lock ([`Queue::tx`]): the
/// bookkeeping of the current connection, if there is one.
pub(crate) struct TxSlot {
    /// `q` is initialised (from connect until teardown).
    pub(crate) ready: bool,
    pub(crate) q: MaybeUninit<TxQueue<Skb>>,
    /// Packets are copied into `bounce` (the pages of the grant pool's
    /// references, by slot) instead of granting their own pages.
    pub(crate) bounce_on: bool,
    pub(crate) bounce: [BouncePage; TX_RING_SIZE],
}

impl TxSlot {
    /// The TX queue and, when packets are copied, the bounce pages.
    #[allow(clippy::type_complexity)]
    fn parts(&mut self) -> Option<(&mut TxQueue<Skb>, Option<&[BouncePage; TX_RING_SIZE]>)> {
        if !self.ready {
            return None;
        }
        let bounce = self.bounce_on.then_some(&self.bounce);
        // SAFETY: as in `queue`.
        Some((unsafe { self.q.assume_init_mut() }, bounce))
    }

    /// The TX queue of the current connection; `None` when not connected.
    pub(crate) fn queue(&mut self) -> Option<&mut TxQueue<Skb>> {
        if self.ready {
            // SAFETY: `ready` is set only after `TxQueue::init` wrote `q`,
            // and cleared at teardown (both under the TX lock).
            Some(unsafe { self.q.assume_init_mut() })
        } else {
            None
        }
    }
}

/// The guard of a queue's TX lock.
pub(crate) type TxGuard<'a> = sys::IrqGuard<'a, TxSlot>;

impl Queue {
    pub(crate) fn lock_tx(&self) -> TxGuard<'_> {
        self.tx.lock()
    }

    /// Handles TX completions (called with the TX lock held). Returns the
    /// number of completed slots.
    fn tx_gc(&self, tx: &mut TxQueue<Skb>) -> usize {
        let done = tx.poll(|c: TxCompletion<Skb>, pool: &mut GrantPool<TX_RING_SIZE>| {
            self.complete_tx(c, pool)
        });
        match done {
            Ok(n) => n,
            Err(e) => {
                self.set_broken("tx", &e);
                0
            }
        }
    }

    /// One completed (or, at teardown, released) TX piece: ends the
    /// backend's access, returns the grant and frees the skb after its last
    /// piece.
    pub(crate) fn complete_tx(&self, c: TxCompletion<Skb>, pool: &mut GrantPool<TX_RING_SIZE>) {
        let d = self.dev();
        if c.token.0.is_null() {
            // A copied packet: its grant stays with its bounce page for the
            // connection, and the skb was freed when it was copied.
            if let Err(e) = pool.free(c.grant) {
                d.set_broken(Broken::Queue("tx grant", self.index, &e));
            }
            if matches!(c.packet_done, Some(s) if s != TxStatus::Okay) {
                self.stats.inc(Counter::TxErrors);
            }
            return;
        }
        if d.end_access(c.grant.gref()) {
            if let Err(e) = pool.free(c.grant) {
                d.set_broken(Broken::Queue("tx grant", self.index, &e));
            }
        } else {
            self.stats.inc(Counter::PagesLeaked);
        }
        if d.grant_stuck() {
            // The backend may still read this skb's pages: leak it.
            return;
        }
        if let Some(status) = c.packet_done {
            // SAFETY: the skb was handed to the ring in `xmit` and the ring
            // is done with it: this is its last piece.
            unsafe {
                if status == TxStatus::Okay {
                    sys::xpn_consume_skb_any(c.token.0);
                } else {
                    self.stats.inc(Counter::TxErrors);
                    sys::xpn_kfree_skb_any(c.token.0);
                }
            }
        }
    }

    /// TX completions from the interrupt; wakes the stopped TX queue.
    /// Returns whether there was work.
    pub(crate) fn tx_interrupt(&self) -> bool {
        let d = self.dev();
        let mut g = self.lock_tx();
        let Some(tx) = g.queue() else {
            return false;
        };
        let work = self.tx_gc(tx) > 0;
        // SAFETY: our live net_device; `index` is below its TX queues.
        let stopped = unsafe { sys::xpn_txq_stopped(d.netdev(), self.index as u32) };
        if tx.can_wake() && d.is_running() && stopped {
            self.stats.inc(Counter::TxWakes);
            // SAFETY: as above.
            unsafe { sys::xpn_txq_wake(d.netdev(), self.index as u32) };
        }
        work
    }

    /// A packet found no room: the ring (or its ids or grants) is full, so
    /// the queue stops until completions free some (they wake it); any
    /// other reason concerns this packet alone, which is dropped, and the
    /// queue goes on.
    fn reserve_failed(&self, e: &QueueError) {
        if matches!(
            e,
            QueueError::RingFull { .. } | QueueError::NoIds | QueueError::NoGrants
        ) {
            self.stop_txq();
        }
    }

    fn stop_txq(&self) {
        self.stats.inc(Counter::TxStops);
        // SAFETY: the device's net_device is alive.
        unsafe { sys::xpn_txq_stop(self.dev().netdev(), self.index as u32) };
    }

    /// Copies `skb` (`len` bytes) into the bounce pages of the grants its
    /// pieces get and posts it (untrusted backend); the skb is freed at
    /// once. `Err`: the caller drops the skb.
    fn xmit_copy(&self, skb: *mut sys::sk_buff, len: usize) -> Result<(), ()> {
        let (flags, extra) = self.tx_meta(skb)?;
        // The packet as one run of bytes, cut into pages (at most 16).
        let mut layout = TxLayout::new();
        if !layout.add_span(HEAD_SPAN, 0, len) {
            return Err(());
        }
        let d = self.dev();
        let mut g = self.lock_tx();
        let Some((tx, Some(bounce))) = g.parts().filter(|_| d.is_running()) else {
            return Err(());
        };
        let res = match tx.reserve(layout.pieces(), flags, extra) {
            Ok(res) => res,
            Err(e) => {
                self.reserve_failed(&e);
                return Err(());
            }
        };
        let mut at = 0usize;
        for (i, piece) in layout.pieces().iter().enumerate() {
            let Some(grant) = res.grant(i) else {
                continue;
            };
            let b = bounce
                .get(grant.slot())
                .copied()
                .unwrap_or(BouncePage::EMPTY);
            if b.addr.is_null() || b.gref != grant.gref() {
                // Cannot happen: every reference of the pool has its page.
                let _ = tx.cancel(res);
                return Err(());
            }
            // SAFETY: `b.addr` is a whole page of ours; the piece is at
            // most a page; `at + len` lies within the skb.
            let r = unsafe {
                sys::xpn_skb_copy_bits(skb, at as u32, b.addr.cast(), u32::from(piece.len))
            };
            if r != 0 {
                let _ = tx.cancel(res);
                return Err(());
            }
            at += usize::from(piece.len);
        }
        // A failed post broke the device; the caller drops the copied skb.
        self.post_and_kick(g, res, Skb(ptr::null_mut()), len)
            .map_err(|_| ())?;
        // SAFETY: we own `skb`; its data was copied.
        unsafe { sys::xpn_consume_skb_any(skb) };
        Ok(())
    }

    /// The checksum flags and GSO extra-info slot of `skb`; `Err` for a GSO
    /// type the protocol cannot carry.
    fn tx_meta(&self, skb: *mut sys::sk_buff) -> Result<(u16, Option<ExtraInfo>), ()> {
        // SAFETY: we own `skb`.
        let flags = tx_csum_flags(unsafe { sys::xpn_skb_ip_summed(skb) });
        let mut gso_size = 0u16;
        // SAFETY: we own `skb`.
        let extra = match unsafe { sys::xpn_skb_gso(skb, &mut gso_size) } {
            0 => None,
            t @ 1..=2 if gso_size > 0 => {
                self.stats.inc(Counter::TxGso);
                Some(ExtraInfo::new_gso(gso_size, t as u8, false))
            }
            // A GSO type the protocol cannot carry (the stack segments those
            // itself: we never advertise them).
            _ => return Err(()),
        };
        Ok((flags, extra))
    }

    /// Posts `skb` (laid out in `layout`, `len` bytes) on the ring. `Err`:
    /// the caller drops the skb.
    fn xmit(&self, skb: *mut sys::sk_buff, layout: &TxLayout, len: usize) -> Result<(), ()> {
        let (flags, extra) = self.tx_meta(skb)?;
        let d = self.dev();
        let domid = d.xb().otherend_id();
        let mut g = self.lock_tx();
        // Checked again under the lock: teardown takes it to release the
        // queue, after disabling transmit.
        let Some(tx) = g.queue().filter(|_| d.is_running()) else {
            return Err(());
        };
        let res = match tx.reserve(layout.pieces(), flags, extra) {
            Ok(res) => res,
            Err(e) => {
                self.reserve_failed(&e);
                return Err(());
            }
        };
        for i in 0..res.pieces() {
            // SAFETY: `skb` is ours and unchanged since the layout was built.
            let (Some(gref), Some(gfn)) = (res.gref(i), unsafe { piece_gfn(skb, layout, i) })
            else {
                continue;
            };
            // The skb stays alive until the completion frees it.
            gnttab::grant_access(gref, domid, gfn, true);
        }
        // After a failed post the ring may hold some of the skb's pieces:
        // not ours to free.
        let _ = self.post_and_kick(g, res, Skb(skb), len);
        Ok(())
    }

    /// Posts the reserved packet `res` with `token` (`len` bytes, TX lock
    /// `g` held), publishes it, stops the TX queue if the ring is nearly
    /// full and, after dropping the lock, notifies the backend if it asked.
    /// A failed post breaks the device and is returned.
    ///
    /// Completions are the TX interrupt's alone (as in xen-netfront since
    /// 2025): reaping them here would leave its event with nothing new, a
    /// spurious EOI, and Xen would throttle the channel.
    fn post_and_kick(
        &self,
        mut g: TxGuard<'_>,
        res: TxReservation,
        token: Skb,
        len: usize,
    ) -> Result<(), QueueError> {
        let tx = g.queue().ok_or(QueueError::StaleReservation)?;
        if let Err(e) = tx.post(res, token) {
            self.set_broken("tx", &e);
            return Err(e);
        }
        let notify = tx.push();
        self.stats.inc(Counter::TxPackets);
        self.stats.add(Counter::TxBytes, len as u64);
        if tx.need_stop() {
            self.stop_txq();
        }
        drop(g);
        if notify {
            self.notify(false);
        }
        Ok(())
    }
}

/// Gathers `skb`'s head and fragments into `layout`; `false` if it needs
/// more pieces than a packet may have.
///
/// # Safety
///
/// `skb` is an skb we own.
unsafe fn layout(skb: *mut sys::sk_buff, layout: &mut TxLayout) -> bool {
    *layout = TxLayout::new();
    // SAFETY: caller.
    let (data, headlen, nr_frags) = unsafe {
        (
            sys::xpn_skb_data(skb) as usize,
            sys::xpn_skb_headlen(skb) as usize,
            sys::xpn_skb_nr_frags(skb),
        )
    };
    if !layout.add_span(HEAD_SPAN, data, headlen) {
        return false;
    }
    for i in 0..nr_frags {
        let (mut page, mut off, mut len) = (ptr::null_mut(), 0, 0);
        // SAFETY: caller; `i` is below the skb's fragment count.
        if !unsafe { sys::xpn_skb_frag(skb, i, &mut page, &mut off, &mut len) } {
            return false;
        }
        // Fragment spans are numbered from 1; an skb has at most 17
        // fragments, far below the `u8` range.
        let span = (i + 1).min(u8::MAX.into()) as u8;
        if !layout.add_span(span, off as usize, len as usize) {
            return false;
        }
    }
    true
}

/// The frame number of piece `i` of `layout` (built from `skb`).
///
/// # Safety
///
/// `skb` is an skb we own, unchanged since `layout` was built from it.
unsafe fn piece_gfn(skb: *mut sys::sk_buff, layout: &TxLayout, i: usize) -> Option<Gfn> {
    let (span, page) = layout.source(i)?;
    if span == HEAD_SPAN {
        // SAFETY: `page` is the number of a page holding the skb's head.
        return Some(unsafe { sys::xpn_virt_to_gfn((page * XEN_PAGE_SIZE) as *const c_void) });
    }
    let (mut p, mut off, mut len) = (ptr::null_mut(), 0, 0);
    // SAFETY: caller; span `span` is fragment `span - 1`.
    if !unsafe { sys::xpn_skb_frag(skb, u32::from(span) - 1, &mut p, &mut off, &mut len) } {
        return None;
    }
    // SAFETY: `page` counts pages from the fragment's first page, within
    // the fragment.
    Some(unsafe { sys::xpn_page_nth_gfn(p, page as Gfn) })
}

pub(crate) unsafe extern "C" fn ndo_start_xmit(
    skb: *mut sys::sk_buff,
    netdev: *mut sys::net_device,
) -> sys::netdev_tx_t {
    // SAFETY: called by the stack on our net_device with an skb we now own.
    let d = unsafe { Device::from_netdev(netdev) };
    // SAFETY: we own `skb`.
    let qi = unsafe { sys::xpn_skb_queue_mapping(skb) } as usize;
    let drop_skb = |q: Option<&Queue>| {
        if let Some(q) = q {
            q.stats.inc(Counter::TxDrops);
        }
        // SAFETY: we own `skb`.
        unsafe { sys::xpn_kfree_skb_any(skb) };
        sys::XPN_NETDEV_TX_OK
    };
    let Some(q) = d.active().get(qi) else {
        return drop_skb(d.queue(0));
    };
    if !d.is_running() {
        return drop_skb(Some(q));
    }
    // SAFETY: we own `skb`.
    let len = unsafe { sys::xpn_skb_len(skb) } as usize;
    if len > XEN_NETIF_MAX_TX_SIZE as usize {
        return drop_skb(Some(q));
    }
    if d.copies_tx() {
        return match q.xmit_copy(skb, len) {
            Ok(()) => sys::XPN_NETDEV_TX_OK,
            Err(()) => drop_skb(Some(q)),
        };
    }
    let mut l = TxLayout::new();
    // SAFETY: we own `skb`.
    if !unsafe { layout(skb, &mut l) } {
        // Too many pieces: copy into one linear buffer (at most 17 pages).
        q.stats.inc(Counter::TxLinearized);
        // SAFETY: we own `skb`.
        if unsafe { sys::xpn_skb_linearize(skb) } != 0 || !unsafe { layout(skb, &mut l) } {
            return drop_skb(Some(q));
        }
    }
    match q.xmit(skb, &l, len) {
        Ok(()) => sys::XPN_NETDEV_TX_OK,
        Err(()) => drop_skb(Some(q)),
    }
}

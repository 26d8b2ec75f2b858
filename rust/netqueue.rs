// SPDX-License-Identifier: GPL-2.0

//! One queue of the network device, as the kernel sees it: a TX and an RX
//! shared ring, their grant references, one event channel (two with split
//! event channels) bound to late-EOI interrupts, a NAPI context and the
//! queue's counters. This file sets a queue's connection up and tears it
//! down; the TX path is in [`crate::tx`], the RX path in [`crate::rx`], and
//! the slot bookkeeping of both in the kernel-independent
//! [`crate::tx_queue`] and [`crate::rx_queue`].
//!
//! Ownership: the TX state is shared by `ndo_start_xmit`, the TX interrupt
//! and teardown and sits behind an irq-safe spinlock ([`sys::IrqLock`]),
//! with a flag saying whether it is set up; the RX event gate is shared by
//! the interrupt and NAPI behind another; the RX state belongs to the
//! queue's NAPI context; the connection (`conn`) and the RX queue's
//! initialisation belong to connect and teardown, which run with NAPI
//! disabled (or not yet enabled), TX disabled and the interrupts unbound.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::fmt;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use kernel::prelude::*;

use crate::gnttab::{self, RingPage, RingRelease};
use crate::held;
use crate::negotiate::QueueKeys;
use crate::netdev::{Broken, Device};
use crate::netif::GrantRef;
use crate::queue::{QueueError, RX_RING_SIZE, TX_RING_SIZE};
use crate::ring::{EventGate, FrontRing, RingWatch};
use crate::rx::{self, Page, PageStash};
use crate::rx_queue::RxQueue;
use crate::stats::Counter;
use crate::sys;
use crate::tx::{BouncePage, TxSlot};
use crate::tx_queue::TxQueue;

/// A queue's counters ([`Counter`]), read by `ethtool -S` and summed for
/// `ndo_get_stats64`.
pub(crate) struct QueueStats([AtomicU64; Counter::COUNT]);

impl QueueStats {
    pub(crate) fn add(&self, c: Counter, n: u64) {
        if let Some(a) = self.0.get(c.index()) {
            a.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.0
            .get(c.index())
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }
}

/// What a connection to the backend holds for one queue; set up by
/// [`Queue::setup`], released by [`Queue::teardown`].
pub(crate) struct Conn {
    tx_ring: RingPage,
    rx_ring: RingPage,
    /// The TX event channel (the only one without split event channels).
    evtchn_tx: u32,
    /// The RX event channel (equal to `evtchn_tx` without split channels).
    evtchn_rx: u32,
    /// Interrupt names, as xen-netfront's ("vif<devid>-q<N>-tx" and "-rx",
    /// or "vif<devid>-q<N>" for a shared channel), NUL terminated; the irq
    /// core keeps pointers to them while bound.
    irq_names: [[u8; 24]; 2],
    /// Grant references claimed for the buffers: the TX ones, then the RX
    /// ones.
    refs: [GrantRef; TX_RING_SIZE + RX_RING_SIZE],
    /// Whether `refs` holds claimed references.
    grefs_claimed: bool,
    /// The TX bounce pages (when packets are copied), one per TX reference
    /// of `refs`, in order.
    bounce: [BouncePage; TX_RING_SIZE],
    /// Whether the RX queue is initialised.
    rx_ready: bool,
}

/// What the RX interrupt and NAPI share, behind [`Queue::rx_gate`]: the
/// view of the RX ring's producer and the count of responses seen.
pub(crate) struct RxGate {
    /// Reads the RX ring's response producer (set while connected).
    pub(crate) watch: Option<RingWatch>,
    pub(crate) gate: EventGate,
}

/// One queue: a TX ring, an RX ring, their NAPI context and interrupts.
pub(crate) struct Queue {
    pub(crate) napi: sys::napi_struct,
    /// The device this queue belongs to (set in [`Queue::init`]).
    dev: *const Device,
    pub(crate) index: usize,
    /// The TX state, shared by transmit, the TX interrupt and teardown.
    pub(crate) tx: sys::IrqLock<TxSlot>,
    pub(crate) rx: UnsafeCell<MaybeUninit<RxQueue<Page>>>,
    pub(crate) stash: UnsafeCell<PageStash>,
    /// Set up and torn down by connect and teardown only (serialised, with
    /// the data path stopped); the data path never touches it.
    conn: UnsafeCell<Conn>,
    /// The interrupt of the TX event channel (TX and RX without split
    /// channels), 0 when unbound; read by `notify`.
    irq_tx: AtomicI32,
    /// The interrupt of the RX event channel with split channels, else 0.
    irq_rx: AtomicI32,
    /// Retries an RX refill that ran out of pages.
    pub(crate) refill_timer: sys::timer_list,
    /// Whether an RX event brought new responses (the interrupt asks, NAPI
    /// reports what it consumed).
    pub(crate) rx_gate: sys::IrqLock<RxGate>,
    /// NAPI is enabled (between `napi_enable` and `napi_disable`).
    napi_enabled: AtomicBool,
    pub(crate) stats: QueueStats,
}

impl Queue {
    /// Initialises queue `index` of device `d` in place, in the zeroed
    /// private area of `netdev`.
    ///
    /// # Safety
    ///
    /// `q` points to the zeroed queue `index` inside the `Device` at `d`,
    /// which lives in the private area of `netdev`; nothing else uses it yet.
    pub(crate) unsafe fn init(
        q: *mut Queue,
        d: *const Device,
        index: usize,
        netdev: *mut sys::net_device,
    ) {
        // SAFETY: caller; the fields are written through raw pointers, and
        // all-zero is a valid value of every other field.
        unsafe {
            ptr::addr_of_mut!((*q).dev).write(d);
            ptr::addr_of_mut!((*q).index).write(index);
            sys::IrqLock::init(ptr::addr_of_mut!((*q).tx));
            sys::IrqLock::init(ptr::addr_of_mut!((*q).rx_gate));
            sys::xpn_timer_setup(ptr::addr_of_mut!((*q).refill_timer), Some(rx::refill_timer));
            sys::xpn_netif_napi_add(netdev, ptr::addr_of_mut!((*q).napi), Some(rx::napi_poll));
        }
    }

    /// The device this queue belongs to.
    pub(crate) fn dev(&self) -> &Device {
        // SAFETY: set in `init`; the queue lives inside that device.
        unsafe { &*self.dev }
    }

    pub(crate) fn napi_ptr(&self) -> *mut sys::napi_struct {
        ptr::addr_of!(self.napi).cast_mut()
    }

    /// Enables NAPI (the interface is open and the queue connected).
    pub(crate) fn napi_on(&self) {
        if !self.napi_enabled.swap(true, Ordering::AcqRel) {
            // SAFETY: added in `init`, disabled (the flag was clear).
            unsafe { sys::napi_enable(self.napi_ptr()) };
        }
    }

    /// Disables NAPI if it is enabled; waits for a running poll to end.
    pub(crate) fn napi_off(&self) {
        if self.napi_enabled.swap(false, Ordering::AcqRel) {
            // SAFETY: enabled by `napi_on` (the flag was set).
            unsafe { sys::napi_disable(self.napi_ptr()) };
        }
    }

    pub(crate) fn timer_ptr(&self) -> *mut sys::timer_list {
        ptr::addr_of!(self.refill_timer).cast_mut()
    }

    /// Adds `n` to gauge `c` ([`Counter::Pages`] or [`Counter::GrantRefs`])
    /// of this queue and to the module-wide count ([`crate::held`]).
    pub(crate) fn account(&self, c: Counter, n: i64) {
        self.stats.add(c, n as u64);
        match c {
            Counter::Pages => held::pages(n),
            Counter::GrantRefs => held::grant_refs(n),
            _ => {}
        }
    }

    /// Disables the device after a bad response on this queue.
    pub(crate) fn set_broken(&self, dir: &'static str, e: &QueueError) {
        self.dev().set_broken(Broken::Queue(dir, self.index, e));
    }

    /// Kicks the backend through the interrupt of this queue's TX channel,
    /// or of its RX channel when `rx` (the same one without split channels).
    pub(crate) fn notify(&self, rx: bool) {
        let irq_rx = self.irq_rx.load(Ordering::Acquire);
        let irq = if rx && irq_rx > 0 {
            irq_rx
        } else {
            self.irq_tx.load(Ordering::Acquire)
        };
        if irq <= 0 {
            return;
        }
        self.stats.inc(if rx {
            Counter::RxNotifies
        } else {
            Counter::TxNotifies
        });
        // SAFETY: the irq is bound while connected.
        unsafe { sys::notify_remote_via_irq(irq) };
    }

    /// The keys this queue publishes in XenStore (connect only, after
    /// [`Queue::setup`]).
    pub(crate) fn keys(&self) -> QueueKeys {
        // SAFETY: connect calls this, serialised with setup and teardown
        // (the only writers of `conn`); the data path never reads it.
        let c = unsafe { &*self.conn.get() };
        QueueKeys {
            tx_ring_ref: c.tx_ring.gref(),
            rx_ring_ref: c.rx_ring.gref(),
            evtchn_tx: c.evtchn_tx,
            evtchn_rx: c.evtchn_rx,
        }
    }

    /// Sets up this queue's connection (part of `xennet_connect`): grant
    /// references, both rings, event channels and interrupts, and the first
    /// RX buffers. On error, [`Queue::teardown`] releases what was set up.
    pub(crate) fn setup(&self, split: bool) -> Result {
        let d = self.dev();
        // SAFETY: connect runs from the xenbus callbacks or `ethtool -L`,
        // serialised, with NAPI of this queue disabled and its irqs not
        // bound: `conn`, `rx` and `stash` are ours.
        let (conn, rx) = unsafe { (&mut *self.conn.get(), &mut *self.rx.get()) };
        gnttab::claim(&mut conn.refs).inspect_err(|_| {
            dev_err!(
                d.kdev(),
                "cannot allocate {} grant references\n",
                conn.refs.len()
            )
        })?;
        conn.grefs_claimed = true;
        self.account(Counter::GrantRefs, conn.refs.len() as i64);
        let (tx_refs, rx_refs) = conn.refs.split_at(TX_RING_SIZE);
        let mut rings = [ptr::NonNull::dangling(); 2];
        for (ring, page) in [&mut conn.tx_ring, &mut conn.rx_ring]
            .into_iter()
            .zip(rings.iter_mut())
        {
            *page = ring.setup(d.xb())?;
            self.account(Counter::GrantRefs, 1);
            self.account(Counter::Pages, 1);
        }
        let [tx_page, rx_page] = rings;
        let copy = d.copies_tx();
        if copy {
            // One zeroed page per TX reference, granted read-only for the
            // whole connection: it only ever holds packet data.
            let domid = d.xb().otherend_id();
            for (b, &gref) in conn.bounce.iter_mut().zip(tx_refs) {
                // SAFETY: plain page allocation (process context).
                let page = unsafe { sys::xpn_alloc_bounce_page() };
                if page.is_null() {
                    dev_err!(d.kdev(), "cannot allocate TX bounce pages\n");
                    return Err(ENOMEM);
                }
                self.account(Counter::Pages, 1);
                gnttab::grant_access(gref, domid, gnttab::page_gfn(page), true);
                *b = BouncePage {
                    gref,
                    page,
                    // SAFETY: a page of ours, in the kernel's direct map.
                    addr: unsafe { sys::xpn_page_address(page) }.cast(),
                };
            }
        }
        // SAFETY: each ring page is a page-aligned page shared only with
        // the backend, used only through these rings until teardown.
        let (tx_ring, rx_ring) = unsafe { (FrontRing::new(tx_page), FrontRing::new(rx_page)) };
        {
            let mut tx = self.tx.lock();
            TxQueue::init(&mut tx.q, tx_ring, tx_refs)
                .map_err(|_| EINVAL)?
                .set_lazy_completions(copy);
            tx.ready = true;
            tx.bounce_on = copy;
            tx.bounce = conn.bounce;
        }
        let rx = RxQueue::init(rx, rx_ring, rx_refs).map_err(|_| EINVAL)?;
        conn.rx_ready = true;
        *self.rx_gate.lock() = RxGate {
            watch: Some(rx.watch()),
            gate: EventGate::new(),
        };
        conn.evtchn_tx = d.xb().alloc_evtchn()?;
        conn.evtchn_rx = conn.evtchn_tx;
        if split {
            conn.evtchn_rx = d.xb().alloc_evtchn()?;
            let [tx_name, rx_name] = &mut conn.irq_names;
            let irq = self.bind(conn.evtchn_tx, Some(interrupt_tx), tx_name, "tx")?;
            self.irq_tx.store(irq, Ordering::Release);
            let irq = self.bind(conn.evtchn_rx, Some(interrupt_rx), rx_name, "rx")?;
            self.irq_rx.store(irq, Ordering::Release);
        } else {
            let [name, _] = &mut conn.irq_names;
            let irq = self.bind(conn.evtchn_tx, Some(interrupt), name, "")?;
            self.irq_tx.store(irq, Ordering::Release);
        }
        // SAFETY: the stash is ours, as above.
        self.rx_refill(rx, unsafe { &mut *self.stash.get() });
        Ok(())
    }

    /// Binds event channel `evtchn` to `handler` with the late-EOI variant,
    /// naming the interrupt `vif<devid>-q<N>-<dir>` (`vif<devid>-q<N>` if
    /// `dir` is empty) in `name`, after the vif's xenbus node
    /// (`device/vif/<devid>`), as xen-netfront does; returns the
    /// irq. (An unbound channel is freed by teardown.)
    fn bind(
        &self,
        evtchn: u32,
        handler: sys::irq_handler_t,
        name: &mut [u8; 24],
        dir: &str,
    ) -> Result<c_int> {
        irq_name(name, self.dev().xb().name(), self.index, dir);
        // SAFETY: the queue outlives the binding (unbound in teardown);
        // `name` lives in `conn` as long as the binding.
        let irq = unsafe {
            sys::bind_evtchn_to_irqhandler_lateeoi(
                evtchn,
                handler,
                0,
                name.as_ptr().cast(),
                ptr::from_ref(self).cast_mut().cast(),
            )
        };
        if irq < 0 {
            Err(Error::from_errno(irq))
        } else {
            Ok(irq)
        }
    }

    /// Releases everything [`Queue::setup`] set up (also after a setup that
    /// failed half-way). NAPI and transmit must be disabled and the backend
    /// closed.
    pub(crate) fn teardown(&self) {
        let d = self.dev();
        // SAFETY: set up in `init`; only NAPI (disabled now) arms it.
        unsafe { sys::xpn_timer_shutdown(self.timer_ptr()) };
        // SAFETY: called from remove/connect failure/`ethtool -L`,
        // serialised with the xenbus callbacks, with NAPI disabled.
        let conn = unsafe { &mut *self.conn.get() };
        let split = conn.evtchn_rx != conn.evtchn_tx;
        for (irq, evtchn, used) in [
            (&self.irq_tx, &mut conn.evtchn_tx, true),
            (&self.irq_rx, &mut conn.evtchn_rx, split),
        ] {
            let irq = irq.swap(0, Ordering::AcqRel);
            if irq > 0 {
                // SAFETY: bound in `setup` with `self` as dev_id; this also
                // closes the event channel and waits for a running handler.
                unsafe {
                    sys::unbind_from_irqhandler(irq as u32, ptr::from_ref(self).cast_mut().cast())
                };
            } else if used && *evtchn != 0 {
                // Allocated but never bound (setup failed half-way).
                d.xb().free_evtchn(*evtchn);
            }
            *evtchn = 0;
        }
        self.rx_gate.lock().watch = None;
        // SAFETY: NAPI is disabled, the stash is ours.
        let stash = unsafe { &mut *self.stash.get() };
        {
            // Under the TX lock: a transmit that got past its checks before
            // TX was disabled finds the queue gone.
            let mut tx = self.tx.lock();
            if let Some(q) = tx.queue() {
                q.release_all(|c, pool| self.complete_tx(c, pool));
            }
            tx.ready = false;
            tx.bounce_on = false;
            tx.bounce = [BouncePage::EMPTY; TX_RING_SIZE];
        }
        for b in conn.bounce.iter_mut() {
            if b.page.is_null() {
                continue;
            }
            if d.end_access(b.gref) {
                // SAFETY: our page; the backend's access ended.
                unsafe { sys::xpn_free_page(b.page) };
                self.account(Counter::Pages, -1);
            } else {
                self.stats.inc(Counter::PagesLeaked);
                held::keep_pages(1);
            }
            *b = BouncePage::EMPTY;
        }
        if conn.rx_ready {
            // SAFETY: initialised in `setup`; NAPI, the only other user, is
            // disabled.
            let rx = unsafe { (*self.rx.get()).assume_init_mut() };
            rx.release_all(|page, grant, pool| {
                if d.end_access(grant.gref()) {
                    let _ = pool.free(grant);
                    self.put_page(stash, page.0);
                } else {
                    self.stats.inc(Counter::PagesLeaked);
                    held::keep_pages(1);
                }
            });
            conn.rx_ready = false;
        }
        if conn.grefs_claimed {
            // A broken device may have grants the backend still uses: their
            // references are leaked rather than reused.
            if d.grant_stuck() {
                held::keep_grant_refs(conn.refs.len());
            } else {
                gnttab::release(&conn.refs);
                self.account(Counter::GrantRefs, -(conn.refs.len() as i64));
            }
            conn.grefs_claimed = false;
        }
        let freed = stash.free_all();
        self.account(Counter::Pages, -(freed as i64));
        for ring in [&mut conn.tx_ring, &mut conn.rx_ring] {
            let r = ring.teardown();
            if r != RingRelease::Empty {
                // Freed, or the grant table's to free.
                self.account(Counter::GrantRefs, -1);
                self.account(Counter::Pages, -1);
            }
            if r == RingRelease::Deferred {
                // Freed by the grant table once the backend unmaps it.
                self.stats.inc(Counter::RingPagesDeferred);
                dev_warn!(
                    d.kdev(),
                    "queue {}: backend still maps a ring page; it is freed when the backend lets go\n",
                    self.index
                );
            }
        }
    }
}

/// Common part of the interrupt handlers: `work` runs unless the device is
/// broken; the late EOI tells Xen whether the event was spurious.
///
/// # Safety
///
/// `dev_id` is the [`Queue`] the irq was bound with.
unsafe fn handle_irq(
    irq: c_int,
    dev_id: *mut c_void,
    work: impl FnOnce(&Queue) -> bool,
) -> sys::irqreturn_t {
    // SAFETY: caller; the queue outlives the binding.
    let q = unsafe { &*dev_id.cast::<Queue>() };
    q.stats.inc(Counter::Irqs);
    if q.dev().is_broken() {
        // No EOI: the event channel stays masked, a misbehaving backend
        // cannot keep us busy.
        return sys::XPN_IRQ_HANDLED;
    }
    let eoi = if work(q) {
        0
    } else {
        q.stats.inc(Counter::SpuriousIrqs);
        sys::XPN_EOI_FLAG_SPURIOUS
    };
    // SAFETY: `irq` is ours, bound with the late-EOI variant.
    unsafe { sys::xen_irq_lateeoi(irq as u32, eoi) };
    sys::XPN_IRQ_HANDLED
}

unsafe extern "C" fn interrupt(irq: c_int, dev_id: *mut c_void) -> sys::irqreturn_t {
    // SAFETY: bound with a `Queue` as `dev_id`.
    unsafe { handle_irq(irq, dev_id, |q| q.tx_interrupt() | q.rx_interrupt()) }
}

unsafe extern "C" fn interrupt_tx(irq: c_int, dev_id: *mut c_void) -> sys::irqreturn_t {
    // SAFETY: bound with a `Queue` as `dev_id`.
    unsafe { handle_irq(irq, dev_id, Queue::tx_interrupt) }
}

unsafe extern "C" fn interrupt_rx(irq: c_int, dev_id: *mut c_void) -> sys::irqreturn_t {
    // SAFETY: bound with a `Queue` as `dev_id`.
    unsafe { handle_irq(irq, dev_id, Queue::rx_interrupt) }
}

/// Writes `vif<devid>-q<index>-<dir>` (no `-<dir>` if `dir` is empty) NUL
/// terminated into `out`, `devid` the last part of the xenbus `nodename`.
fn irq_name(out: &mut [u8; 24], nodename: &str, index: usize, dir: &str) {
    struct W<'a>(&'a mut [u8], usize);
    impl fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for &b in s.as_bytes() {
                // Keep the last byte for the NUL.
                if self.1 + 1 < self.0.len() {
                    if let Some(c) = self.0.get_mut(self.1) {
                        *c = b;
                    }
                    self.1 += 1;
                }
            }
            Ok(())
        }
    }
    out.fill(0);
    let devid = nodename.rsplit('/').next().unwrap_or(nodename);
    let sep = if dir.is_empty() { "" } else { "-" };
    let _ = fmt::Write::write_fmt(
        &mut W(out, 0),
        format_args!("vif{devid}-q{index}{sep}{dir}"),
    );
}

// SPDX-License-Identifier: GPL-2.0

//! The network device: kernel glue between the `net_device`, NAPI, the
//! event channels and grant table on one side, and the kernel-independent
//! TX/RX bookkeeping of [`crate::queue`] on the other.
//!
//! One [`Device`] lives in the private area of each `net_device`, with up to
//! [`MAX_QUEUES`] [`Queue`]s. A queue owns one TX and one RX ring, a NAPI
//! context and one event channel (two with split event channels). Its TX
//! state is shared by `ndo_start_xmit` and the TX interrupt and is guarded
//! by an irq-safe spinlock; its RX state belongs to its NAPI context (and to
//! connect/teardown, which run with NAPI disabled or not yet enabled).

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void, CStr};
use core::fmt;
use core::mem::{offset_of, MaybeUninit};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use kernel::prelude::*;

use crate::grant::GrantPool;
use crate::negotiate::{
    self, BackendFeatures, ConnectPlan, FrontendConfig, NetFeatures, QueueKeys, XenbusState,
};
use crate::netif::{
    ExtraInfo, GrantRef, RX_COPY_THRESHOLD, SRING_RSP_PROD_OFFSET, XEN_NETIF_GSO_TYPE_NONE,
};
use crate::queue::{
    tx_csum_flags, QueueError, RxEvent, RxPacket, RxQueue, TxCompletion, TxLayout, TxQueue,
    TxStatus, RX_RING_SIZE, TX_RING_SIZE,
};
use crate::ring::FrontRing;
use crate::stats::Counter;
use crate::sys;

/// Name of the driver, in logs, ethtool and interrupt names.
pub(crate) const DRV_NAME: &CStr = c"xen_pv_net";

/// Most queues a device sets up.
pub(crate) const MAX_QUEUES: usize = negotiate::MAX_QUEUES_DEFAULT as usize;

/// Delay before retrying an RX refill that ran out of pages (HZ/10 in
/// xen-netfront).
const RX_REFILL_RETRY_MS: u32 = 100;

/// Ethernet header length: shorter received frames are errors.
const ETH_HLEN: u32 = 14;

/// The span number of an skb's linear head in a [`TxLayout`]; fragment `i`
/// is span `i + 1`.
const HEAD_SPAN: u8 = 0;

/// A transmitted packet (owned by the TX ring until completed).
#[derive(Clone, Copy)]
pub(crate) struct Skb(*mut sys::sk_buff);

/// An RX buffer page (owned by the RX ring while posted).
#[derive(Clone, Copy)]
pub(crate) struct Page(*mut sys::page);

/// A queue's counters ([`Counter`]), read by `ethtool -S` and summed for
/// `ndo_get_stats64`.
struct QueueStats([AtomicU64; Counter::COUNT]);

impl QueueStats {
    fn add(&self, c: Counter, n: u64) {
        if let Some(a) = self.0.get(c.index()) {
            a.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    fn get(&self, c: Counter) -> u64 {
        self.0
            .get(c.index())
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }
}

/// What a connection to the backend holds for one queue; set up by
/// [`Device::connect`].
struct Conn {
    tx_ring: *mut c_void,
    rx_ring: *mut c_void,
    tx_ring_ref: GrantRef,
    rx_ring_ref: GrantRef,
    /// The TX event channel (the only one without split event channels).
    evtchn_tx: u32,
    /// The RX event channel (equal to `evtchn_tx` without split channels).
    evtchn_rx: u32,
    /// The interrupt of `evtchn_tx` (TX and RX without split channels).
    irq_tx: c_int,
    /// The interrupt of `evtchn_rx` with split channels, else 0.
    irq_rx: c_int,
    /// Interrupt names ("xen_pv_net-qN-tx"), NUL terminated; the irq core
    /// keeps pointers to them while bound.
    irq_names: [[u8; 24]; 2],
    /// Grant references claimed for the TX and RX buffers.
    tx_refs: [GrantRef; TX_RING_SIZE],
    rx_refs: [GrantRef; RX_RING_SIZE],
    /// Whether `tx_refs`/`rx_refs` hold claimed references.
    grefs_claimed: bool,
    /// Whether the TX and RX queues are initialised.
    queues_ready: bool,
}

/// Pages taken back from the RX ring, reused for refills (NAPI-owned).
struct PageStash {
    pages: [*mut sys::page; RX_RING_SIZE],
    len: usize,
}

/// One queue: a TX ring, an RX ring, their NAPI context and interrupts.
pub(crate) struct Queue {
    napi: sys::napi_struct,
    /// The device this queue belongs to (set in [`Device::create`]).
    dev: *const Device,
    index: usize,
    tx_lock: sys::spinlock_t,
    tx: UnsafeCell<MaybeUninit<TxQueue<Skb>>>,
    rx: UnsafeCell<MaybeUninit<RxQueue<Page>>>,
    stash: UnsafeCell<PageStash>,
    conn: UnsafeCell<Conn>,
    /// Retries an RX refill that ran out of pages.
    refill_timer: sys::timer_list,
    /// RX responses consumed so far (published by NAPI for the interrupt
    /// handler's spurious-event check).
    rx_seen: AtomicU32,
    stats: QueueStats,
}

/// The driver's private part of a `net_device`.
pub(crate) struct Device {
    netdev: *mut sys::net_device,
    xb: *mut sys::xenbus_device,
    queues: [Queue; MAX_QUEUES],
    /// Queues set up by the current connection (0 when not connected).
    num_queues: AtomicUsize,
    /// Queues to offer at the next connection (module parameter, then
    /// `ethtool -L`).
    want_queues: AtomicU32,
    /// `multi-queue-max-queues` of the backend, read at connection.
    backend_max_queues: AtomicU32,
    /// Offloads the backend allows ([`NetFeatures::bits`]).
    offloads: AtomicU32,
    /// The rings and queues are set up.
    connected: AtomicBool,
    /// The interface is open (between `ndo_open` and `ndo_stop`).
    up: AtomicBool,
    /// `ethtool -L` is renegotiating: backend state changes are its own.
    reconfiguring: AtomicBool,
    /// The backend misbehaved: the device is disabled.
    broken: AtomicBool,
    /// The backend kept access to a page it had to give back: from now on
    /// no TX skb or RX page is freed (they are leaked, never reused).
    grant_stuck: AtomicBool,
    /// `register_netdev` succeeded (and `unregister_netdev` was not called).
    pub(crate) registered: AtomicBool,
    /// `unregister_netdev` was called: the net_device is about to be freed.
    unregistered: AtomicBool,
}

/// Guard of [`Queue::tx_lock`]; gives the TX queue while held.
struct TxGuard<'a> {
    q: &'a Queue,
    flags: kernel::ffi::c_ulong,
}

impl TxGuard<'_> {
    fn queue(&mut self) -> &mut TxQueue<Skb> {
        // SAFETY: the lock is held, the queue was initialised by `connect`
        // (`lock_tx` is only called on queues of the current connection),
        // and `&mut self` prevents a second borrow through this guard.
        unsafe { (*self.q.tx.get()).assume_init_mut() }
    }
}

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `lock_tx` with these flags.
        unsafe { sys::xpn_spin_unlock_irqrestore(self.q.tx_lock_ptr(), self.flags) };
    }
}

/// Why the device was disabled.
pub(crate) enum Broken<'a> {
    /// A TX or RX response was invalid.
    Queue(&'static str, usize, &'a dyn fmt::Display),
    /// The backend still has access to a page we must take back.
    GrantInUse(GrantRef),
}

impl fmt::Display for Broken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::Queue(dir, q, e) => write!(f, "queue {q} {dir}: {e}"),
            Broken::GrantInUse(r) => {
                write!(f, "backend still has access to grant {r}; page leaked")
            }
        }
    }
}

impl Queue {
    fn dev(&self) -> &Device {
        // SAFETY: set in `Device::create`; the queue lives inside that
        // device.
        unsafe { &*self.dev }
    }

    fn tx_lock_ptr(&self) -> *mut c_void {
        ptr::addr_of!(self.tx_lock).cast_mut().cast()
    }

    fn lock_tx(&self) -> TxGuard<'_> {
        // SAFETY: `tx_lock` was initialised in `Device::create`.
        let flags = unsafe { sys::xpn_spin_lock_irqsave(self.tx_lock_ptr()) };
        TxGuard { q: self, flags }
    }

    fn napi_ptr(&self) -> *mut sys::napi_struct {
        ptr::addr_of!(self.napi).cast_mut()
    }

    fn conn(&self) -> &Conn {
        // SAFETY: `conn` is only written by connect/teardown, which do not
        // run concurrently with the data path.
        unsafe { &*self.conn.get() }
    }

    fn notify_tx(&self) {
        self.stats.inc(Counter::TxNotifies);
        // SAFETY: the irq is bound while connected.
        unsafe { sys::notify_remote_via_irq(self.conn().irq_tx) };
    }

    fn notify_rx(&self) {
        let c = self.conn();
        let irq = if c.irq_rx > 0 { c.irq_rx } else { c.irq_tx };
        self.stats.inc(Counter::RxNotifies);
        // SAFETY: the irq is bound while connected.
        unsafe { sys::notify_remote_via_irq(irq) };
    }

    fn set_broken(&self, dir: &'static str, e: &QueueError) {
        self.dev().set_broken(Broken::Queue(dir, self.index, e));
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

    fn complete_tx(&self, c: TxCompletion<Skb>, pool: &mut GrantPool<TX_RING_SIZE>) {
        let d = self.dev();
        if d.end_access(c.grant.gref()) {
            if let Err(e) = pool.free(c.grant) {
                d.set_broken(Broken::Queue("tx grant", self.index, &e));
            }
        }
        if d.grant_stuck.load(Ordering::Acquire) {
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
    fn tx_interrupt(&self) -> bool {
        let d = self.dev();
        let mut g = self.lock_tx();
        let tx = g.queue();
        let work = self.tx_gc(tx) > 0;
        // SAFETY: our live net_device; `index` is below its TX queues.
        let stopped = unsafe { sys::xpn_txq_stopped(d.netdev, self.index as u32) };
        let running = d.connected.load(Ordering::Acquire) && !d.is_broken();
        if tx.can_wake() && running && stopped {
            self.stats.inc(Counter::TxWakes);
            // SAFETY: as above.
            unsafe { sys::xpn_txq_wake(d.netdev, self.index as u32) };
        }
        work
    }

    /// RX events from the interrupt: schedules NAPI if responses wait.
    /// Returns whether there was work.
    fn rx_interrupt(&self) -> bool {
        // SAFETY: the RX ring page is mapped while the irq is bound; rsp_prod
        // is read volatile, it is the backend's.
        let rsp_prod = unsafe {
            let page = self.conn().rx_ring.cast::<u8>();
            ptr::read_volatile(page.add(SRING_RSP_PROD_OFFSET).cast::<u32>())
        };
        if rsp_prod == self.rx_seen.load(Ordering::Acquire) {
            return false;
        }
        // SAFETY: NAPI was added in `create`.
        unsafe { sys::xpn_napi_schedule(self.napi_ptr()) };
        true
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
            }
        }
        if !all_ended {
            return;
        }
        let len = pkt.len();
        let recycle = |stash: &mut PageStash| {
            for f in pkt.frags() {
                stash.put(f.token.0);
            }
        };
        if len < ETH_HLEN {
            // Not even an Ethernet header.
            self.stats.inc(Counter::RxErrors);
            recycle(stash);
            return;
        }
        let gso = pkt.gso();
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
                }
            }
        }
        if copy {
            recycle(stash);
        }
        if gso.is_some() {
            self.stats.inc(Counter::RxGso);
        }
        if pkt.csum_blank() {
            self.stats.inc(Counter::RxCsumFixups);
        }
        let (gso_size, gso_type) =
            gso.map_or((0, XEN_NETIF_GSO_TYPE_NONE), |g| (g.size, g.gso_type));
        // SAFETY: `skb` is a complete frame we own; consumed by the call.
        let r = unsafe {
            sys::xpn_rx_deliver(
                napi,
                d.netdev,
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
    fn rx_refill(&self, rx: &mut RxQueue<Page>, stash: &mut PageStash) {
        let domid = self.dev().otherend_id();
        let fill = rx.fill(|grant| {
            let page = match stash.take() {
                Some(p) => p,
                // SAFETY: plain page allocation.
                None => unsafe { sys::xpn_alloc_page() },
            };
            if page.is_null() {
                return None;
            }
            // SAFETY: `gref` is ours and free; the page stays allocated
            // until the grant is ended.
            unsafe {
                sys::gnttab_grant_foreign_access_ref(
                    grant.gref(),
                    domid,
                    sys::xpn_page_to_gfn(page),
                    0,
                )
            };
            Some(Page(page))
        });
        match fill {
            Ok(f) => {
                if f.notify {
                    self.notify_rx();
                }
                if f.retry {
                    self.stats.inc(Counter::RxRefillRetries);
                    // SAFETY: set up in `Device::create`.
                    unsafe { sys::xpn_timer_arm(self.timer_ptr(), RX_REFILL_RETRY_MS) };
                }
            }
            Err(e) => self.set_broken("rx", &e),
        }
    }

    fn timer_ptr(&self) -> *mut sys::timer_list {
        ptr::addr_of!(self.refill_timer).cast_mut()
    }
}

/// The RX refill timer: NAPI retries refilling the ring.
unsafe extern "C" fn refill_timer(t: *mut sys::timer_list) {
    // SAFETY: `t` is the `refill_timer` field of a `Queue` (the only
    // timers we set up).
    let q = unsafe {
        &*t.cast::<u8>()
            .sub(offset_of!(Queue, refill_timer))
            .cast::<Queue>()
    };
    if q.dev().connected.load(Ordering::Acquire) {
        // SAFETY: NAPI was added in `create`; scheduling a disabled NAPI
        // context does nothing.
        unsafe { sys::xpn_napi_schedule(q.napi_ptr()) };
    }
}

impl Device {
    fn kdev(&self) -> &kernel::device::Device {
        // SAFETY: `xb` outlives the net_device (it is freed in `remove`
        // after the net_device); `dev` is embedded in it.
        unsafe { kernel::device::Device::from_raw(ptr::addr_of_mut!((*self.xb).dev).cast()) }
    }

    fn otherend_id(&self) -> u16 {
        // SAFETY: see `kdev`.
        unsafe { (*self.xb).otherend_id as u16 }
    }

    /// The queues of the current connection.
    fn active(&self) -> &[Queue] {
        let n = self.num_queues.load(Ordering::Acquire);
        self.queues.get(..n).unwrap_or(&[])
    }

    /// The xenbus device.
    pub(crate) fn xenbus_device(&self) -> *mut sys::xenbus_device {
        self.xb
    }

    /// Queues set up by the current connection.
    pub(crate) fn num_queues(&self) -> usize {
        self.num_queues.load(Ordering::Acquire)
    }

    /// Most queues `ethtool -L` may ask for.
    pub(crate) fn max_channels(&self) -> u32 {
        self.backend_max_queues
            .load(Ordering::Acquire)
            .clamp(1, MAX_QUEUES as u32)
    }

    /// Offloads the backend allows ([`NetFeatures::bits`]).
    pub(crate) fn offloads_allowed(&self) -> u32 {
        self.offloads.load(Ordering::Acquire)
    }

    /// Counter `c` of queue `q` (0 for a queue that does not exist).
    pub(crate) fn counter(&self, q: usize, c: Counter) -> u64 {
        self.queues.get(q).map_or(0, |q| q.stats.get(c))
    }

    fn stop_tx_all(&self) {
        for q in 0..MAX_QUEUES {
            // SAFETY: the net_device has `MAX_QUEUES` TX queues allocated.
            unsafe { sys::xpn_txq_stop(self.netdev, q as u32) };
        }
    }

    /// Disables the device after the backend misbehaved. Logged once.
    pub(crate) fn set_broken(&self, why: Broken<'_>) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            dev_err!(
                self.kdev(),
                "device broken, disabled: {}\n",
                sys::Disp(&why)
            );
            self.stop_tx_all();
            self.set_carrier(false);
        }
    }

    /// Turns the carrier on or off, unless the net_device was unregistered
    /// (a link event then would hold a reference to a device about to be
    /// freed).
    fn set_carrier(&self, on: bool) {
        if self.unregistered.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: the net_device is alive; safe in any context.
        unsafe {
            if on {
                sys::netif_carrier_on(self.netdev);
            } else {
                sys::netif_carrier_off(self.netdev);
            }
        }
    }

    /// Takes the interface away (device removal): stops traffic, then
    /// unregisters the net_device if it was registered.
    pub(crate) fn unregister(&self) {
        self.disconnect();
        if self.registered.swap(false, Ordering::AcqRel) {
            // SAFETY: registered in `otherend_changed`; stops the interface
            // (NAPI disabled) before returning.
            unsafe { sys::unregister_netdev(self.netdev) };
        }
        self.unregistered.store(true, Ordering::Release);
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Ends the backend's access to `gref`. `false`: it still has access
    /// (the device is then broken and the page must not be reused).
    fn end_access(&self, gref: GrantRef) -> bool {
        // SAFETY: `gref` is one of our claimed references.
        if unsafe { sys::gnttab_end_foreign_access_ref(gref) } != 0 {
            true
        } else {
            self.grant_stuck.store(true, Ordering::Release);
            self.set_broken(Broken::GrantInUse(gref));
            false
        }
    }

    /// Starts NAPI and the TX queues of the current connection (the
    /// interface is open).
    fn start_queues(&self) {
        for q in self.active() {
            // SAFETY: NAPI was added in `create` and is disabled.
            unsafe {
                sys::napi_enable(q.napi_ptr());
                sys::xpn_txq_wake(self.netdev, q.index as u32);
                sys::xpn_napi_schedule(q.napi_ptr());
            }
        }
    }

    /// Stops the TX queues and NAPI of the current connection.
    fn stop_queues(&self) {
        self.stop_tx_all();
        for q in self.active() {
            // SAFETY: NAPI is enabled (by `start_queues`).
            unsafe { sys::napi_disable(q.napi_ptr()) };
        }
    }
}

impl PageStash {
    fn put(&mut self, page: *mut sys::page) {
        match self.pages.get_mut(self.len) {
            Some(slot) => {
                *slot = page;
                self.len += 1;
            }
            // SAFETY: the page is ours and no longer granted.
            None => unsafe { sys::xpn_free_page(page) },
        }
    }

    fn take(&mut self) -> Option<*mut sys::page> {
        self.len = self.len.checked_sub(1)?;
        self.pages.get(self.len).copied()
    }

    fn free_all(&mut self) {
        while let Some(p) = self.take() {
            // SAFETY: stashed pages are ours and not granted.
            unsafe { sys::xpn_free_page(p) };
        }
    }
}

// ---------------------------------------------------------------------------
// net_device callbacks.
// ---------------------------------------------------------------------------

/// # Safety
///
/// `netdev` must be a net_device allocated by [`Device::create`].
pub(crate) unsafe fn device<'a>(netdev: *mut sys::net_device) -> &'a Device {
    // SAFETY: the private area holds an initialised `Device` (caller).
    unsafe { &*sys::xpn_netdev_priv(netdev).cast::<Device>() }
}

unsafe extern "C" fn ndo_open(netdev: *mut sys::net_device) -> c_int {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    d.up.store(true, Ordering::Release);
    d.start_queues();
    0
}

unsafe extern "C" fn ndo_stop(netdev: *mut sys::net_device) -> c_int {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    d.up.store(false, Ordering::Release);
    d.stop_queues();
    0
}

unsafe extern "C" fn ndo_select_queue(
    netdev: *mut sys::net_device,
    skb: *mut sys::sk_buff,
    _sb_dev: *mut sys::net_device,
) -> u16 {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    let n = d.num_queues() as u32;
    if n <= 1 {
        return 0;
    }
    // SAFETY: the stack's skb.
    (unsafe { sys::xpn_skb_get_hash(skb) } % n) as u16
}

/// Gathers `skb`'s head and fragments into `layout`; `false` if it needs
/// more pieces than a packet may have.
///
/// # Safety
///
/// `skb` is an skb we own.
unsafe fn tx_layout(skb: *mut sys::sk_buff, layout: &mut TxLayout) -> bool {
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
unsafe fn tx_piece_gfn(
    skb: *mut sys::sk_buff,
    layout: &TxLayout,
    i: usize,
) -> Option<kernel::ffi::c_ulong> {
    let (span, page) = layout.source(i)?;
    if span == HEAD_SPAN {
        // SAFETY: `page` is the number of a page holding the skb's head.
        return Some(unsafe {
            sys::xpn_virt_to_gfn((page * crate::netif::XEN_PAGE_SIZE) as *const c_void)
        });
    }
    let (mut p, mut off, mut len) = (ptr::null_mut(), 0, 0);
    // SAFETY: caller; span `span` is fragment `span - 1`.
    if !unsafe { sys::xpn_skb_frag(skb, u32::from(span) - 1, &mut p, &mut off, &mut len) } {
        return None;
    }
    // SAFETY: `page` counts pages from the fragment's first page, within
    // the fragment.
    Some(unsafe { sys::xpn_page_nth_gfn(p, page as kernel::ffi::c_ulong) })
}

unsafe extern "C" fn ndo_start_xmit(
    skb: *mut sys::sk_buff,
    netdev: *mut sys::net_device,
) -> sys::netdev_tx_t {
    // SAFETY: called by the stack on our net_device with an skb we now own.
    let d = unsafe { device(netdev) };
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
        return drop_skb(d.queues.first());
    };
    if !d.connected.load(Ordering::Acquire) || d.is_broken() {
        return drop_skb(Some(q));
    }
    // SAFETY: we own `skb`.
    let len = unsafe { sys::xpn_skb_len(skb) } as usize;
    if len > crate::netif::XEN_NETIF_MAX_TX_SIZE as usize {
        return drop_skb(Some(q));
    }
    let mut layout = TxLayout::new();
    // SAFETY: we own `skb`.
    if !unsafe { tx_layout(skb, &mut layout) } {
        // Too many pieces: copy into one linear buffer (at most 17 pages).
        q.stats.inc(Counter::TxLinearized);
        // SAFETY: we own `skb`.
        if unsafe { sys::xpn_skb_linearize(skb) } != 0 || !unsafe { tx_layout(skb, &mut layout) } {
            return drop_skb(Some(q));
        }
    }
    // SAFETY: we own `skb`.
    let flags = tx_csum_flags(unsafe { sys::xpn_skb_ip_summed(skb) });
    let mut gso_size = 0u16;
    // SAFETY: we own `skb`.
    let extra = match unsafe { sys::xpn_skb_gso(skb, &mut gso_size) } {
        0 => None,
        t @ 1..=2 if gso_size > 0 => {
            q.stats.inc(Counter::TxGso);
            Some(ExtraInfo::new_gso(gso_size, t as u8, false))
        }
        // A GSO type the protocol cannot carry (the stack segments those
        // itself: we never advertise them).
        _ => return drop_skb(Some(q)),
    };
    let domid = d.otherend_id();
    let mut g = q.lock_tx();
    let tx = g.queue();
    let Ok(res) = tx.reserve(layout.pieces(), flags, extra) else {
        sys_txq_stop(q);
        drop(g);
        return drop_skb(Some(q));
    };
    for i in 0..res.pieces() {
        // SAFETY: `skb` is ours and unchanged since the layout was built.
        let (Some(gref), Some(gfn)) = (res.gref(i), unsafe { tx_piece_gfn(skb, &layout, i) })
        else {
            continue;
        };
        // SAFETY: `gref` is reserved for this piece; the skb stays alive
        // until the completion frees it.
        unsafe { sys::gnttab_grant_foreign_access_ref(gref, domid, gfn, 1) };
    }
    if let Err(e) = tx.post(res, Skb(skb)) {
        q.set_broken("tx", &e);
        drop(g);
        return sys::XPN_NETDEV_TX_OK;
    }
    let notify = tx.push();
    q.stats.inc(Counter::TxPackets);
    q.stats.add(Counter::TxBytes, len as u64);
    q.tx_gc(tx);
    if tx.need_stop() {
        sys_txq_stop(q);
    }
    drop(g);
    if notify {
        q.notify_tx();
    }
    sys::XPN_NETDEV_TX_OK
}

fn sys_txq_stop(q: &Queue) {
    q.stats.inc(Counter::TxStops);
    // SAFETY: the device's net_device is alive.
    unsafe { sys::xpn_txq_stop(q.dev().netdev, q.index as u32) };
}

unsafe extern "C" fn ndo_get_stats64(netdev: *mut sys::net_device, s: *mut sys::rtnl_link_stats64) {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    let sum = |c: Counter| d.queues.iter().map(|q| q.stats.get(c)).sum::<u64>();
    // SAFETY: `s` is the caller's stats buffer.
    unsafe {
        sys::xpn_stats64_set(
            s.cast(),
            sum(Counter::RxPackets),
            sum(Counter::TxPackets),
            sum(Counter::RxBytes),
            sum(Counter::TxBytes),
            sum(Counter::RxErrors),
            sum(Counter::TxErrors),
            sum(Counter::RxDrops),
            sum(Counter::TxDrops),
        )
    };
}

unsafe extern "C" fn ndo_fix_features(
    netdev: *mut sys::net_device,
    features: sys::netdev_features_t,
) -> sys::netdev_features_t {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    // SAFETY: pure computation.
    unsafe { sys::xpn_features_allowed(features, d.offloads_allowed()) }
}

unsafe extern "C" fn ndo_set_features(
    netdev: *mut sys::net_device,
    features: sys::netdev_features_t,
) -> c_int {
    // SAFETY: pure computation on the requested features.
    let sg = unsafe { sys::xpn_features_bits(features) } & NetFeatures::SG != 0;
    // SAFETY: called by the stack (under RTNL) on our net_device.
    unsafe {
        if !sg && sys::xpn_netdev_mtu(netdev) > negotiate::ETH_DATA_LEN {
            let d = device(netdev);
            dev_info!(
                d.kdev(),
                "scatter-gather off: MTU back to {}\n",
                negotiate::ETH_DATA_LEN
            );
            sys::xpn_netdev_set_mtu(netdev, negotiate::ETH_DATA_LEN);
        }
    }
    0
}

unsafe extern "C" fn ndo_change_mtu(netdev: *mut sys::net_device, mtu: c_int) -> c_int {
    // SAFETY: called by the stack (under RTNL) on our net_device.
    let features = unsafe { sys::xpn_netdev_features(netdev) };
    // SAFETY: pure computation.
    let sg = unsafe { sys::xpn_features_bits(features) } & NetFeatures::SG != 0;
    let max = negotiate::max_mtu(sg);
    if mtu < 0 || mtu as u32 > max {
        return -(kernel::bindings::EINVAL as c_int);
    }
    // SAFETY: as above.
    unsafe { sys::xpn_netdev_set_mtu(netdev, mtu as u32) };
    0
}

struct Ops(sys::net_device_ops);
// SAFETY: never written after initialisation.
unsafe impl Sync for Ops {}

static NETDEV_OPS: Ops = Ops(sys::net_device_ops {
    ndo_open: Some(ndo_open),
    ndo_stop: Some(ndo_stop),
    ndo_start_xmit: Some(ndo_start_xmit),
    ndo_select_queue: Some(ndo_select_queue),
    ndo_get_stats64: Some(ndo_get_stats64),
    ndo_fix_features: Some(ndo_fix_features),
    ndo_set_features: Some(ndo_set_features),
    ndo_change_mtu: Some(ndo_change_mtu),
    ndo_validate_addr: Some(sys::eth_validate_addr),
    // SAFETY: all-zero is a valid `net_device_ops` (every field an Option
    // of a function pointer).
    ..unsafe { MaybeUninit::zeroed().assume_init() }
});

// ---------------------------------------------------------------------------
// Interrupts and NAPI.
// ---------------------------------------------------------------------------

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

unsafe extern "C" fn napi_poll(napi: *mut sys::napi_struct, budget: c_int) -> c_int {
    // SAFETY: `napi` is the field of a `Queue` (we only add those).
    let q = unsafe {
        &*napi
            .cast::<u8>()
            .sub(offset_of!(Queue, napi))
            .cast::<Queue>()
    };
    let d = q.dev();
    let budget = budget.max(0) as usize;
    if !d.connected.load(Ordering::Acquire) || d.is_broken() {
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
    q.rx_seen.store(rx.ring().rsp_cons(), Ordering::Release);
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

// ---------------------------------------------------------------------------
// Creation, connection, teardown.
// ---------------------------------------------------------------------------

/// A XenStore read of `dir/key` into `buf`; `None` if missing.
pub(crate) fn xs_read(dir: *const u8, key: &str, buf: &mut [u8]) -> Option<usize> {
    let mut k = [0u8; negotiate::KEY_BUF_LEN];
    let kb = k.get_mut(..key.len())?;
    kb.copy_from_slice(key.as_bytes());
    let mut len: u32 = 0;
    // SAFETY: `dir` and `k` are NUL-terminated; XBT_NIL is id 0.
    let v = unsafe {
        sys::xenbus_read(
            sys::xenbus_transaction { id: 0 },
            dir.cast(),
            k.as_ptr().cast(),
            &mut len,
        )
    };
    if v.is_null() || (v as usize) >= (-4095isize) as usize {
        return None;
    }
    let n = (len as usize).min(buf.len());
    // SAFETY: xenbus_read returned `len` bytes at `v`, which we then free.
    unsafe {
        ptr::copy_nonoverlapping(v.cast::<u8>(), buf.as_mut_ptr(), n);
        sys::kfree(v);
    }
    Some(n)
}

/// Writes `DRV_NAME-q<index>-<dir>` NUL terminated into `out`.
fn irq_name(out: &mut [u8; 24], index: usize, dir: &str) {
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
    let name = DRV_NAME.to_str().unwrap_or("xen_pv_net");
    let _ = fmt::Write::write_fmt(&mut W(out, 0), format_args!("{name}-q{index}-{dir}"));
}

/// How long to wait for the backend to change state, in 10 ms steps.
const WAIT_STEPS: u32 = 3000;

impl Device {
    /// Allocates the net_device (not registered yet) for `xb` with `mac`,
    /// offering `max_queues` queues (1 to [`MAX_QUEUES`]).
    pub(crate) fn create(
        xb: *mut sys::xenbus_device,
        mac: &[u8; 6],
        max_queues: u32,
    ) -> Result<*mut sys::net_device> {
        let size = core::mem::size_of::<Device>();
        let nq = MAX_QUEUES as u32;
        // SAFETY: plain allocation; the private area is zeroed.
        let netdev = unsafe { sys::alloc_etherdev_mqs(size as c_int, nq, nq) };
        if netdev.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: the private area is `size` zeroed bytes, suitably aligned
        // (NETDEV_ALIGN); all-zero is a valid bit pattern for every field of
        // `Device` before `connect` (null pointers, false, zero counters);
        // the TX/RX queues stay uninitialised until `connect`.
        unsafe {
            let d = sys::xpn_netdev_priv(netdev).cast::<Device>();
            ptr::addr_of_mut!((*d).netdev).write(netdev);
            ptr::addr_of_mut!((*d).xb).write(xb);
            ptr::addr_of_mut!((*d).want_queues).write(AtomicU32::new(max_queues.clamp(1, nq)));
            sys::xpn_netdev_setup(
                netdev,
                ptr::addr_of_mut!((*xb).dev),
                ptr::addr_of!(NETDEV_OPS.0).cast(),
                mac.as_ptr(),
                negotiate::max_mtu(true),
            );
            sys::xpn_netdev_init_offloads(netdev, crate::ethtool::ops());
            for i in 0..MAX_QUEUES {
                let q = ptr::addr_of_mut!((*d).queues).cast::<Queue>().add(i);
                ptr::addr_of_mut!((*q).dev).write(d);
                ptr::addr_of_mut!((*q).index).write(i);
                sys::xpn_spin_lock_init(ptr::addr_of_mut!((*q).tx_lock).cast());
                sys::xpn_timer_setup(ptr::addr_of_mut!((*q).refill_timer), Some(refill_timer));
                sys::xpn_netif_napi_add(netdev, ptr::addr_of_mut!((*q).napi), Some(napi_poll));
            }
            // No carrier until connected.
            sys::netif_carrier_off(netdev);
        }
        Ok(netdev)
    }

    /// Frees a net_device made by [`Device::create`].
    ///
    /// # Safety
    ///
    /// `netdev` is unregistered, torn down and unused.
    pub(crate) unsafe fn destroy(netdev: *mut sys::net_device) {
        // SAFETY: caller; NAPI was added in `create` and is disabled.
        unsafe {
            let d = device(netdev);
            for q in &d.queues {
                sys::xpn_netif_napi_del(q.napi_ptr());
            }
            sys::free_netdev(netdev);
        }
    }

    /// Connects to the backend (`xennet_connect`): rings, grants, event
    /// channels and RX buffers of every queue, the XenStore transaction,
    /// and state Connected. `rtnl_held`: the caller holds the RTNL lock
    /// (`ethtool -L`).
    pub(crate) fn connect(&self, rtnl_held: bool) -> Result {
        // SAFETY: `xb` is live; `otherend` is a C string.
        let other = unsafe { (*self.xb).otherend }.cast::<u8>();
        let features = BackendFeatures::read(|key, buf| xs_read(other, key, buf)).map_err(|e| {
            dev_err!(self.kdev(), "cannot connect: {}\n", sys::Disp(&e));
            ENODEV
        })?;
        let config = FrontendConfig {
            max_queues: self.want_queues.load(Ordering::Acquire),
            ..FrontendConfig::default()
        };
        let plan = negotiate::plan(&features, &config).map_err(|e| {
            dev_err!(self.kdev(), "cannot connect: {}\n", sys::Disp(&e));
            ENODEV
        })?;
        let n = (plan.num_queues as usize).min(MAX_QUEUES);
        self.backend_max_queues
            .store(features.max_queues, Ordering::Release);
        self.offloads.store(plan.features.bits(), Ordering::Release);
        for q in self.queues.iter().take(n) {
            if let Err(e) = self.setup_queue(q, plan.split_event_channels) {
                self.teardown_queues(n);
                return Err(e);
            }
        }
        if let Err(e) = self.publish(&plan, n) {
            self.teardown_queues(n);
            return Err(e);
        }
        // SAFETY: `netdev` is ours; the TX queues exist (allocated in
        // `create`).
        let r = unsafe {
            sys::xpn_set_real_num_queues(
                self.netdev,
                n as u32,
                !rtnl_held && self.registered.load(Ordering::Acquire),
            )
        };
        if r != 0 {
            dev_err!(self.kdev(), "cannot set {} queues ({})\n", n, r);
            self.teardown_queues(n);
            return Err(Error::from_errno(r));
        }
        self.num_queues.store(n, Ordering::Release);
        // SAFETY: `xb` is live.
        kernel::error::to_result(unsafe {
            sys::xenbus_switch_state(self.xb, sys::xenbus_state_XenbusStateConnected)
        })?;
        self.connected.store(true, Ordering::Release);
        if self.registered.load(Ordering::Acquire) {
            // SAFETY: registered net_device; takes RTNL unless held.
            unsafe { sys::xpn_netdev_update_features(self.netdev, !rtnl_held) };
        }
        self.set_carrier(true);
        dev_info!(
            self.kdev(),
            "connected to backend domain {} (queues: {} of at most {}, {} event channels, sg {}, tso {}, tso6 {})\n",
            self.otherend_id(),
            n,
            features.max_queues,
            if plan.split_event_channels { "split" } else { "shared" },
            plan.features.sg,
            plan.features.tso,
            plan.features.tso6,
        );
        Ok(())
    }

    /// Binds event channel `evtchn` of queue `q` to `handler` with the
    /// late-EOI variant, naming the interrupt `xen_pv_net-q<N>-<dir>` in
    /// `name`; returns the irq. (An unbound channel is freed by teardown.)
    fn bind(
        &self,
        q: &Queue,
        evtchn: u32,
        handler: sys::irq_handler_t,
        name: &mut [u8; 24],
        dir: &str,
    ) -> Result<c_int> {
        irq_name(name, q.index, dir);
        // SAFETY: `q` outlives the binding (unbound in teardown); `name`
        // lives in `q.conn` as long as the binding.
        let irq = unsafe {
            sys::bind_evtchn_to_irqhandler_lateeoi(
                evtchn,
                handler,
                0,
                name.as_ptr().cast(),
                ptr::from_ref(q).cast_mut().cast(),
            )
        };
        if irq < 0 {
            Err(Error::from_errno(irq))
        } else {
            Ok(irq)
        }
    }

    fn setup_queue(&self, q: &Queue, split: bool) -> Result {
        // SAFETY: connect runs from the xenbus callbacks or `ethtool -L`,
        // serialised, with NAPI of this queue disabled and its irqs not
        // bound: `conn`, `tx`, `rx` and `stash` are ours.
        let conn = unsafe { &mut *q.conn.get() };
        let mut head: GrantRef = 0;
        let total = (TX_RING_SIZE + RX_RING_SIZE) as u16;
        // SAFETY: reserves `total` references into `head`.
        kernel::error::to_result(unsafe { sys::gnttab_alloc_grant_references(total, &mut head) })
            .inspect_err(|_| dev_err!(self.kdev(), "cannot allocate {} grant references\n", total))?;
        for r in Iterator::chain(conn.tx_refs.iter_mut(), conn.rx_refs.iter_mut()) {
            // SAFETY: `head` holds `total` references.
            *r = unsafe { sys::gnttab_claim_grant_reference(&mut head) } as GrantRef;
        }
        conn.grefs_claimed = true;
        let gfp = sys::XPN_GFP_RING;
        // SAFETY: `xb` is live; the outputs are ours.
        kernel::error::to_result(unsafe {
            sys::xenbus_setup_ring(self.xb, gfp, &mut conn.tx_ring, 1, &mut conn.tx_ring_ref)
        })?;
        // SAFETY: as above.
        kernel::error::to_result(unsafe {
            sys::xenbus_setup_ring(self.xb, gfp, &mut conn.rx_ring, 1, &mut conn.rx_ring_ref)
        })?;
        let tx_page = NonNull::new(conn.tx_ring.cast::<u8>()).ok_or(ENOMEM)?;
        let rx_page = NonNull::new(conn.rx_ring.cast::<u8>()).ok_or(ENOMEM)?;
        // SAFETY: each ring page is a page-aligned page shared only with
        // the backend, used only through these rings until teardown.
        let (tx_ring, rx_ring) = unsafe { (FrontRing::new(tx_page), FrontRing::new(rx_page)) };
        // SAFETY: exclusive access as stated above.
        let (tx, rx) = unsafe { (&mut *q.tx.get(), &mut *q.rx.get()) };
        TxQueue::init(tx, tx_ring, &conn.tx_refs).map_err(|_| EINVAL)?;
        RxQueue::init(rx, rx_ring, &conn.rx_refs).map_err(|_| EINVAL)?;
        conn.queues_ready = true;
        q.rx_seen.store(0, Ordering::Release);
        // SAFETY: `xb` is live.
        kernel::error::to_result(unsafe {
            sys::xenbus_alloc_evtchn(self.xb, &mut conn.evtchn_tx)
        })?;
        conn.evtchn_rx = conn.evtchn_tx;
        if split {
            // SAFETY: `xb` is live.
            if let Err(e) = kernel::error::to_result(unsafe {
                sys::xenbus_alloc_evtchn(self.xb, &mut conn.evtchn_rx)
            }) {
                conn.evtchn_rx = 0;
                return Err(e);
            }
            let [tx_name, rx_name] = &mut conn.irq_names;
            conn.irq_tx = self.bind(q, conn.evtchn_tx, Some(interrupt_tx), tx_name, "tx")?;
            conn.irq_rx = self.bind(q, conn.evtchn_rx, Some(interrupt_rx), rx_name, "rx")?;
        } else {
            let [name, _] = &mut conn.irq_names;
            conn.irq_tx = self.bind(q, conn.evtchn_tx, Some(interrupt), name, "txrx")?;
        }
        // SAFETY: initialised above, exclusive.
        let (rx, stash) = unsafe { ((*q.rx.get()).assume_init_mut(), &mut *q.stash.get()) };
        q.rx_refill(rx, stash);
        Ok(())
    }

    /// Writes our keys in one transaction, retried on EAGAIN.
    fn publish(&self, plan: &ConnectPlan, n: usize) -> Result {
        let mut keys = [QueueKeys::default(); MAX_QUEUES];
        for (k, q) in keys.iter_mut().zip(self.queues.iter()).take(n) {
            let c = q.conn();
            *k = QueueKeys {
                tx_ring_ref: c.tx_ring_ref,
                rx_ring_ref: c.rx_ring_ref,
                evtchn_tx: c.evtchn_tx,
                evtchn_rx: c.evtchn_rx,
            };
        }
        let keys = keys.get(..n).ok_or(EINVAL)?;
        // SAFETY: `xb` is live.
        let node = unsafe { (*self.xb).nodename };
        loop {
            let mut t = sys::xenbus_transaction { id: 0 };
            // SAFETY: plain XenStore call.
            kernel::error::to_result(unsafe { sys::xenbus_transaction_start(&mut t) })
                .inspect_err(|_| dev_err!(self.kdev(), "cannot start XenStore transaction\n"))?;
            let writes = negotiate::frontend_writes(plan, keys).map_err(|_| EINVAL)?;
            let mut failed = None;
            for w in writes {
                // SAFETY: key and value are NUL-terminated buffers.
                let r = unsafe {
                    sys::xenbus_write(
                        t,
                        node,
                        w.key_with_nul().as_ptr().cast(),
                        w.value_with_nul().as_ptr().cast(),
                    )
                };
                if r != 0 {
                    failed = Some((r, w));
                    break;
                }
            }
            if let Some((r, w)) = failed {
                // SAFETY: aborts the transaction.
                unsafe { sys::xenbus_transaction_end(t, true) };
                dev_err!(self.kdev(), "writing {} failed ({})\n", w.key(), r);
                return Err(Error::from_errno(r));
            }
            // SAFETY: commits the transaction.
            let r = unsafe { sys::xenbus_transaction_end(t, false) };
            if r == -(sys::XPN_EAGAIN as c_int) {
                continue;
            }
            if r != 0 {
                dev_err!(
                    self.kdev(),
                    "completing XenStore transaction failed ({})\n",
                    r
                );
            }
            return kernel::error::to_result(r);
        }
    }

    /// Backend went away: stop using the rings (they are torn down in
    /// `teardown`, after the backend closed).
    pub(crate) fn disconnect(&self) {
        self.connected.store(false, Ordering::Release);
        self.stop_tx_all();
        self.set_carrier(false);
    }

    /// Releases everything `connect` set up. NAPI must be disabled (the
    /// interface is down or unregistered) and the backend closed.
    pub(crate) fn teardown(&self) {
        self.disconnect();
        self.num_queues.store(0, Ordering::Release);
        // Every queue: those beyond the last count may hold a failed
        // connection's leftovers (set-up queues are recognised by state).
        self.teardown_queues(MAX_QUEUES);
    }

    /// Tears down the first `n` queues (those set up are recognised by
    /// their state).
    fn teardown_queues(&self, n: usize) {
        for q in self.queues.iter().take(n) {
            self.teardown_queue(q);
        }
    }

    fn teardown_queue(&self, q: &Queue) {
        // SAFETY: set up in `create`; only NAPI (disabled now) arms it.
        unsafe { sys::xpn_timer_shutdown(q.timer_ptr()) };
        // SAFETY: called from remove/connect failure/`ethtool -L`,
        // serialised with the xenbus callbacks, with NAPI disabled.
        let conn = unsafe { &mut *q.conn.get() };
        let split = conn.evtchn_rx != conn.evtchn_tx;
        for (irq, evtchn, used) in [
            (&mut conn.irq_tx, &mut conn.evtchn_tx, true),
            (&mut conn.irq_rx, &mut conn.evtchn_rx, split),
        ] {
            if *irq > 0 {
                // SAFETY: bound in `setup_queue` with `q` as dev_id; this
                // also closes the event channel.
                unsafe {
                    sys::unbind_from_irqhandler(*irq as u32, ptr::from_ref(q).cast_mut().cast())
                };
            } else if used && *evtchn != 0 {
                // Allocated but never bound (setup failed half-way).
                // SAFETY: `xb` is live; the channel is ours and unbound.
                unsafe { sys::xenbus_free_evtchn(self.xb, *evtchn) };
            }
            *irq = 0;
            *evtchn = 0;
        }
        // SAFETY: NAPI is disabled, the stash is ours.
        let stash = unsafe { &mut *q.stash.get() };
        if conn.queues_ready {
            // SAFETY: initialised in `setup_queue`; nothing else uses them
            // any more.
            let (tx, rx) = unsafe {
                (
                    (*q.tx.get()).assume_init_mut(),
                    (*q.rx.get()).assume_init_mut(),
                )
            };
            tx.release_all(|c, pool| q.complete_tx(c, pool));
            rx.release_all(|page, grant, pool| {
                if self.end_access(grant.gref()) {
                    let _ = pool.free(grant);
                    stash.put(page.0);
                }
            });
            conn.queues_ready = false;
        }
        if conn.grefs_claimed {
            // A broken device may have grants the backend still uses: their
            // references are leaked rather than reused.
            if !self.grant_stuck.load(Ordering::Acquire) {
                for &r in Iterator::chain(conn.tx_refs.iter(), conn.rx_refs.iter()) {
                    // SAFETY: claimed in `setup_queue`, no longer granted.
                    unsafe { sys::gnttab_free_grant_reference(r) };
                }
            }
            conn.grefs_claimed = false;
        }
        stash.free_all();
        for (ring, gref) in [
            (&mut conn.tx_ring, &mut conn.tx_ring_ref),
            (&mut conn.rx_ring, &mut conn.rx_ring_ref),
        ] {
            if !ring.is_null() {
                // SAFETY: set up by `xenbus_setup_ring`; ends the grant
                // (deferring the free if the backend still maps it).
                unsafe { sys::xenbus_teardown_ring(ring, 1, gref) };
            }
        }
    }

    /// Whether backend state changes are being handled by `ethtool -L`.
    pub(crate) fn reconfiguring(&self) -> bool {
        self.reconfiguring.load(Ordering::Acquire)
    }

    /// The backend's state.
    pub(crate) fn backend_state(&self) -> XenbusState {
        // SAFETY: `xb` is live.
        XenbusState::from_u32(unsafe { sys::xpn_otherend_state(self.xb) } as u32)
            .unwrap_or(XenbusState::Unknown)
    }

    /// Switches to `state` and waits (bounded, sleeping) for the backend to
    /// reach one of `until`.
    pub(crate) fn switch_and_wait(&self, state: XenbusState, until: &[XenbusState]) -> bool {
        // SAFETY: `xb` is live.
        unsafe { sys::xenbus_switch_state(self.xb, state.as_u32()) };
        self.wait_backend(until)
    }

    /// Waits (bounded, sleeping) until the backend's state satisfies `ok`.
    pub(crate) fn wait_backend_until(&self, ok: impl Fn(XenbusState) -> bool) -> bool {
        for _ in 0..WAIT_STEPS {
            if ok(self.backend_state()) {
                return true;
            }
            // SAFETY: process context, may sleep.
            unsafe { sys::msleep(10) };
        }
        false
    }

    /// Waits (bounded, sleeping) for the backend to reach one of `until`;
    /// warns if it does not.
    fn wait_backend(&self, until: &[XenbusState]) -> bool {
        let reached = self.wait_backend_until(|s| until.contains(&s));
        if !reached {
            dev_warn!(self.kdev(), "backend did not reach {:?} in time\n", until);
        }
        reached
    }

    /// Changes the number of queues (`ethtool -L`, RTNL held): closes the
    /// connection with the backend, reopens it with `n` queues and restarts
    /// traffic.
    ///
    /// The frontend reconnects straight from Closed: xen-netback walks from
    /// Closed through InitWait to Connected when it sees the frontend
    /// Connected, reading the new keys. (Announcing Initialising instead
    /// would look to the xenbus core like a toolstack reset of the device,
    /// which it answers by removing and re-probing the device.)
    pub(crate) fn set_queues(&self, n: u32) -> Result {
        use XenbusState::{Closed, Closing, Connected, Unknown};
        if !self.connected.load(Ordering::Acquire) || self.is_broken() {
            return Err(ENODEV);
        }
        self.reconfiguring.store(true, Ordering::Release);
        let up = self.up.load(Ordering::Acquire);
        if up {
            self.stop_queues();
        }
        self.disconnect();
        let closed = self.switch_and_wait(Closing, &[Closing, Closed, Unknown])
            && self.switch_and_wait(Closed, &[Closed]);
        self.teardown();
        self.want_queues.store(n, Ordering::Release);
        let r = if closed {
            self.connect(true)
        } else {
            dev_err!(
                self.kdev(),
                "backend did not close: cannot change the number of queues, device down\n"
            );
            Err(ETIMEDOUT)
        };
        if r.is_ok() {
            // Traffic flows once the backend is connected too (it warns
            // if it does not get there).
            self.wait_backend(&[Connected]);
        }
        if r.is_ok() && up {
            self.start_queues();
        }
        self.reconfiguring.store(false, Ordering::Release);
        r
    }
}

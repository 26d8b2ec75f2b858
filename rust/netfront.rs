// SPDX-License-Identifier: GPL-2.0

//! The network device: kernel glue between the `net_device`, NAPI, the
//! event channel and grant table on one side, and the kernel-independent
//! TX/RX bookkeeping of [`crate::queue`] on the other.
//!
//! One [`Device`] lives in the private area of each `net_device`. Its TX
//! state is shared by `ndo_start_xmit` and the interrupt handler and is
//! guarded by an irq-safe spinlock; its RX state belongs to NAPI (and to
//! connect/teardown, which run with NAPI disabled or not yet enabled).

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void, CStr};
use core::fmt;
use core::mem::{offset_of, MaybeUninit};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kernel::prelude::*;

use crate::grant::GrantPool;
use crate::negotiate::{self, BackendFeatures, ConnectPlan, FrontendConfig, QueueKeys};
use crate::netif::{GrantRef, NETTXF_DATA_VALIDATED, SRING_RSP_PROD_OFFSET};
use crate::queue::{
    split_pages, QueueError, RxEvent, RxQueue, TxCompletion, TxPiece, TxQueue, TxStatus,
    MAX_TX_PIECES, RX_RING_SIZE, TX_RING_SIZE,
};
use crate::ring::FrontRing;
use crate::sys;

/// Name of the driver, in logs and as the interrupt's name.
pub(crate) const DRV_NAME: &CStr = c"xen_pv_net";

/// `CHECKSUM_UNNECESSARY` from `include/linux/skbuff.h`.
const CHECKSUM_UNNECESSARY: u32 = 1;

/// A transmitted packet (owned by the TX ring until completed).
#[derive(Clone, Copy)]
pub(crate) struct Skb(*mut sys::sk_buff);

/// An RX buffer page (owned by the RX ring while posted).
#[derive(Clone, Copy)]
pub(crate) struct Page(*mut sys::page);

/// Counters behind `ndo_get_stats64`.
#[derive(Default)]
struct Stats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_errors: AtomicU64,
    rx_dropped: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_errors: AtomicU64,
    tx_dropped: AtomicU64,
}

fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// What a connection to the backend holds; set up by [`Device::connect`].
struct Conn {
    tx_ring: *mut c_void,
    rx_ring: *mut c_void,
    tx_ring_ref: GrantRef,
    rx_ring_ref: GrantRef,
    evtchn: u32,
    irq: c_int,
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

/// The driver's private part of a `net_device`.
pub(crate) struct Device {
    napi: sys::napi_struct,
    netdev: *mut sys::net_device,
    xb: *mut sys::xenbus_device,
    tx_lock: sys::spinlock_t,
    tx: UnsafeCell<MaybeUninit<TxQueue<Skb>>>,
    rx: UnsafeCell<MaybeUninit<RxQueue<Page>>>,
    stash: UnsafeCell<PageStash>,
    conn: UnsafeCell<Conn>,
    /// The rings and queues are set up.
    connected: AtomicBool,
    /// The backend misbehaved: the device is disabled.
    broken: AtomicBool,
    /// The backend kept access to a page it had to give back: from now on
    /// no TX skb or RX page is freed (they are leaked, never reused).
    grant_stuck: AtomicBool,
    /// `register_netdev` succeeded.
    pub(crate) registered: AtomicBool,
    /// RX responses consumed so far (published by NAPI for the interrupt
    /// handler's spurious-event check).
    rx_seen: AtomicU32,
    stats: Stats,
}

/// Guard of [`Device::tx_lock`]; gives the TX queue while held.
struct TxGuard<'a> {
    dev: &'a Device,
    flags: kernel::ffi::c_ulong,
}

impl TxGuard<'_> {
    fn queue(&mut self) -> &mut TxQueue<Skb> {
        // SAFETY: the lock is held, the queue was initialised by `connect`
        // (`lock_tx` is only called while `connected`), and `&mut self`
        // prevents a second borrow through this guard.
        unsafe { (*self.dev.tx.get()).assume_init_mut() }
    }
}

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `lock_tx` with these flags.
        unsafe { sys::xpn_spin_unlock_irqrestore(self.dev.tx_lock_ptr(), self.flags) };
    }
}

/// Why the device was disabled.
pub(crate) enum Broken<'a> {
    /// A TX or RX response was invalid.
    Queue(&'static str, &'a dyn fmt::Display),
    /// The backend still has access to a page we must take back.
    GrantInUse(GrantRef),
}

impl fmt::Display for Broken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::Queue(dir, e) => write!(f, "{dir}: {e}"),
            Broken::GrantInUse(r) => {
                write!(f, "backend still has access to grant {r}; page leaked")
            }
        }
    }
}

impl Device {
    fn tx_lock_ptr(&self) -> *mut c_void {
        ptr::addr_of!(self.tx_lock).cast_mut().cast()
    }

    fn lock_tx(&self) -> TxGuard<'_> {
        // SAFETY: `tx_lock` was initialised in `Device::create`.
        let flags = unsafe { sys::xpn_spin_lock_irqsave(self.tx_lock_ptr()) };
        TxGuard { dev: self, flags }
    }

    fn kdev(&self) -> &kernel::device::Device {
        // SAFETY: `xb` outlives the net_device (it is freed in `remove`
        // after the net_device); `dev` is embedded in it.
        unsafe { kernel::device::Device::from_raw(ptr::addr_of_mut!((*self.xb).dev).cast()) }
    }

    fn otherend_id(&self) -> u16 {
        // SAFETY: see `kdev`.
        unsafe { (*self.xb).otherend_id as u16 }
    }

    fn irq(&self) -> c_int {
        // SAFETY: `conn` is only written by connect/teardown, which do not
        // run concurrently with the data path.
        unsafe { (*self.conn.get()).irq }
    }

    fn notify(&self) {
        // SAFETY: the irq is bound while connected.
        unsafe { sys::notify_remote_via_irq(self.irq()) };
    }

    /// Disables the device after the backend misbehaved. Logged once.
    pub(crate) fn set_broken(&self, why: Broken<'_>) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            dev_err!(
                self.kdev(),
                "device broken, disabled: {}\n",
                sys::Disp(&why)
            );
            // SAFETY: the net_device is alive; both calls are safe in any
            // context.
            unsafe {
                sys::xpn_txq_stop(self.netdev, 0);
                sys::netif_carrier_off(self.netdev);
            }
        }
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

    /// Handles TX completions (called with the TX lock held). Returns the
    /// number of completed slots.
    fn tx_gc(&self, tx: &mut TxQueue<Skb>) -> usize {
        let done = tx.poll(|c: TxCompletion<Skb>, pool: &mut GrantPool<TX_RING_SIZE>| {
            self.complete_tx(c, pool)
        });
        match done {
            Ok(n) => n,
            Err(e) => {
                self.set_broken(Broken::Queue("tx", &e));
                0
            }
        }
    }

    fn complete_tx(&self, c: TxCompletion<Skb>, pool: &mut GrantPool<TX_RING_SIZE>) {
        if self.end_access(c.grant.gref()) {
            if let Err(e) = pool.free(c.grant) {
                self.set_broken(Broken::Queue("tx grant", &e));
            }
        }
        if self.grant_stuck.load(Ordering::Acquire) {
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
                    inc(&self.stats.tx_errors, 1);
                    sys::xpn_kfree_skb_any(c.token.0);
                }
            }
        }
    }

    /// Handles one received packet: copies it into a new skb, hands it to
    /// the stack and takes its pages back for reuse.
    fn rx_packet(
        &self,
        pkt: &crate::queue::RxPacket<Page>,
        pool: &mut GrantPool<RX_RING_SIZE>,
        stash: &mut PageStash,
    ) {
        let napi = ptr::addr_of!(self.napi).cast_mut();
        // SAFETY: NAPI context; `len` is at most 64 KiB (validated).
        let skb = unsafe { sys::xpn_rx_skb_alloc(napi, pkt.len()) };
        for f in pkt.frags() {
            if !skb.is_null() {
                // SAFETY: the page is ours until we re-post it, and
                // `offset + len` lies within it (validated by the queue).
                unsafe {
                    let base = sys::xpn_page_address(f.token.0).cast::<u8>();
                    sys::xpn_skb_put_data(
                        skb,
                        base.add(usize::from(f.offset)).cast(),
                        f.len.into(),
                    );
                }
            }
            if self.end_access(f.grant.gref()) {
                if let Err(e) = pool.free(f.grant) {
                    self.set_broken(Broken::Queue("rx grant", &e));
                }
                stash.put(f.token.0);
            }
        }
        if skb.is_null() {
            inc(&self.stats.rx_dropped, 1);
            return;
        }
        // SAFETY: `skb` is a complete frame we own; consumed by the call.
        let r = unsafe {
            sys::xpn_rx_deliver(
                napi,
                self.netdev,
                skb,
                pkt.csum_blank(),
                pkt.data_validated(),
            )
        };
        if r == 0 {
            inc(&self.stats.rx_packets, 1);
            inc(&self.stats.rx_bytes, pkt.len().into());
        } else {
            inc(&self.stats.rx_errors, 1);
        }
    }

    /// Posts RX buffers into every free slot; notifies the backend if needed.
    fn rx_refill(&self, rx: &mut RxQueue<Page>, stash: &mut PageStash) {
        let domid = self.otherend_id();
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
            Ok(f) if f.notify => self.notify(),
            Ok(_) => {}
            Err(e) => self.set_broken(Broken::Queue("rx", &e)),
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
unsafe fn device<'a>(netdev: *mut sys::net_device) -> &'a Device {
    // SAFETY: the private area holds an initialised `Device` (caller).
    unsafe { &*sys::xpn_netdev_priv(netdev).cast::<Device>() }
}

unsafe extern "C" fn ndo_open(netdev: *mut sys::net_device) -> c_int {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    let napi = ptr::addr_of!(d.napi).cast_mut();
    // SAFETY: NAPI was added in `create`; the stack serialises open/stop.
    unsafe {
        sys::napi_enable(napi);
        sys::xpn_txq_wake(netdev, 0);
        sys::xpn_napi_schedule(napi);
    }
    0
}

unsafe extern "C" fn ndo_stop(netdev: *mut sys::net_device) -> c_int {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    // SAFETY: NAPI is enabled (by `ndo_open`).
    unsafe {
        sys::xpn_txq_stop(netdev, 0);
        sys::napi_disable(ptr::addr_of!(d.napi).cast_mut());
    }
    0
}

unsafe extern "C" fn ndo_start_xmit(
    skb: *mut sys::sk_buff,
    netdev: *mut sys::net_device,
) -> sys::netdev_tx_t {
    // SAFETY: called by the stack on our net_device with an skb we now own.
    let d = unsafe { device(netdev) };
    let drop_skb = |d: &Device| {
        inc(&d.stats.tx_dropped, 1);
        // SAFETY: we own `skb`.
        unsafe { sys::xpn_kfree_skb_any(skb) };
        sys::XPN_NETDEV_TX_OK
    };
    if !d.connected.load(Ordering::Acquire) || d.is_broken() {
        return drop_skb(d);
    }
    // Without NETIF_F_SG the stack hands us linear skbs; be safe anyway.
    // SAFETY: we own `skb`.
    if unsafe { sys::xpn_skb_nr_frags(skb) } != 0 && unsafe { sys::xpn_skb_linearize(skb) } != 0 {
        return drop_skb(d);
    }
    // SAFETY: we own `skb`; it is linear.
    let (data, len, summed) = unsafe {
        (
            sys::xpn_skb_data(skb) as usize,
            sys::xpn_skb_len(skb) as usize,
            sys::xpn_skb_ip_summed(skb),
        )
    };
    let mut pieces = [TxPiece::default(); MAX_TX_PIECES];
    let Some(n) = split_pages(data, len, &mut pieces) else {
        return drop_skb(d);
    };
    let flags = if summed == CHECKSUM_UNNECESSARY {
        NETTXF_DATA_VALIDATED
    } else {
        0
    };
    let domid = d.otherend_id();
    let mut g = d.lock_tx();
    let tx = g.queue();
    let res = match tx.reserve(&pieces[..n], flags, None) {
        Ok(r) => r,
        Err(_) => {
            sys_txq_stop(netdev);
            drop(g);
            return drop_skb(d);
        }
    };
    let mut addr = data;
    for (i, p) in pieces[..n].iter().enumerate() {
        if let Some(gref) = res.gref(i) {
            // SAFETY: `gref` is reserved for this piece; the skb data stays
            // alive until the completion frees the skb.
            unsafe {
                sys::gnttab_grant_foreign_access_ref(
                    gref,
                    domid,
                    sys::xpn_virt_to_gfn(addr as *const c_void),
                    1,
                )
            };
        }
        addr += usize::from(p.len);
    }
    if let Err(e) = tx.post(res, Skb(skb)) {
        d.set_broken(Broken::Queue("tx", &e));
        drop(g);
        return sys::XPN_NETDEV_TX_OK;
    }
    let notify = tx.push();
    inc(&d.stats.tx_packets, 1);
    inc(&d.stats.tx_bytes, len as u64);
    d.tx_gc(tx);
    if tx.need_stop() {
        sys_txq_stop(netdev);
    }
    drop(g);
    if notify {
        d.notify();
    }
    sys::XPN_NETDEV_TX_OK
}

fn sys_txq_stop(netdev: *mut sys::net_device) {
    // SAFETY: `netdev` is our live net_device.
    unsafe { sys::xpn_txq_stop(netdev, 0) };
}

unsafe extern "C" fn ndo_get_stats64(netdev: *mut sys::net_device, s: *mut sys::rtnl_link_stats64) {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { device(netdev) };
    let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let st = &d.stats;
    // SAFETY: `s` is the caller's stats buffer.
    unsafe {
        sys::xpn_stats64_set(
            s.cast(),
            v(&st.rx_packets),
            v(&st.tx_packets),
            v(&st.rx_bytes),
            v(&st.tx_bytes),
            v(&st.rx_errors),
            v(&st.tx_errors),
            v(&st.rx_dropped),
            v(&st.tx_dropped),
        )
    };
}

struct Ops(sys::net_device_ops);
// SAFETY: never written after initialisation.
unsafe impl Sync for Ops {}

static NETDEV_OPS: Ops = Ops(sys::net_device_ops {
    ndo_open: Some(ndo_open),
    ndo_stop: Some(ndo_stop),
    ndo_start_xmit: Some(ndo_start_xmit),
    ndo_get_stats64: Some(ndo_get_stats64),
    ndo_validate_addr: Some(sys::eth_validate_addr),
    // SAFETY: all-zero is a valid `net_device_ops` (every field an Option
    // of a function pointer).
    ..unsafe { MaybeUninit::zeroed().assume_init() }
});

// ---------------------------------------------------------------------------
// Interrupt and NAPI.
// ---------------------------------------------------------------------------

unsafe extern "C" fn interrupt(irq: c_int, dev_id: *mut c_void) -> sys::irqreturn_t {
    // SAFETY: `dev_id` is the `Device` we bound the irq with; it outlives
    // the binding.
    let d = unsafe { &*dev_id.cast::<Device>() };
    if d.is_broken() {
        // No EOI: the event channel stays masked, a misbehaving backend
        // cannot keep us busy.
        return sys::XPN_IRQ_HANDLED as _;
    }
    let mut eoi = sys::XPN_EOI_FLAG_SPURIOUS;
    {
        let mut g = d.lock_tx();
        let tx = g.queue();
        if d.tx_gc(tx) > 0 {
            eoi = 0;
        }
        // SAFETY: our live net_device.
        if tx.can_wake() && unsafe { sys::xpn_txq_stopped(d.netdev, 0) } {
            // SAFETY: as above.
            unsafe { sys::xpn_txq_wake(d.netdev, 0) };
        }
    }
    // SAFETY: `conn` is stable while the irq is bound; the RX ring page is
    // mapped; rsp_prod is read volatile, it is the backend's.
    let rsp_prod = unsafe {
        let page = (*d.conn.get()).rx_ring.cast::<u8>();
        ptr::read_volatile(page.add(SRING_RSP_PROD_OFFSET).cast::<u32>())
    };
    if rsp_prod != d.rx_seen.load(Ordering::Acquire) {
        eoi = 0;
        // SAFETY: NAPI was added in `create`.
        unsafe { sys::xpn_napi_schedule(ptr::addr_of!(d.napi).cast_mut()) };
    }
    // SAFETY: `irq` is ours, bound with the late-EOI variant.
    unsafe { sys::xen_irq_lateeoi(irq as u32, eoi) };
    sys::XPN_IRQ_HANDLED as _
}

unsafe extern "C" fn napi_poll(napi: *mut sys::napi_struct, budget: c_int) -> c_int {
    // SAFETY: `napi` is the field of a `Device` (we only add that one).
    let d = unsafe {
        &*napi
            .cast::<u8>()
            .sub(offset_of!(Device, napi))
            .cast::<Device>()
    };
    let budget = budget.max(0) as usize;
    if !d.connected.load(Ordering::Acquire) || d.is_broken() {
        // SAFETY: we are the NAPI poller.
        unsafe { sys::napi_complete_done(napi, 0) };
        return 0;
    }
    // SAFETY: NAPI serialises polls; connect/teardown do not run while NAPI
    // is enabled and scheduled, so RX state is ours.
    let (rx, stash) = unsafe { ((*d.rx.get()).assume_init_mut(), &mut *d.stash.get()) };
    let res = rx.poll(budget, |ev, pool| match ev {
        RxEvent::Packet(pkt) => d.rx_packet(&pkt, pool, stash),
        // The backend reported an error for this packet: count it.
        RxEvent::Dropped(QueueError::ErrorStatus { .. }) => inc(&d.stats.rx_errors, 1),
        // The backend wrote something invalid.
        RxEvent::Dropped(e) => d.set_broken(Broken::Queue("rx", &e)),
    });
    let work = match res {
        Ok(p) => p.work(),
        Err(e) => {
            d.set_broken(Broken::Queue("rx", &e));
            // SAFETY: we are the NAPI poller.
            unsafe { sys::napi_complete_done(napi, 0) };
            return 0;
        }
    };
    d.rx_refill(rx, stash);
    d.rx_seen.store(rx.ring().rsp_cons(), Ordering::Release);
    if work < budget {
        match rx.final_check() {
            // More arrived: stay scheduled.
            Ok(true) => return budget as c_int,
            Ok(false) => {}
            Err(e) => d.set_broken(Broken::Queue("rx", &e)),
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

impl Device {
    /// Allocates the net_device (not registered yet) for `xb` with `mac`.
    pub(crate) fn create(
        xb: *mut sys::xenbus_device,
        mac: &[u8; 6],
    ) -> Result<*mut sys::net_device> {
        let size = core::mem::size_of::<Device>();
        // SAFETY: plain allocation; the private area is zeroed.
        let netdev = unsafe { sys::alloc_etherdev_mqs(size as c_int, 1, 1) };
        if netdev.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: the private area is `size` zeroed bytes, suitably aligned
        // (NETDEV_ALIGN); all-zero is a valid bit pattern for every field of
        // `Device` before `connect` (null pointers, false, zero counters);
        // the queues stay uninitialised until `connect`.
        unsafe {
            let d = sys::xpn_netdev_priv(netdev).cast::<Device>();
            ptr::addr_of_mut!((*d).netdev).write(netdev);
            ptr::addr_of_mut!((*d).xb).write(xb);
            sys::xpn_spin_lock_init(ptr::addr_of_mut!((*d).tx_lock).cast());
            sys::xpn_netdev_setup(
                netdev,
                ptr::addr_of_mut!((*xb).dev),
                ptr::addr_of!(NETDEV_OPS.0).cast(),
                mac.as_ptr(),
                sys::XPN_ETH_DATA_LEN,
            );
            sys::xpn_netif_napi_add(netdev, ptr::addr_of_mut!((*d).napi), Some(napi_poll));
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
            sys::xpn_netif_napi_del(ptr::addr_of!(d.napi).cast_mut());
            sys::free_netdev(netdev);
        }
    }

    /// Connects to the backend (`xennet_connect`): rings, grants, event
    /// channel, RX buffers, the XenStore transaction, and state Connected.
    pub(crate) fn connect(&self, config: &FrontendConfig) -> Result {
        // SAFETY: `xb` is live; `otherend` is a C string.
        let other = unsafe { (*self.xb).otherend }.cast::<u8>();
        let features = BackendFeatures::read(|key, buf| xs_read(other, key, buf)).map_err(|e| {
            dev_err!(self.kdev(), "cannot connect: {}\n", sys::Disp(&e));
            ENODEV
        })?;
        let plan = negotiate::plan(&features, config).map_err(|e| {
            dev_err!(self.kdev(), "cannot connect: {}\n", sys::Disp(&e));
            ENODEV
        })?;
        if let Err(e) = self.setup_rings() {
            self.teardown();
            return Err(e);
        }
        if let Err(e) = self.publish(&plan) {
            self.teardown();
            return Err(e);
        }
        // SAFETY: `xb` is live.
        kernel::error::to_result(unsafe {
            sys::xenbus_switch_state(self.xb, sys::xenbus_state_XenbusStateConnected)
        })?;
        self.connected.store(true, Ordering::Release);
        // SAFETY: our net_device.
        unsafe { sys::netif_carrier_on(self.netdev) };
        dev_info!(
            self.kdev(),
            "connected to backend domain {} (queues: {}, event channel {})\n",
            self.otherend_id(),
            plan.num_queues,
            // SAFETY: just set up.
            unsafe { (*self.conn.get()).evtchn }
        );
        Ok(())
    }

    fn setup_rings(&self) -> Result {
        // SAFETY: connect runs from the xenbus callbacks, serialised, with
        // NAPI not yet running and the irq not yet bound: `conn`, `tx`, `rx`
        // and `stash` are ours.
        let conn = unsafe { &mut *self.conn.get() };
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
        let (tx, rx) = unsafe { (&mut *self.tx.get(), &mut *self.rx.get()) };
        TxQueue::init(tx, tx_ring, &conn.tx_refs).map_err(|_| EINVAL)?;
        RxQueue::init(rx, rx_ring, &conn.rx_refs).map_err(|_| EINVAL)?;
        conn.queues_ready = true;
        // SAFETY: `xb` is live.
        kernel::error::to_result(unsafe { sys::xenbus_alloc_evtchn(self.xb, &mut conn.evtchn) })?;
        // SAFETY: `self` outlives the binding (unbound in teardown).
        let irq = unsafe {
            sys::bind_evtchn_to_irqhandler_lateeoi(
                conn.evtchn,
                Some(interrupt),
                0,
                DRV_NAME.as_ptr().cast(),
                ptr::from_ref(self).cast_mut().cast(),
            )
        };
        if irq < 0 {
            // SAFETY: allocated above, not bound.
            unsafe { sys::xenbus_free_evtchn(self.xb, conn.evtchn) };
            conn.evtchn = 0;
            return Err(Error::from_errno(irq));
        }
        conn.irq = irq;
        // SAFETY: initialised above, exclusive.
        let (rx, stash) = unsafe { ((*self.rx.get()).assume_init_mut(), &mut *self.stash.get()) };
        self.rx_refill(rx, stash);
        Ok(())
    }

    /// Writes our keys in one transaction, retried on EAGAIN.
    fn publish(&self, plan: &ConnectPlan) -> Result {
        // SAFETY: set up by `setup_rings`.
        let conn = unsafe { &*self.conn.get() };
        let keys = [QueueKeys {
            tx_ring_ref: conn.tx_ring_ref,
            rx_ring_ref: conn.rx_ring_ref,
            evtchn_tx: conn.evtchn,
            evtchn_rx: conn.evtchn,
        }];
        // SAFETY: `xb` is live.
        let node = unsafe { (*self.xb).nodename };
        loop {
            let mut t = sys::xenbus_transaction { id: 0 };
            // SAFETY: plain XenStore call.
            kernel::error::to_result(unsafe { sys::xenbus_transaction_start(&mut t) })
                .inspect_err(|_| dev_err!(self.kdev(), "cannot start XenStore transaction\n"))?;
            let writes = negotiate::frontend_writes(plan, &keys).map_err(|_| EINVAL)?;
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
        // SAFETY: our net_device.
        unsafe {
            sys::netif_carrier_off(self.netdev);
            sys::xpn_txq_stop(self.netdev, 0);
        }
    }

    /// Releases everything `connect` set up. NAPI must be disabled (the
    /// interface is down or unregistered) and the backend closed.
    pub(crate) fn teardown(&self) {
        self.disconnect();
        // SAFETY: called from remove/connect failure, serialised with the
        // xenbus callbacks, with NAPI disabled.
        let conn = unsafe { &mut *self.conn.get() };
        if conn.irq > 0 {
            // SAFETY: bound in `setup_rings` with `self` as dev_id.
            unsafe {
                sys::unbind_from_irqhandler(conn.irq as u32, ptr::from_ref(self).cast_mut().cast())
            };
            conn.irq = 0;
        }
        // SAFETY: NAPI is disabled, the stash is ours.
        let stash = unsafe { &mut *self.stash.get() };
        if conn.queues_ready {
            // SAFETY: initialised in `setup_rings`; nothing else uses them
            // any more.
            let (tx, rx) = unsafe {
                (
                    (*self.tx.get()).assume_init_mut(),
                    (*self.rx.get()).assume_init_mut(),
                )
            };
            tx.release_all(|c, pool| self.complete_tx(c, pool));
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
            if !self.is_broken() {
                for &r in Iterator::chain(conn.tx_refs.iter(), conn.rx_refs.iter()) {
                    // SAFETY: claimed in `setup_rings`, no longer granted.
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
}

// SPDX-License-Identifier: GPL-2.0

//! The network device and its lifecycle: the driver's private part of a
//! `net_device` ([`Device`]), its creation and registration, the
//! `net_device_ops` (open/stop, queue selection, statistics, features,
//! MTU), the connection to the backend (`connect`, `teardown`, and the
//! renegotiation of `ethtool -L`), and disabling the device when the backend
//! misbehaves.
//!
//! One [`Device`] lives in the private area of each `net_device`, with up to
//! [`MAX_QUEUES`] [`Queue`]s ([`crate::netqueue`]); the TX and RX paths are
//! [`crate::tx`] and [`crate::rx`], the XenBus side [`crate::xenbus`].

use core::ffi::{c_int, CStr};
use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use kernel::prelude::*;

use crate::gnttab;
use crate::negotiate::{
    self, BackendFeatures, ConnectPlan, FrontendConfig, NetFeatures, QueueKeys, XenbusState,
};
use crate::netif::GrantRef;
use crate::netqueue::Queue;
use crate::stats::Counter;
use crate::sys;
use crate::xenbus::XenbusDevice;

/// Name of the driver, in logs, ethtool and interrupt names.
pub(crate) const DRV_NAME: &CStr = c"xen_pv_net";

/// Most queues a device sets up.
pub(crate) const MAX_QUEUES: usize = negotiate::MAX_QUEUES_DEFAULT as usize;

/// The driver's private part of a `net_device`.
pub(crate) struct Device {
    netdev: *mut sys::net_device,
    xb: XenbusDevice,
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
    /// Transmitted packets are copied into dedicated pages (the backend is
    /// not trusted with the pages of the packets themselves); decided at
    /// each connection.
    copy_tx: AtomicBool,
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
    registered: AtomicBool,
    /// `unregister_netdev` was called: the net_device is about to be freed.
    unregistered: AtomicBool,
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

impl Device {
    /// Allocates the net_device (not registered yet) for `xb` with `mac`,
    /// offering `max_queues` queues (1 to [`MAX_QUEUES`]).
    pub(crate) fn create(
        xb: XenbusDevice,
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
                ptr::addr_of_mut!((*xb.raw()).dev),
                NETDEV_OPS.as_ptr().cast(),
                mac.as_ptr(),
                negotiate::max_mtu(true),
            );
            sys::xpn_netdev_init_offloads(netdev, crate::ethtool::ops());
            for i in 0..MAX_QUEUES {
                let q = ptr::addr_of_mut!((*d).queues).cast::<Queue>().add(i);
                Queue::init(q, d, i, netdev);
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
            let d = Device::from_netdev(netdev);
            for q in &d.queues {
                sys::xpn_netif_napi_del(q.napi_ptr());
            }
            sys::free_netdev(netdev);
        }
    }

    /// The device in the private area of `netdev`.
    ///
    /// # Safety
    ///
    /// `netdev` was allocated by [`Device::create`] and not destroyed yet.
    pub(crate) unsafe fn from_netdev<'a>(netdev: *mut sys::net_device) -> &'a Device {
        // SAFETY: the private area holds an initialised `Device` (caller).
        unsafe { &*sys::xpn_netdev_priv(netdev).cast::<Device>() }
    }

    /// The net_device.
    pub(crate) fn netdev(&self) -> *mut sys::net_device {
        self.netdev
    }

    /// The xenbus device.
    pub(crate) fn xb(&self) -> XenbusDevice {
        self.xb
    }

    /// The generic device, for logs.
    pub(crate) fn kdev(&self) -> &kernel::device::Device {
        self.xb.kdev()
    }

    /// The queues of the current connection.
    pub(crate) fn active(&self) -> &[Queue] {
        let n = self.num_queues.load(Ordering::Acquire);
        self.queues.get(..n).unwrap_or(&[])
    }

    /// Queue `i`, connected or not.
    pub(crate) fn queue(&self, i: usize) -> Option<&Queue> {
        self.queues.get(i)
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

    /// Counter `c` of queue `q` (0 for a queue that does not exist).
    pub(crate) fn counter(&self, q: usize, c: Counter) -> u64 {
        self.queues.get(q).map_or(0, |q| q.stats.get(c))
    }

    /// Transmitted packets are copied into the queues' bounce pages.
    pub(crate) fn copies_tx(&self) -> bool {
        self.copy_tx.load(Ordering::Acquire)
    }

    /// The rings and queues are set up.
    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The device is connected and not disabled: traffic may flow.
    pub(crate) fn is_running(&self) -> bool {
        self.is_connected() && !self.is_broken()
    }

    /// The backend misbehaved: the device is disabled.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// The backend kept access to a page: nothing it had access to is
    /// freed any more.
    pub(crate) fn grant_stuck(&self) -> bool {
        self.grant_stuck.load(Ordering::Acquire)
    }

    /// Whether backend state changes are being handled by `ethtool -L`.
    pub(crate) fn reconfiguring(&self) -> bool {
        self.reconfiguring.load(Ordering::Acquire)
    }

    /// Whether the net_device is registered.
    pub(crate) fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Acquire)
    }

    /// Stops every TX queue without waiting (any context; a transmit in
    /// progress finishes, and finds the device not running).
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

    /// Ends the backend's access to `gref`. `false`: it still has access
    /// (the device is then broken and the page must not be reused).
    pub(crate) fn end_access(&self, gref: GrantRef) -> bool {
        if gnttab::end_access(gref) {
            true
        } else {
            self.grant_stuck.store(true, Ordering::Release);
            self.set_broken(Broken::GrantInUse(gref));
            false
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

    /// Registers the net_device once its first connection is up.
    pub(crate) fn register(&self) {
        if self.registered.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: fully set up, not registered yet.
        let r = unsafe { sys::register_netdev(self.netdev) };
        if r != 0 {
            dev_err!(self.kdev(), "register_netdev failed ({})\n", r);
            return;
        }
        self.registered.store(true, Ordering::Release);
    }

    /// Takes the interface away (device removal): stops traffic, then
    /// unregisters the net_device if it was registered.
    pub(crate) fn unregister(&self) {
        self.disconnect();
        if self.registered.swap(false, Ordering::AcqRel) {
            // SAFETY: registered in `register`; stops the interface (NAPI
            // disabled) before returning.
            unsafe { sys::unregister_netdev(self.netdev) };
        }
        self.unregistered.store(true, Ordering::Release);
    }

    /// Stops every TX queue and waits for a transmit in progress on each
    /// (`netif_tx_disable`): afterwards no transmit uses the rings until
    /// the queues are woken. Process context only.
    fn disable_tx(&self) {
        // SAFETY: the net_device is allocated (freed only by `destroy`);
        // we are not inside its transmit path.
        unsafe { sys::xpn_netif_tx_disable(self.netdev) };
    }

    /// Starts NAPI and the TX queues of the current connection (the
    /// interface is open).
    fn start_queues(&self) {
        for q in self.active() {
            q.napi_on();
            // SAFETY: our net_device; `index` is below its TX queues, and
            // NAPI was added in `create`.
            unsafe {
                sys::xpn_txq_wake(self.netdev, q.index as u32);
                sys::xpn_napi_schedule(q.napi_ptr());
            }
        }
    }

    /// Stops transmit (waiting for a transmit in progress) and the NAPI of
    /// every queue that has it enabled.
    fn stop_queues(&self) {
        self.disable_tx();
        for q in &self.queues {
            q.napi_off();
        }
    }

    /// Connects to the backend (`xennet_connect`): rings, grants, event
    /// channels and RX buffers of every queue, the XenStore transaction,
    /// and state Connected. `rtnl_held`: the caller holds the RTNL lock
    /// (`ethtool -L`).
    pub(crate) fn connect(&self, rtnl_held: bool) -> Result {
        let features =
            BackendFeatures::read(|key, buf| self.xb.read_backend(key, buf)).map_err(|e| {
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
        // xen-netfront's `trusted`: the module parameter, and the device's
        // own XenStore node (set to 0 by a toolstack that does not trust
        // the backend domain). Unlike xen-netfront, untrusted by default.
        let mut buf = [0u8; 4];
        let node_says_no = matches!(self.xb.read("trusted", &mut buf), Some(1) if buf[0] == b'0');
        let copy = !crate::trusted_param() || node_says_no;
        self.copy_tx.store(copy, Ordering::Release);
        self.backend_max_queues
            .store(features.max_queues, Ordering::Release);
        self.offloads.store(plan.features.bits(), Ordering::Release);
        let queues = self.queues.get(..n).unwrap_or(&[]);
        let r = queues
            .iter()
            .try_for_each(|q| q.setup(plan.split_event_channels))
            .and_then(|()| self.publish(&plan, queues))
            .and_then(|()| {
                // SAFETY: `netdev` is ours; the TX queues exist (allocated
                // in `create`).
                let r = unsafe {
                    sys::xpn_set_real_num_queues(
                        self.netdev,
                        n as u32,
                        !rtnl_held && self.registered.load(Ordering::Acquire),
                    )
                };
                if r != 0 {
                    dev_err!(self.kdev(), "cannot set {} queues ({})\n", n, r);
                }
                kernel::error::to_result(r)
            });
        if let Err(e) = r {
            // NAPI was never enabled for this connection and transmit is
            // stopped (connect runs before the queues are started).
            for q in queues {
                q.teardown();
            }
            return Err(e);
        }
        // Connected before the backend hears of it, so that its first
        // responses are not dropped as arriving at a device not running.
        self.num_queues.store(n, Ordering::Release);
        self.connected.store(true, Ordering::Release);
        if let Err(e) = self.xb.switch_state(XenbusState::Connected) {
            dev_err!(self.kdev(), "cannot switch to Connected\n");
            self.connected.store(false, Ordering::Release);
            self.num_queues.store(0, Ordering::Release);
            for q in queues {
                q.teardown();
            }
            return Err(e);
        }
        if self.registered.load(Ordering::Acquire) {
            // SAFETY: registered net_device; takes RTNL unless held.
            unsafe { sys::xpn_netdev_update_features(self.netdev, !rtnl_held) };
        }
        self.set_carrier(true);
        dev_info!(
            self.kdev(),
            "connected to backend domain {} (queues: {} of at most {}, {} event channels, sg {}, tso {}, tso6 {}, tx {})\n",
            self.xb.otherend_id(),
            n,
            features.max_queues,
            if plan.split_event_channels { "split" } else { "shared" },
            plan.features.sg,
            plan.features.tso,
            plan.features.tso6,
            if copy {
                "copied into dedicated pages"
            } else {
                "zero-copy (trusted backend)"
            },
        );
        Ok(())
    }

    /// Writes our keys for `plan` and `queues` in one transaction.
    fn publish(&self, plan: &ConnectPlan, queues: &[Queue]) -> Result {
        let mut keys = [QueueKeys::default(); MAX_QUEUES];
        for (k, q) in keys.iter_mut().zip(queues) {
            *k = q.keys();
        }
        let keys = keys.get(..queues.len()).ok_or(EINVAL)?;
        let writes = negotiate::frontend_writes(plan, keys).map_err(|_| EINVAL)?;
        self.xb.write_all(writes)
    }

    /// Connects a registered device again, after a restore or migration
    /// (RTNL held, as against `ndo_open`/`ndo_stop` and `ethtool -L`):
    /// [`Device::connect`], then restarts traffic if the interface is open
    /// and gives the interface back to the stack.
    pub(crate) fn reconnect(&self) -> Result {
        // SAFETY: process context (xenwatch), no RTNL held by us.
        unsafe { sys::rtnl_lock() };
        let r = if self.is_connected() {
            Ok(())
        } else {
            self.connect(true)
        };
        if r.is_ok() {
            if self.up.load(Ordering::Acquire) {
                self.start_queues();
            }
            // SAFETY: registered net_device, RTNL held.
            unsafe { sys::netif_device_attach(self.netdev) };
        }
        // SAFETY: taken above.
        unsafe { sys::rtnl_unlock() };
        r
    }

    /// The domain was restored (after `xl save`/`xl restore` or a
    /// migration, the xenbus `resume` callback): the backend is a new one
    /// and everything shared with the old one is stale. Takes the interface
    /// away from the stack (`netif_device_detach`), stops transmit and
    /// NAPI, and releases the connection; the new backend's InitWait then
    /// leads to [`Device::reconnect`].
    pub(crate) fn suspend_connection(&self) {
        // SAFETY: process context (the restore path takes RTNL in
        // xen-netfront too).
        unsafe { sys::rtnl_lock() };
        if self.is_registered() {
            // SAFETY: registered net_device, RTNL held.
            unsafe { sys::netif_device_detach(self.netdev) };
        }
        self.stop_queues();
        self.teardown();
        // SAFETY: taken above.
        unsafe { sys::rtnl_unlock() };
    }

    /// Tells the network the interface is here (gratuitous ARP, unsolicited
    /// neighbour advertisements) when the backend is connected: after a
    /// migration the switch learns the new port at once.
    pub(crate) fn notify_peers(&self) {
        if self.is_registered() && self.is_running() {
            // SAFETY: registered net_device; process context (it takes
            // RTNL itself).
            unsafe { sys::netdev_notify_peers(self.netdev) };
        }
    }

    /// Backend went away: stop using the rings (they are torn down in
    /// `teardown`, after the backend closed). Waits for a transmit in
    /// progress; process context.
    pub(crate) fn disconnect(&self) {
        self.connected.store(false, Ordering::Release);
        self.disable_tx();
        self.set_carrier(false);
    }

    /// Releases everything `connect` set up. The interface must be down,
    /// unregistered or detached and the backend closed (or gone).
    pub(crate) fn teardown(&self) {
        self.disconnect();
        for q in &self.queues {
            q.napi_off();
        }
        self.num_queues.store(0, Ordering::Release);
        // Every queue: those beyond the last count may hold a failed
        // connection's leftovers (set-up queues are recognised by state).
        for q in &self.queues {
            q.teardown();
        }
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
        if !self.is_running() {
            return Err(ENODEV);
        }
        self.reconfiguring.store(true, Ordering::Release);
        let up = self.up.load(Ordering::Acquire);
        if up {
            self.stop_queues();
        }
        self.disconnect();
        let closed = self.xb.close();
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
            self.xb.wait_backend(&[XenbusState::Connected]);
        }
        if r.is_ok() && up {
            self.start_queues();
        }
        self.reconfiguring.store(false, Ordering::Release);
        r
    }
}

// ---------------------------------------------------------------------------
// net_device callbacks.
// ---------------------------------------------------------------------------

unsafe extern "C" fn ndo_open(netdev: *mut sys::net_device) -> c_int {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { Device::from_netdev(netdev) };
    d.up.store(true, Ordering::Release);
    d.start_queues();
    0
}

unsafe extern "C" fn ndo_stop(netdev: *mut sys::net_device) -> c_int {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { Device::from_netdev(netdev) };
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
    let d = unsafe { Device::from_netdev(netdev) };
    let n = d.num_queues() as u32;
    if n <= 1 {
        return 0;
    }
    // SAFETY: the stack's skb.
    (unsafe { sys::xpn_skb_get_hash(skb) } % n) as u16
}

unsafe extern "C" fn ndo_get_stats64(netdev: *mut sys::net_device, s: *mut sys::rtnl_link_stats64) {
    // SAFETY: called by the stack on our net_device.
    let d = unsafe { Device::from_netdev(netdev) };
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
    let d = unsafe { Device::from_netdev(netdev) };
    // SAFETY: pure computation.
    unsafe { sys::xpn_features_allowed(features, d.offloads.load(Ordering::Acquire)) }
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
            dev_info!(
                Device::from_netdev(netdev).kdev(),
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
        return EINVAL.to_errno();
    }
    // SAFETY: as above.
    unsafe { sys::xpn_netdev_set_mtu(netdev, mtu as u32) };
    0
}

static NETDEV_OPS: sys::ReadOnly<sys::net_device_ops> = sys::ReadOnly(sys::net_device_ops {
    ndo_open: Some(ndo_open),
    ndo_stop: Some(ndo_stop),
    ndo_start_xmit: Some(crate::tx::ndo_start_xmit),
    ndo_select_queue: Some(ndo_select_queue),
    ndo_get_stats64: Some(ndo_get_stats64),
    ndo_fix_features: Some(ndo_fix_features),
    ndo_set_features: Some(ndo_set_features),
    ndo_change_mtu: Some(ndo_change_mtu),
    ndo_validate_addr: Some(sys::eth_validate_addr),
    // `ip link set IF address ...`, as xen-netfront (the backend does not
    // filter on the MAC).
    ndo_set_mac_address: Some(sys::eth_mac_addr),
    // SAFETY: every field of `net_device_ops` is an `Option` of a function
    // pointer.
    ..unsafe { sys::zeroed() }
});

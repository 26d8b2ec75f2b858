// SPDX-License-Identifier: GPL-2.0

//! The XenBus side of the driver: the xenbus frontend driver for device
//! type `vif` (registration, probe, backend state changes, removal),
//! XenStore reads and transactions, and the state transitions with their
//! bounded waits for the backend.
//!
//! The decisions (which backend state leads to what, what to write) are in
//! the kernel-independent [`crate::negotiate`]; the network device itself
//! is in [`crate::netdev`].

use core::ffi::{c_int, CStr};
use core::ptr;

use kernel::prelude::*;
use kernel::types::Opaque;

use crate::negotiate::{self, FrontendAction, XenbusState, XsWrite};
use crate::netdev::{Device, DRV_NAME};
use crate::sys;

/// How long to wait for the backend to change state, in 10 ms steps.
const WAIT_STEPS: u32 = 3000;

/// The xenbus device of a vif: a handle the driver core keeps alive from
/// probe until `remove` returns (the net_device, which holds a copy, is
/// freed before that).
#[derive(Clone, Copy)]
pub(crate) struct XenbusDevice(*mut sys::xenbus_device);

// SAFETY: the handle is only a pointer to a device the driver core keeps
// alive while it is bound; every access goes through the xenbus API, which
// does its own locking.
unsafe impl Send for XenbusDevice {}
// SAFETY: as above.
unsafe impl Sync for XenbusDevice {}

impl XenbusDevice {
    /// The handle of `xb`.
    ///
    /// # Safety
    ///
    /// `xb` is a xenbus device bound to this driver, and the handle is used
    /// only until `remove` returns for it.
    pub(crate) unsafe fn from_raw(xb: *mut sys::xenbus_device) -> Self {
        XenbusDevice(xb)
    }

    /// The C device.
    pub(crate) fn raw(self) -> *mut sys::xenbus_device {
        self.0
    }

    /// The generic device, for `dev_*!` logging.
    pub(crate) fn kdev<'a>(self) -> &'a kernel::device::Device {
        // SAFETY: the device is live (type invariant); `dev` is embedded in
        // it.
        unsafe { kernel::device::Device::from_raw(ptr::addr_of_mut!((*self.0).dev).cast()) }
    }

    /// Our XenStore directory (`device/vif/N`).
    fn nodename(self) -> *const u8 {
        // SAFETY: live device; `nodename` is a C string it owns.
        unsafe { (*self.0).nodename }.cast()
    }

    /// The backend's XenStore directory.
    fn otherend(self) -> *const u8 {
        // SAFETY: live device; `otherend` is a C string it owns.
        unsafe { (*self.0).otherend }.cast()
    }

    /// Our XenStore directory as text, for logs.
    pub(crate) fn name<'a>(self) -> &'a str {
        // SAFETY: see `nodename`.
        unsafe { CStr::from_ptr(self.nodename().cast()) }
            .to_str()
            .unwrap_or("?")
    }

    /// The backend's domain id.
    pub(crate) fn otherend_id(self) -> u16 {
        // SAFETY: live device.
        unsafe { (*self.0).otherend_id as u16 }
    }

    /// Our own xenbus state.
    pub(crate) fn state(self) -> XenbusState {
        // SAFETY: live device.
        XenbusState::from_u32(unsafe { (*self.0).state }).unwrap_or(XenbusState::Unknown)
    }

    /// The backend's xenbus state.
    pub(crate) fn backend_state(self) -> XenbusState {
        // SAFETY: live device.
        XenbusState::from_u32(unsafe { sys::xpn_otherend_state(self.0) } as u32)
            .unwrap_or(XenbusState::Unknown)
    }

    /// Reads our node `key` into `buf`; `None` if missing.
    pub(crate) fn read(self, key: &str, buf: &mut [u8]) -> Option<usize> {
        xs_read(self.nodename(), key, buf)
    }

    /// Reads the backend's node `key` into `buf`; `None` if missing.
    pub(crate) fn read_backend(self, key: &str, buf: &mut [u8]) -> Option<usize> {
        xs_read(self.otherend(), key, buf)
    }

    /// Writes the nodes of `writes` under our directory in one XenStore
    /// transaction, retried from the start while XenStore answers EAGAIN.
    pub(crate) fn write_all(self, writes: impl Iterator<Item = XsWrite> + Clone) -> Result {
        let node = self.nodename();
        loop {
            let mut t = sys::xenbus_transaction { id: 0 };
            // SAFETY: plain XenStore call.
            kernel::error::to_result(unsafe { sys::xenbus_transaction_start(&mut t) })
                .inspect_err(|_| dev_err!(self.kdev(), "cannot start XenStore transaction\n"))?;
            let mut failed = None;
            for w in writes.clone() {
                // SAFETY: key and value are NUL-terminated buffers.
                let r = unsafe {
                    sys::xenbus_write(
                        t,
                        node.cast(),
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

    /// Allocates an unbound event channel for the backend.
    pub(crate) fn alloc_evtchn(self) -> Result<u32> {
        let mut port = 0;
        // SAFETY: live device; `port` is ours.
        kernel::error::to_result(unsafe { sys::xenbus_alloc_evtchn(self.0, &mut port) })?;
        Ok(port)
    }

    /// Frees an event channel from [`XenbusDevice::alloc_evtchn`] that was
    /// never bound to an irq.
    pub(crate) fn free_evtchn(self, port: u32) {
        // SAFETY: live device; the channel is ours and unbound (caller).
        unsafe { sys::xenbus_free_evtchn(self.0, port) };
    }

    /// Switches our state to `state`.
    pub(crate) fn switch_state(self, state: XenbusState) -> Result {
        // SAFETY: live device.
        kernel::error::to_result(unsafe { sys::xenbus_switch_state(self.0, state.as_u32()) })
    }

    /// Waits (bounded, sleeping) until the backend's state satisfies `ok`.
    pub(crate) fn wait_backend_until(self, ok: impl Fn(XenbusState) -> bool) -> bool {
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
    pub(crate) fn wait_backend(self, until: &[XenbusState]) -> bool {
        let reached = self.wait_backend_until(|s| until.contains(&s));
        if !reached {
            dev_warn!(self.kdev(), "backend did not reach {:?} in time\n", until);
        }
        reached
    }

    /// Switches to `state` and waits (bounded) for the backend to reach one
    /// of `until`.
    fn switch_and_wait(self, state: XenbusState, until: &[XenbusState]) -> bool {
        // A failed switch is reported by the xenbus core itself.
        let _ = self.switch_state(state);
        self.wait_backend(until)
    }

    /// Closes the connection with the backend: Closing, then Closed, each
    /// time waiting (bounded) for the backend to follow, so that it unmaps
    /// our pages before they are taken back. Returns whether the backend
    /// followed both steps (`Unknown`: its directory is gone, which counts).
    pub(crate) fn close(self) -> bool {
        use XenbusState::{Closed, Closing, Unknown};
        let closing = self.switch_and_wait(Closing, &[Closing, Closed, Unknown]);
        let closed = self.switch_and_wait(Closed, &[Closed, Unknown]);
        closing && closed
    }

    /// Reports a fatal error on the device in XenStore and the log.
    fn fatal(self, err: Error, what: &CStr) {
        // SAFETY: live device; `what` is a C string.
        unsafe { sys::xpn_xenbus_fatal(self.0, err.to_errno(), what.as_ptr().cast()) };
    }

    /// The net_device bound to the device, or null.
    fn netdev(self) -> *mut sys::net_device {
        // SAFETY: live device; drvdata is null or our net_device.
        unsafe { sys::xpn_get_drvdata(self.0) }.cast()
    }

    fn set_netdev(self, netdev: *mut sys::net_device) {
        // SAFETY: live device.
        unsafe { sys::xpn_set_drvdata(self.0, netdev.cast()) };
    }
}

/// A XenStore read of `dir/key` into `buf`; `None` if missing.
fn xs_read(dir: *const u8, key: &str, buf: &mut [u8]) -> Option<usize> {
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

/// The device and its net_device, in a xenbus callback; `None` before probe
/// created the net_device.
///
/// # Safety
///
/// `xb` is the device of a xenbus callback of this driver.
unsafe fn bound<'a>(xb: *mut sys::xenbus_device) -> Option<(XenbusDevice, &'a Device)> {
    // SAFETY: the callback's device is bound to us (caller).
    let xb = unsafe { XenbusDevice::from_raw(xb) };
    let netdev = xb.netdev();
    if netdev.is_null() {
        return None;
    }
    // SAFETY: drvdata is only ever set to a net_device of `Device::create`,
    // and cleared before that is destroyed.
    Some((xb, unsafe { Device::from_netdev(netdev) }))
}

/// Queues to offer: the `max_queues` module parameter (0: one per online
/// CPU), at most [`crate::netdev::MAX_QUEUES`].
fn queue_limit() -> u32 {
    // SAFETY: plain read of the online CPU count.
    let cpus = unsafe { sys::xpn_num_online_cpus() };
    negotiate::queue_limit(crate::max_queues_param(), cpus)
}

unsafe extern "C" fn probe(
    xb: *mut sys::xenbus_device,
    _id: *const sys::xenbus_device_id,
) -> c_int {
    // SAFETY: xenbus probes a device for us; it stays bound until `remove`.
    let xb = unsafe { XenbusDevice::from_raw(xb) };
    let dev = xb.kdev();
    let mut buf = [0u8; 32];
    let mac = match xb.read("mac", &mut buf) {
        None => {
            dev_err!(dev, "no mac node in XenStore: device not created\n");
            return ENOENT.to_errno();
        }
        Some(n) => match negotiate::parse_mac(buf.get(..n).unwrap_or(&[])) {
            Ok(m) => m,
            Err(e) => {
                dev_err!(
                    dev,
                    "bad mac in XenStore ({}): device not created\n",
                    sys::Disp(&e)
                );
                return EINVAL.to_errno();
            }
        },
    };
    let netdev = match Device::create(xb, &mac, queue_limit()) {
        Ok(n) => n,
        Err(e) => return e.to_errno(),
    };
    xb.set_netdev(netdev);
    // After an earlier unbind the device (and the backend) sit in Closed:
    // announce a fresh frontend and let the backend leave Closed, or its
    // stale state would read as a disconnect.
    let _ = xb.switch_state(XenbusState::Initialising);
    if !xb.wait_backend_until(|s| !matches!(s, XenbusState::Closed | XenbusState::Unknown)) {
        dev_err!(dev, "backend stayed closed: device not created\n");
        xb.set_netdev(ptr::null_mut());
        // SAFETY: not registered; nothing else uses it.
        unsafe { Device::destroy(netdev) };
        return ENODEV.to_errno();
    }
    dev_info!(
        dev,
        "{} found, mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
        xb.name(),
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5]
    );
    0
}

unsafe extern "C" fn otherend_changed(xb: *mut sys::xenbus_device, state: sys::xenbus_state) {
    // SAFETY: a xenbus callback of ours.
    let Some((xb, d)) = (unsafe { bound(xb) }) else {
        return;
    };
    if d.reconfiguring() {
        // `ethtool -L` drives the state machine itself.
        return;
    }
    let theirs = XenbusState::from_u32(state).unwrap_or(XenbusState::Unknown);
    match negotiate::on_backend_state(xb.state(), theirs) {
        FrontendAction::Nothing => {}
        FrontendAction::NotifyPeers => d.notify_peers(),
        FrontendAction::Connect => {
            // Registered: a restore or migration took the old connection
            // down (`resume`).
            let r = if d.is_registered() {
                d.reconnect()
            } else {
                d.connect(false).map(|()| d.register())
            };
            if let Err(e) = r {
                xb.fatal(e, c"connecting to the backend");
            }
        }
        FrontendAction::Close => {
            d.disconnect();
            // SAFETY: live device.
            unsafe { sys::xenbus_frontend_closed(xb.raw()) };
        }
    }
}

/// The domain was restored or migrated: the xenbus core set our state back
/// to Initialising and the backend is a new one. Releases the old
/// connection; the backend's InitWait reconnects.
unsafe extern "C" fn resume(xb: *mut sys::xenbus_device) -> c_int {
    // SAFETY: a xenbus callback of ours.
    let Some((xb, d)) = (unsafe { bound(xb) }) else {
        return 0;
    };
    dev_info!(
        xb.kdev(),
        "domain restored: reconnecting to the new backend\n"
    );
    d.suspend_connection();
    0
}

unsafe extern "C" fn remove(xb: *mut sys::xenbus_device) {
    // SAFETY: a xenbus callback of ours.
    let Some((xb, d)) = (unsafe { bound(xb) }) else {
        return;
    };
    d.unregister();
    // Let the backend unmap before we take the pages back.
    if xb.backend_state() != XenbusState::Closed {
        xb.close();
    }
    d.teardown();
    xb.set_netdev(ptr::null_mut());
    // SAFETY: unregistered and torn down: nothing uses the net_device.
    unsafe { Device::destroy(d.netdev()) };
}

/// A `struct xenbus_device_id` for `name`, NUL padded.
const fn device_id(name: &[u8]) -> sys::xenbus_device_id {
    let mut id = [0; 32];
    let mut i = 0;
    while i < name.len() && i < id.len() - 1 {
        id[i] = name[i] as kernel::ffi::c_char;
        i += 1;
    }
    sys::xenbus_device_id { devicetype: id }
}

type Ids = sys::ReadOnly<[sys::xenbus_device_id; 2]>;
static IDS: Ids = sys::ReadOnly([device_id(b"vif"), device_id(b"")]);
/// Matches nothing: used to find out whether another driver owns `vif`.
static NO_IDS: Ids = sys::ReadOnly([device_id(b""), device_id(b"")]);

/// A `struct xenbus_driver`, filled in before registration.
struct Driver(Opaque<sys::xenbus_driver>);
// SAFETY: written only before registration (module init, single threaded);
// afterwards only the driver core touches it, under its own locks.
unsafe impl Sync for Driver {}
static DRIVER: Driver = Driver(Opaque::zeroed());
static PROBE_VIF: Driver = Driver(Opaque::zeroed());

fn fill(
    drv: &Driver,
    name: &'static CStr,
    ids: &'static Ids,
    with_callbacks: bool,
) -> *mut sys::xenbus_driver {
    let p = drv.0.get();
    // SAFETY: only called from module init before registration: nothing
    // else accesses the driver.
    unsafe {
        (*p).name = name.as_ptr().cast();
        (*p).ids = ids.as_ptr().cast();
        if with_callbacks {
            (*p).probe = Some(probe);
            (*p).otherend_changed = Some(otherend_changed);
            (*p).remove = Some(remove);
            (*p).resume = Some(resume);
        }
    }
    p
}

/// The registered xenbus frontend driver; unregistered on drop.
pub(crate) struct Registration(());

impl Registration {
    /// Registers the frontend driver for `vif` devices, unless another
    /// driver (the in-tree xen-netfront) already owns them.
    pub(crate) fn new() -> Result<Self> {
        // A driver named "vif" that matches nothing: registering it fails
        // with EBUSY exactly when xen-netfront (whose driver is named after
        // its device type) is loaded.
        let probe_drv = fill(&PROBE_VIF, c"vif", &NO_IDS, false);
        // SAFETY: `probe_drv` is a complete, static driver.
        let r = unsafe { sys::xpn_xenbus_register_frontend(probe_drv) };
        if r == EBUSY.to_errno() {
            pr_err!("xenbus device type vif is already driven by another driver (xen-netfront loaded?)\n");
            return Err(EBUSY);
        }
        kernel::error::to_result(r)?;
        // SAFETY: registered just above.
        unsafe { sys::xenbus_unregister_driver(probe_drv) };

        let drv = fill(&DRIVER, DRV_NAME, &IDS, true);
        // SAFETY: `drv` is a complete, static driver.
        kernel::error::to_result(unsafe { sys::xpn_xenbus_register_frontend(drv) })?;
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; removes every bound device first.
        unsafe { sys::xenbus_unregister_driver(DRIVER.0.get()) };
    }
}

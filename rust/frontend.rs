// SPDX-License-Identifier: GPL-2.0

//! The xenbus frontend driver for device type `vif`: kernel glue for probe,
//! backend state changes and removal. The decisions are in
//! [`crate::negotiate`]; the device itself in [`crate::netfront`].

use core::ffi::{c_int, CStr};
use core::sync::atomic::Ordering;

use kernel::prelude::*;
use kernel::types::Opaque;

use crate::negotiate::{self, FrontendAction, XenbusState};
use crate::netfront::{self, Device, DRV_NAME};
use crate::sys;

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

struct Ids([sys::xenbus_device_id; 2]);
// SAFETY: the tables are never written.
unsafe impl Sync for Ids {}
static IDS: Ids = Ids([device_id(b"vif"), device_id(b"")]);
/// Matches nothing: used to find out whether another driver owns `vif`.
static NO_IDS: Ids = Ids([device_id(b""), device_id(b"")]);

/// A `struct xenbus_driver`, filled in before registration.
struct Driver(Opaque<sys::xenbus_driver>);
// SAFETY: written only before registration (module init, single threaded);
// afterwards only the driver core touches it, under its own locks.
unsafe impl Sync for Driver {}
static DRIVER: Driver = Driver(Opaque::zeroed());
static PROBE_VIF: Driver = Driver(Opaque::zeroed());

fn kdev(xb: *mut sys::xenbus_device) -> &'static kernel::device::Device {
    // SAFETY: xenbus hands us a live device for the duration of the
    // callback; `dev` is embedded in it.
    unsafe { kernel::device::Device::from_raw(core::ptr::addr_of_mut!((*xb).dev).cast()) }
}

fn netdev_of(xb: *mut sys::xenbus_device) -> *mut sys::net_device {
    // SAFETY: `xb` is live; drvdata is null or our net_device.
    unsafe { sys::xpn_get_drvdata(xb) }.cast()
}

fn device_of<'a>(netdev: *mut sys::net_device) -> &'a Device {
    // SAFETY: `netdev` was created by `Device::create`.
    unsafe { &*sys::xpn_netdev_priv(netdev).cast::<Device>() }
}

/// Queues to offer: the `max_queues` module parameter (0: one per online
/// CPU), at most [`crate::netfront::MAX_QUEUES`].
fn queue_limit() -> u32 {
    // SAFETY: plain read of the online CPU count.
    let cpus = unsafe { sys::xpn_num_online_cpus() };
    negotiate::queue_limit(crate::max_queues_param(), cpus)
}

unsafe extern "C" fn probe(
    xb: *mut sys::xenbus_device,
    _id: *const sys::xenbus_device_id,
) -> c_int {
    let dev = kdev(xb);
    // SAFETY: `xb` is live; nodename is a C string.
    let node = unsafe { (*xb).nodename }.cast::<u8>();
    let mut buf = [0u8; 32];
    let mac = match netfront::xs_read(node, "mac", &mut buf) {
        None => {
            dev_err!(dev, "no mac node in XenStore: device not created\n");
            return -(kernel::bindings::ENOENT as c_int);
        }
        Some(n) => match negotiate::parse_mac(buf.get(..n).unwrap_or(&[])) {
            Ok(m) => m,
            Err(e) => {
                dev_err!(
                    dev,
                    "bad mac in XenStore ({}): device not created\n",
                    sys::Disp(&e)
                );
                return -(kernel::bindings::EINVAL as c_int);
            }
        },
    };
    let netdev = match Device::create(xb, &mac, queue_limit()) {
        Ok(n) => n,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `xb` is live.
    unsafe { sys::xpn_set_drvdata(xb, netdev.cast()) };
    // After an earlier unbind the device (and the backend) sit in Closed:
    // announce a fresh frontend and let the backend leave Closed, or its
    // stale state would read as a disconnect.
    // SAFETY: `xb` is live.
    unsafe { sys::xenbus_switch_state(xb, XenbusState::Initialising.as_u32()) };
    let waited = device_of(netdev)
        .wait_backend_until(|s| !matches!(s, XenbusState::Closed | XenbusState::Unknown));
    if !waited {
        dev_err!(dev, "backend stayed closed: device not created\n");
        // SAFETY: not registered; nothing else uses it.
        unsafe {
            sys::xpn_set_drvdata(xb, core::ptr::null_mut());
            Device::destroy(netdev);
        }
        return -(kernel::bindings::ENODEV as c_int);
    }
    dev_info!(
        dev,
        "{} found, mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
        // SAFETY: as above.
        unsafe { CStr::from_ptr(node.cast()) }
            .to_str()
            .unwrap_or("?"),
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
    let netdev = netdev_of(xb);
    if netdev.is_null() {
        return;
    }
    let d = device_of(netdev);
    if d.reconfiguring() {
        // `ethtool -L` drives the state machine itself.
        return;
    }
    // SAFETY: `xb` is live.
    let ours = XenbusState::from_u32(unsafe { (*xb).state }).unwrap_or(XenbusState::Unknown);
    let theirs = XenbusState::from_u32(state).unwrap_or(XenbusState::Unknown);
    match negotiate::on_backend_state(ours, theirs) {
        FrontendAction::Nothing | FrontendAction::NotifyPeers => {}
        FrontendAction::Connect => {
            if let Err(e) = d.connect(false) {
                // SAFETY: `xb` is live.
                unsafe {
                    sys::xpn_xenbus_fatal(
                        xb,
                        e.to_errno(),
                        c"connecting to the backend".as_ptr().cast(),
                    )
                };
                return;
            }
            if !d.registered.load(Ordering::Acquire) {
                // SAFETY: fully set up, not registered yet.
                let r = unsafe { sys::register_netdev(netdev) };
                if r != 0 {
                    dev_err!(kdev(xb), "register_netdev failed ({})\n", r);
                    return;
                }
                d.registered.store(true, Ordering::Release);
            }
        }
        FrontendAction::Close => {
            d.disconnect();
            // SAFETY: `xb` is live.
            unsafe { sys::xenbus_frontend_closed(xb) };
        }
    }
}

unsafe extern "C" fn remove(xb: *mut sys::xenbus_device) {
    let netdev = netdev_of(xb);
    if netdev.is_null() {
        return;
    }
    let d = device_of(netdev);
    d.unregister();
    // Let the backend unmap before we take the pages back.
    if d.backend_state() != XenbusState::Closed {
        use XenbusState::{Closed, Closing, Unknown};
        d.switch_and_wait(Closing, &[Closing, Closed, Unknown]);
        d.switch_and_wait(Closed, &[Closed, Unknown]);
    }
    d.teardown();
    // SAFETY: nothing uses the net_device any more.
    unsafe {
        sys::xpn_set_drvdata(xb, core::ptr::null_mut());
        Device::destroy(netdev);
    }
}

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
        (*p).ids = ids.0.as_ptr();
        if with_callbacks {
            (*p).probe = Some(probe);
            (*p).otherend_changed = Some(otherend_changed);
            (*p).remove = Some(remove);
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
        if r == -(kernel::bindings::EBUSY as c_int) {
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

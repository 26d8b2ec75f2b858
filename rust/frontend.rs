// SPDX-License-Identifier: GPL-2.0

//! The xenbus frontend driver for device type `vif`: kernel glue.

use crate::sys;
use core::ffi::c_int;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The device type we drive, NUL padded like `struct xenbus_device_id`.
const fn device_id(name: &[u8]) -> sys::xenbus_device_id {
    let mut id = [0; 32];
    let mut i = 0;
    while i < name.len() && i < id.len() - 1 {
        id[i] = name[i] as _;
        i += 1;
    }
    sys::xenbus_device_id { devicetype: id }
}

struct Ids([sys::xenbus_device_id; 2]);
// SAFETY: the table is never written after compilation.
unsafe impl Sync for Ids {}
static IDS: Ids = Ids([device_id(b"vif"), device_id(b"")]);

/// The `struct xenbus_driver`, filled in at registration.
struct Driver(Opaque<sys::xenbus_driver>);
// SAFETY: written only by `Registration::new` before the driver is
// registered; afterwards only the driver core touches it, under its locks.
unsafe impl Sync for Driver {}
static DRIVER: Driver = Driver(Opaque::zeroed());

fn dev_of(dev: *mut sys::xenbus_device) -> &'static kernel::device::Device {
    // SAFETY: xenbus hands us a live device for the duration of the callback;
    // `dev` is embedded in it.
    unsafe { kernel::device::Device::from_raw(core::ptr::addr_of_mut!((*dev).dev).cast()) }
}

unsafe extern "C" fn probe(dev: *mut sys::xenbus_device, _id: *const sys::xenbus_device_id) -> c_int {
    // SAFETY: `dev` is valid for the callback; nodename is a C string.
    let node = unsafe { core::ffi::CStr::from_ptr((*dev).nodename.cast()) };
    dev_info!(dev_of(dev), "probing {}\n", node.to_str().unwrap_or("?"));
    0
}

unsafe extern "C" fn otherend_changed(dev: *mut sys::xenbus_device, state: sys::xenbus_state) {
    dev_info!(dev_of(dev), "backend state {}\n", state as u32);
}

unsafe extern "C" fn remove(dev: *mut sys::xenbus_device) {
    dev_info!(dev_of(dev), "removed\n");
}

/// The registered xenbus frontend driver; unregistered on drop.
pub(crate) struct Registration(());

impl Registration {
    /// Registers the frontend driver for `vif` devices.
    pub(crate) fn new() -> Result<Self> {
        let drv = DRIVER.0.get();
        // SAFETY: `DRIVER` is only written here, before registration, while
        // no other thread can see it (module init runs once).
        unsafe {
            (*drv).name = c"vif".as_ptr().cast();
            (*drv).ids = IDS.0.as_ptr();
            (*drv).probe = Some(probe);
            (*drv).otherend_changed = Some(otherend_changed);
            (*drv).remove = Some(remove);
        }
        // SAFETY: `drv` points to a fully initialised driver that outlives
        // the registration (it is static).
        let ret = unsafe { sys::xpn_xenbus_register_frontend(drv) };
        if ret == -(kernel::bindings::EBUSY as c_int) {
            pr_err!("xenbus device type vif is already driven by another driver (xen-netfront loaded?)\n");
        }
        kernel::error::to_result(ret)?;
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the driver was registered in `new`.
        unsafe { sys::xenbus_unregister_driver(DRIVER.0.get()) };
    }
}

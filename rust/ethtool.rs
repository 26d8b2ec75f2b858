// SPDX-License-Identifier: GPL-2.0

//! ethtool operations: driver information, link state, per-queue
//! statistics (`-S`) and the number of queues (`-l`/`-L`). Offloads
//! (`-k`/`-K`) go through the net_device's feature callbacks.

use core::ffi::{c_int, CStr};

use kernel::prelude::*;

use crate::netdev::{Device, DRV_NAME};
use crate::stats::{self, GSTRING_LEN};
use crate::sys;

/// The driver's version, as `ethtool -i` shows it (the DKMS package
/// version).
pub(crate) const VERSION: &CStr = c"0.1.0";

/// `ETH_SS_STATS` of `enum ethtool_stringset`.
const ETH_SS_STATS: u32 = sys::ethtool_stringset_ETH_SS_STATS;

unsafe extern "C" fn get_drvinfo(netdev: *mut sys::net_device, info: *mut sys::ethtool_drvinfo) {
    // SAFETY: called by ethtool on our net_device with its buffer.
    unsafe {
        let d = Device::from_netdev(netdev);
        sys::xpn_drvinfo_set(
            info.cast(),
            DRV_NAME.as_ptr().cast(),
            VERSION.as_ptr().cast(),
            d.xb().raw(),
        );
    }
}

unsafe extern "C" fn get_sset_count(netdev: *mut sys::net_device, sset: c_int) -> c_int {
    // SAFETY: called by ethtool on our net_device.
    let d = unsafe { Device::from_netdev(netdev) };
    if sset as u32 == ETH_SS_STATS {
        stats::stats_count(d.num_queues()) as c_int
    } else {
        EOPNOTSUPP.to_errno()
    }
}

unsafe extern "C" fn get_strings(netdev: *mut sys::net_device, sset: u32, data: *mut u8) {
    if sset != ETH_SS_STATS {
        return;
    }
    // SAFETY: called by ethtool on our net_device.
    let d = unsafe { Device::from_netdev(netdev) };
    for i in 0..stats::stats_count(d.num_queues()) {
        let mut name = [0u8; GSTRING_LEN];
        stats::write_stat_name(i, &mut name);
        // SAFETY: ethtool sized `data` for `get_sset_count` strings of
        // `ETH_GSTRING_LEN` bytes (RTNL held throughout, so the count did
        // not change).
        unsafe {
            core::ptr::copy_nonoverlapping(name.as_ptr(), data.add(i * GSTRING_LEN), GSTRING_LEN)
        };
    }
}

unsafe extern "C" fn get_ethtool_stats(
    netdev: *mut sys::net_device,
    _stats: *mut sys::ethtool_stats,
    data: *mut u64,
) {
    // SAFETY: called by ethtool on our net_device.
    let d = unsafe { Device::from_netdev(netdev) };
    for i in 0..stats::stats_count(d.num_queues()) {
        let (q, c) = stats::stat_at(i);
        // SAFETY: ethtool sized `data` for `get_sset_count` values.
        unsafe { data.add(i).write(d.counter(q, c)) };
    }
}

unsafe extern "C" fn get_channels(netdev: *mut sys::net_device, ch: *mut sys::ethtool_channels) {
    // SAFETY: called by ethtool on our net_device with its buffer.
    unsafe {
        let d = Device::from_netdev(netdev);
        (*ch).max_combined = d.max_channels();
        (*ch).combined_count = d.num_queues() as u32;
    }
}

unsafe extern "C" fn set_channels(
    netdev: *mut sys::net_device,
    ch: *mut sys::ethtool_channels,
) -> c_int {
    // SAFETY: called by ethtool (RTNL held) on our net_device with the
    // request.
    let (d, ch) = unsafe { (Device::from_netdev(netdev), &*ch) };
    let n = ch.combined_count;
    if ch.rx_count != 0 || ch.tx_count != 0 || ch.other_count != 0 || n == 0 || n > d.max_channels()
    {
        return EINVAL.to_errno();
    }
    if n as usize == d.num_queues() {
        return 0;
    }
    match d.set_queues(n) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

static ETHTOOL_OPS: sys::ReadOnly<sys::ethtool_ops> = sys::ReadOnly(sys::ethtool_ops {
    get_drvinfo: Some(get_drvinfo),
    get_link: Some(sys::ethtool_op_get_link),
    get_sset_count: Some(get_sset_count),
    get_strings: Some(get_strings),
    get_ethtool_stats: Some(get_ethtool_stats),
    get_channels: Some(get_channels),
    set_channels: Some(set_channels),
    // SAFETY: all-zero is a valid `ethtool_ops` (options of function
    // pointers, flags and integers).
    ..unsafe { sys::zeroed() }
});

/// The ethtool operations of our net_devices.
pub(crate) fn ops() -> *const core::ffi::c_void {
    ETHTOOL_OPS.as_ptr().cast()
}

// SPDX-License-Identifier: GPL-2.0

//! The module's FFI layer: bindings generated at build time from
//! `rust/bindings_helper.h` with the target kernel's flags, and the check
//! that the Rust view of every kernel struct we touch matches the C view.

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::cast_lossless,
    clippy::as_underscore,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    improper_ctypes,
    unreachable_pub,
    unsafe_op_in_unsafe_fn
)]
mod generated {
    // Mapped by hand, as the kernel's own bindings do.
    type __kernel_size_t = usize;
    type __kernel_ssize_t = isize;
    type __kernel_ptrdiff_t = isize;
    include!("bindings_generated.rs");
}

pub(crate) use generated::*;

use core::ffi::CStr;
use core::mem::{offset_of, size_of};

macro_rules! layout {
    ($($t:ident { $($f:ident),* $(,)? })*) => {
        &[$(
            (concat!(stringify!($t)), size_of::<$t>()),
            $((concat!(stringify!($t), ".", stringify!($f)), offset_of!($t, $f)),)*
        )*]
    };
}

/// Sizes and field offsets as the Rust bindings see them. Every entry must
/// match `xpn_c_layout` in `helpers.c`, which gcc computed.
const LAYOUT: &[(&str, usize)] = layout! {
    xenbus_device_id { devicetype }
    xenbus_driver { name, ids, probe, otherend_changed, remove, resume, driver }
    xenbus_device { devicetype, nodename, otherend, otherend_id, dev, state }
    net_device_ops {
        ndo_open, ndo_stop, ndo_start_xmit, ndo_select_queue, ndo_get_stats64,
        ndo_fix_features, ndo_set_features, ndo_change_mtu, ndo_validate_addr,
        ndo_set_mac_address,
    }
    ethtool_ops {
        get_drvinfo, get_link, get_sset_count, get_strings, get_ethtool_stats,
        get_channels, set_channels,
    }
    ethtool_channels {
        max_combined, rx_count, tx_count, other_count, combined_count,
    }
    napi_struct {}
    timer_list {}
    spinlock_t {}
};

/// A mismatch between the Rust and C views of a kernel struct.
pub(crate) struct LayoutMismatch {
    /// `struct` or `struct.field`.
    pub(crate) name: &'static str,
    /// What Rust sees.
    pub(crate) rust: usize,
    /// What C sees, or `None` when the C table lacks the entry.
    pub(crate) c: Option<usize>,
}

/// Compares [`LAYOUT`] with the C compiler's table.
pub(crate) fn check_layout() -> Result<(), LayoutMismatch> {
    // SAFETY: `xpn_c_layout` is a constant array of `xpn_c_layout_len`
    // entries defined in helpers.c and never written.
    let c =
        unsafe { core::slice::from_raw_parts(xpn_c_layout.as_ptr(), xpn_c_layout_len as usize) };
    for &(name, rust) in LAYOUT {
        let found = c.iter().find(|e| {
            if e.name.is_null() {
                return false;
            }
            // SAFETY: every `name` in the C table is a string literal.
            let c_name = unsafe { CStr::from_ptr(e.name.cast()) };
            c_name.to_bytes() == name.as_bytes()
        });
        let c_value = found.map(|e| e.value);
        if c_value != Some(rust) {
            return Err(LayoutMismatch {
                name,
                rust,
                c: c_value,
            });
        }
    }
    if c.len() != LAYOUT.len() {
        return Err(LayoutMismatch {
            name: "xpn_c_layout entries",
            rust: LAYOUT.len(),
            c: Some(c.len()),
        });
    }
    Ok(())
}

/// A C table the kernel only reads (operations, device ids) as a `static`.
pub(crate) struct ReadOnly<T>(pub(crate) T);

// SAFETY: the value is never written after its constant initialisation, and
// the kernel only reads it, so sharing it between threads is sound.
unsafe impl<T> Sync for ReadOnly<T> {}

impl<T> ReadOnly<T> {
    /// A pointer to the table, for the kernel.
    pub(crate) const fn as_ptr(&self) -> *const T {
        &self.0
    }
}

/// An all-zero value of a C operations table, for the fields a driver
/// leaves unset.
///
/// # Safety
///
/// All-zero must be a valid `T` (every field an `Option` of a function
/// pointer, an integer or a raw pointer).
pub(crate) const unsafe fn zeroed<T>() -> T {
    // SAFETY: the caller vouches that all-zero is a valid `T`.
    unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
}

/// Prints a value of the kernel-independent modules (which implement
/// `core::fmt::Display`) with the kernel's formatting macros.
pub(crate) struct Disp<'a>(pub(crate) &'a dyn core::fmt::Display);

impl kernel::fmt::Display for Disp<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(self.0, f)
    }
}

/// An irq-safe spinlock (`spinlock_t`, taken with `spin_lock_irqsave`)
/// and the data it guards: the only way to the data is [`IrqLock::lock`].
///
/// It lives in C-allocated memory (a net_device's private area), so it is
/// initialised in place with [`IrqLock::init`].
pub(crate) struct IrqLock<T> {
    lock: core::cell::UnsafeCell<spinlock_t>,
    data: core::cell::UnsafeCell<T>,
}

// SAFETY: the data is only reached through the guard, which holds the
// spinlock: one context at a time, whichever thread or interrupt it is.
unsafe impl<T: Send> Sync for IrqLock<T> {}
// SAFETY: as above; the lock itself may move between threads before use.
unsafe impl<T: Send> Send for IrqLock<T> {}

impl<T> IrqLock<T> {
    /// Initialises the spinlock of the lock at `this`; the data keeps the
    /// value it has.
    ///
    /// # Safety
    ///
    /// `this` points to an `IrqLock` whose memory is zeroed or holds a
    /// valid `T` in `data`, that nothing uses yet and that does not move
    /// afterwards.
    pub(crate) unsafe fn init(this: *mut Self) {
        // SAFETY: caller; `spin_lock_init` initialises the C lock in place.
        unsafe { xpn_spin_lock_init(core::ptr::addr_of_mut!((*this).lock).cast()) };
    }

    /// Takes the lock with interrupts disabled; released when the guard
    /// drops.
    pub(crate) fn lock(&self) -> IrqGuard<'_, T> {
        // SAFETY: initialised by `init` (type contract).
        let flags = unsafe { xpn_spin_lock_irqsave(self.lock.get().cast()) };
        IrqGuard { l: self, flags }
    }
}

/// The guard of an [`IrqLock`]: gives the data while the lock is held.
pub(crate) struct IrqGuard<'a, T> {
    l: &'a IrqLock<T>,
    flags: kernel::ffi::c_ulong,
}

impl<T> core::ops::Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held for the guard's life.
        unsafe { &*self.l.data.get() }
    }
}

impl<T> core::ops::DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held, and `&mut self` excludes another borrow
        // through this guard.
        unsafe { &mut *self.l.data.get() }
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: taken in `lock` with these flags.
        unsafe { xpn_spin_unlock_irqrestore(self.l.lock.get().cast(), self.flags) };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! What the module holds, counted module-wide: buffer and ring pages, and
//! grant references. Each queue keeps the same counts as gauges in
//! `ethtool -S` (`qN_pages`, `qN_grant_refs`); the module-wide totals are
//! checked when the module unloads, when every device is gone and they must
//! be zero, but for what was kept on purpose because a backend never gave
//! it back.

use core::sync::atomic::{AtomicI64, Ordering};

use kernel::prelude::*;

static PAGES: AtomicI64 = AtomicI64::new(0);
static GRANT_REFS: AtomicI64 = AtomicI64::new(0);
static KEPT_PAGES: AtomicI64 = AtomicI64::new(0);
static KEPT_GRANT_REFS: AtomicI64 = AtomicI64::new(0);

/// `n` pages were allocated (positive) or given away (negative).
pub(crate) fn pages(n: i64) {
    PAGES.fetch_add(n, Ordering::Relaxed);
}

/// `n` grant references were claimed (positive) or released (negative).
pub(crate) fn grant_refs(n: i64) {
    GRANT_REFS.fetch_add(n, Ordering::Relaxed);
}

/// `n` pages are never freed: a backend kept access to them.
pub(crate) fn keep_pages(n: usize) {
    KEPT_PAGES.fetch_add(n as i64, Ordering::Relaxed);
}

/// `n` grant references are never released: a backend kept access through
/// some of them.
pub(crate) fn keep_grant_refs(n: usize) {
    KEPT_GRANT_REFS.fetch_add(n as i64, Ordering::Relaxed);
}

/// The check at unload (every device removed).
pub(crate) fn check_at_unload() {
    let (kp, kg) = (
        KEPT_PAGES.load(Ordering::Relaxed),
        KEPT_GRANT_REFS.load(Ordering::Relaxed),
    );
    let p = PAGES.load(Ordering::Relaxed) - kp;
    let g = GRANT_REFS.load(Ordering::Relaxed) - kg;
    if p != 0 || g != 0 {
        pr_err!(
            "accounting error at unload: {} pages and {} grant references unaccounted for\n",
            p,
            g
        );
    }
    if kp != 0 || kg != 0 {
        pr_warn!(
            "unloading with {} pages and {} grant references kept for good: a backend never gave them back\n",
            kp,
            kg
        );
    }
}

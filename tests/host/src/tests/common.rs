// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the tests: page-aligned shared pages, a deterministic
//! PRNG, an emulated grant table and queue constructors.

use std::collections::HashMap;
use std::ptr::NonNull;

use crate::netif::{GrantRef, XEN_PAGE_SIZE};
use crate::queue::{RxRing, TxRing, RX_RING_SIZE, TX_RING_SIZE};
use crate::rx_queue::RxQueue;
use crate::tx_queue::TxQueue;

/// One page-aligned page.
#[repr(C, align(4096))]
pub(super) struct Page(pub(super) [u8; XEN_PAGE_SIZE]);

/// A heap page shared by a front ring and a back ring. Only raw pointers to
/// it exist while rings use it.
pub(super) struct SharedPage {
    ptr: NonNull<Page>,
}

impl SharedPage {
    /// Allocates a zeroed page.
    pub(super) fn new() -> Self {
        let b = Box::new(Page([0; XEN_PAGE_SIZE]));
        SharedPage {
            ptr: NonNull::from(Box::leak(b)),
        }
    }

    /// Pointer to the start of the page.
    pub(super) fn ptr(&self) -> NonNull<u8> {
        self.ptr.cast()
    }

    /// Volatile read of the `u32` at byte `off`.
    pub(super) fn read_u32(&self, off: usize) -> u32 {
        assert!(off % 4 == 0 && off + 4 <= XEN_PAGE_SIZE);
        // SAFETY: in bounds and aligned; the page lives as long as `self`.
        unsafe { std::ptr::read_volatile(self.ptr().as_ptr().add(off).cast::<u32>()) }
    }

    /// Volatile write of the `u32` at byte `off`.
    pub(super) fn write_u32(&self, off: usize, v: u32) {
        assert!(off % 4 == 0 && off + 4 <= XEN_PAGE_SIZE);
        // SAFETY: in bounds and aligned; the page lives as long as `self`.
        unsafe { std::ptr::write_volatile(self.ptr().as_ptr().add(off).cast::<u32>(), v) }
    }

    /// Volatile read of byte `off`.
    pub(super) fn read_u8(&self, off: usize) -> u8 {
        assert!(off < XEN_PAGE_SIZE);
        // SAFETY: in bounds; the page lives as long as `self`.
        unsafe { std::ptr::read_volatile(self.ptr().as_ptr().add(off)) }
    }

    /// Volatile write of byte `off`.
    pub(super) fn write_u8(&self, off: usize, v: u8) {
        assert!(off < XEN_PAGE_SIZE);
        // SAFETY: in bounds; the page lives as long as `self`.
        unsafe { std::ptr::write_volatile(self.ptr().as_ptr().add(off), v) }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `Box::leak` in `new` and is freed once.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

/// xorshift64* PRNG: tiny, deterministic, good enough for tests.
pub(super) struct Rng(u64);

impl Rng {
    /// Seeds the generator (0 is remapped).
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub(super) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish value in `lo..=hi`.
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// `true` with probability `num/den`.
    pub(super) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }

    /// Random bytes.
    pub(super) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// An emulated grant table: which references currently grant which page.
#[derive(Default)]
pub(super) struct GrantTable {
    pages: HashMap<GrantRef, Vec<u8>>,
}

impl GrantTable {
    /// Grants `gref` on a fresh zeroed page (the reference must be unused).
    pub(super) fn grant(&mut self, gref: GrantRef) {
        let old = self.pages.insert(gref, vec![0; XEN_PAGE_SIZE]);
        assert!(old.is_none(), "grant ref {gref} granted twice");
    }

    /// Grants `gref` on a page holding `data` at `offset`.
    pub(super) fn grant_with(&mut self, gref: GrantRef, offset: usize, data: &[u8]) {
        self.grant(gref);
        self.page_mut(gref)[offset..offset + data.len()].copy_from_slice(data);
    }

    /// Ends access; returns the page.
    pub(super) fn end_access(&mut self, gref: GrantRef) -> Vec<u8> {
        self.pages
            .remove(&gref)
            .unwrap_or_else(|| panic!("grant ref {gref} not granted"))
    }

    /// The page granted by `gref` (backend view).
    pub(super) fn page(&self, gref: GrantRef) -> &[u8] {
        self.pages
            .get(&gref)
            .unwrap_or_else(|| panic!("backend used ungranted ref {gref}"))
    }

    /// Mutable page granted by `gref` (backend view).
    pub(super) fn page_mut(&mut self, gref: GrantRef) -> &mut Vec<u8> {
        self.pages
            .get_mut(&gref)
            .unwrap_or_else(|| panic!("backend used ungranted ref {gref}"))
    }

    /// Number of live grants.
    pub(super) fn live(&self) -> usize {
        self.pages.len()
    }
}

/// TX grant references used by the tests.
pub(super) fn tx_grefs() -> Vec<GrantRef> {
    (0..TX_RING_SIZE as u32).map(|i| 1000 + i).collect()
}

/// RX grant references used by the tests.
pub(super) fn rx_grefs() -> Vec<GrantRef> {
    (0..RX_RING_SIZE as u32).map(|i| 5000 + i).collect()
}

/// A TX queue on `page` with indices starting at `start`.
pub(super) fn tx_queue<T: Copy>(page: &SharedPage, start: u32) -> TxQueue<T> {
    // SAFETY: the page is valid, page-aligned and outlives the queue in the
    // tests; only the queue's ring and the test's back ring access it.
    let ring = unsafe { TxRing::new_at(page.ptr(), start) };
    TxQueue::new(ring, &tx_grefs()).unwrap()
}

/// An RX queue on `page` with indices starting at `start`.
pub(super) fn rx_queue<T: Copy>(page: &SharedPage, start: u32) -> RxQueue<T> {
    // SAFETY: as in `tx_queue`.
    let ring = unsafe { RxRing::new_at(page.ptr(), start) };
    RxQueue::new(ring, &rx_grefs()).unwrap()
}

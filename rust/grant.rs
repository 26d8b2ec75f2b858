// SPDX-License-Identifier: GPL-2.0

//! Kernel-independent bookkeeping for request ids and grant references.
//!
//! * [`IdPool`] is a fixed-capacity free list of `u16` ids (the TX request
//!   ids of xen-netfront's `tx_skb_freelist`).
//! * [`GrantPool`] hands out grant references from a batch the kernel glue
//!   claimed up front (xen-netfront's `gref_{tx,rx}_head`).
//!
//! Both refuse double frees and foreign values instead of corrupting their
//! state. Neither makes any kernel call. This file only depends on `core`.

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr;

use crate::netif::GrantRef;

/// Errors of [`IdPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdError {
    /// The id is not below the pool's capacity.
    OutOfRange {
        /// The offending id.
        id: u16,
    },
    /// The id is not allocated (double free).
    NotAllocated {
        /// The offending id.
        id: u16,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IdError::OutOfRange { id } => write!(f, "id {} is out of range", id),
            IdError::NotAllocated { id } => {
                write!(f, "id {} is not allocated (double free?)", id)
            }
        }
    }
}

/// A fixed-capacity pool of ids `0..N`.
pub(crate) struct IdPool<const N: usize> {
    /// Stack of free ids; `free[..nfree]` are valid.
    free: [u16; N],
    nfree: usize,
    /// `allocated[id]` tells whether `id` is handed out.
    allocated: [bool; N],
}

impl<const N: usize> IdPool<N> {
    const CAPACITY_OK: () = assert!(N >= 1 && N <= 1 << 16);

    /// Returns a pool with every id free.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        let mut this = MaybeUninit::uninit();
        Self::init(&mut this);
        // SAFETY: `init` initialised every field.
        unsafe { this.assume_init() }
    }

    /// Initialises a pool in place (every id free) and returns it. Use this
    /// to build the pool inside a larger heap allocation without a large
    /// temporary on the stack.
    pub(crate) fn init(this: &mut MaybeUninit<Self>) -> &mut Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_OK;
        let p = this.as_mut_ptr();
        // SAFETY: `p` points to writable, properly aligned memory for `Self`
        // (it comes from a `&mut MaybeUninit<Self>`). Each field is written
        // element by element through raw pointers without reading or
        // creating references to uninitialised memory, and `i < N` keeps the
        // element writes in bounds.
        unsafe {
            let free = ptr::addr_of_mut!((*p).free).cast::<u16>();
            let allocated = ptr::addr_of_mut!((*p).allocated).cast::<bool>();
            for i in 0..N {
                // Ids are popped from the end: id 0 comes out first.
                free.add(i).write((N - 1 - i) as u16);
                allocated.add(i).write(false);
            }
            ptr::addr_of_mut!((*p).nfree).write(N);
            // All fields are initialised now.
            this.assume_init_mut()
        }
    }

    /// Number of ids the pool manages.
    #[cfg(test)]
    pub(crate) const fn capacity(&self) -> usize {
        N
    }

    /// Number of ids currently handed out.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        N - self.nfree
    }

    /// Number of ids currently free.
    pub(crate) fn available(&self) -> usize {
        self.nfree
    }

    /// Takes a free id, or returns `None` when all are in use.
    pub(crate) fn alloc(&mut self) -> Option<u16> {
        let top = self.nfree.checked_sub(1)?;
        let id = *self.free.get(top)?;
        let flag = self.allocated.get_mut(id as usize)?;
        if *flag {
            // Corrupted free list; refuse rather than hand out a live id.
            return None;
        }
        *flag = true;
        self.nfree = top;
        Some(id)
    }

    /// Returns `id` to the pool. Refuses ids out of range and ids that are
    /// not allocated (double free).
    pub(crate) fn free(&mut self, id: u16) -> Result<(), IdError> {
        let flag = self
            .allocated
            .get_mut(id as usize)
            .ok_or(IdError::OutOfRange { id })?;
        if !*flag {
            return Err(IdError::NotAllocated { id });
        }
        let slot = self
            .free
            .get_mut(self.nfree)
            .ok_or(IdError::NotAllocated { id })?;
        *slot = id;
        *flag = false;
        self.nfree += 1;
        Ok(())
    }

    /// Whether `id` is currently handed out (false for out-of-range ids).
    #[cfg(test)]
    pub(crate) fn is_pending(&self, id: u16) -> bool {
        self.allocated.get(id as usize).copied().unwrap_or(false)
    }
}

#[cfg(test)]
impl<const N: usize> Default for IdPool<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Errors of [`GrantPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrantError {
    /// The pool already holds its maximum number of references.
    PoolFull {
        /// The reference that did not fit.
        gref: GrantRef,
    },
    /// The reference is already held by the pool.
    Duplicate {
        /// The duplicated reference.
        gref: GrantRef,
    },
    /// The grant was not handed out by this pool.
    Foreign {
        /// The offending reference.
        gref: GrantRef,
    },
    /// The grant is not currently handed out (double free).
    NotAllocated {
        /// The offending reference.
        gref: GrantRef,
    },
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GrantError::PoolFull { gref } => {
                write!(f, "grant pool is full, cannot add grant ref {}", gref)
            }
            GrantError::Duplicate { gref } => {
                write!(f, "grant ref {} is already in the pool", gref)
            }
            GrantError::Foreign { gref } => {
                write!(f, "grant ref {} does not belong to this pool", gref)
            }
            GrantError::NotAllocated { gref } => {
                write!(f, "grant ref {} is not allocated (double free?)", gref)
            }
        }
    }
}

/// A grant reference handed out by a [`GrantPool`].
///
/// It remembers its slot in the pool so that freeing is O(1) and foreign or
/// doubly freed grants are detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    slot: u16,
    gref: GrantRef,
}

impl Grant {
    /// The grant reference to put in a ring request.
    pub(crate) fn gref(&self) -> GrantRef {
        self.gref
    }

    /// Its slot in the pool: the position, in the order they were added,
    /// of its reference (a reference bound to one page for good, such as
    /// a bounce buffer, finds that page by it).
    pub(crate) fn slot(&self) -> usize {
        usize::from(self.slot)
    }
}

/// A pool of up to `N` grant references obtained by the kernel glue.
pub(crate) struct GrantPool<const N: usize> {
    refs: [GrantRef; N],
    /// Number of references held (`refs[..len]`).
    len: usize,
    /// Slots of free references.
    slots: IdPool<N>,
}

impl<const N: usize> GrantPool<N> {
    /// Returns an empty pool.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        let mut this = MaybeUninit::uninit();
        Self::init(&mut this);
        // SAFETY: `init` initialised every field.
        unsafe { this.assume_init() }
    }

    /// Initialises an empty pool in place and returns it (see
    /// [`IdPool::init`]).
    pub(crate) fn init(this: &mut MaybeUninit<Self>) -> &mut Self {
        let p = this.as_mut_ptr();
        // SAFETY: `p` is valid for writes and aligned (from `&mut
        // MaybeUninit<Self>`); fields are written through raw pointers
        // without reading uninitialised memory; `i < N` keeps writes in
        // bounds. `MaybeUninit<IdPool<N>>` has the layout of `IdPool<N>`.
        unsafe {
            let refs = ptr::addr_of_mut!((*p).refs).cast::<GrantRef>();
            for i in 0..N {
                refs.add(i).write(0);
            }
            ptr::addr_of_mut!((*p).len).write(0);
            let slots = &mut *ptr::addr_of_mut!((*p).slots).cast::<MaybeUninit<IdPool<N>>>();
            let slots = IdPool::init(slots);
            // No reference is held yet: mark every slot as handed out so
            // that `alloc` only returns slots filled by `add`.
            while slots.alloc().is_some() {}
            this.assume_init_mut()
        }
    }

    /// Adds a reference claimed by the kernel glue; it becomes available.
    pub(crate) fn add(&mut self, gref: GrantRef) -> Result<(), GrantError> {
        if self.refs().any(|r| r == gref) {
            return Err(GrantError::Duplicate { gref });
        }
        let slot = self.len;
        let entry = self
            .refs
            .get_mut(slot)
            .ok_or(GrantError::PoolFull { gref })?;
        *entry = gref;
        // The slot was marked handed out by `init`; freeing makes it available.
        self.slots
            .free(slot as u16)
            .map_err(|_| GrantError::PoolFull { gref })?;
        self.len += 1;
        Ok(())
    }

    /// Adds every reference of `grefs` (see [`GrantPool::add`]).
    pub(crate) fn add_all(&mut self, grefs: &[GrantRef]) -> Result<(), GrantError> {
        for &g in grefs {
            self.add(g)?;
        }
        Ok(())
    }

    /// Iterates over every reference held by the pool, free or handed out
    /// (for teardown).
    pub(crate) fn refs(&self) -> impl Iterator<Item = GrantRef> + '_ {
        self.refs.iter().take(self.len).copied()
    }

    /// Number of references held by the pool.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool holds no reference at all.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of references available for [`GrantPool::alloc`].
    pub(crate) fn available(&self) -> usize {
        self.slots.available()
    }

    /// Number of references currently handed out.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.len - self.slots.available()
    }

    /// Hands out a free reference, or `None` if all are in use.
    pub(crate) fn alloc(&mut self) -> Option<Grant> {
        let slot = self.slots.alloc()?;
        match self.refs.get(slot as usize) {
            Some(&gref) if (slot as usize) < self.len => Some(Grant { slot, gref }),
            _ => {
                // Cannot happen: only slots below `len` are ever freed.
                let _ = self.slots.free(slot);
                None
            }
        }
    }

    /// Returns a grant to the pool. Refuses grants of other pools and
    /// grants that are not handed out.
    pub(crate) fn free(&mut self, grant: Grant) -> Result<(), GrantError> {
        let gref = grant.gref;
        if grant.slot as usize >= self.len || self.refs.get(grant.slot as usize) != Some(&gref) {
            return Err(GrantError::Foreign { gref });
        }
        self.slots
            .free(grant.slot)
            .map_err(|_| GrantError::NotAllocated { gref })
    }

    /// Whether `grant` is currently handed out by this pool.
    #[cfg(test)]
    pub(crate) fn is_allocated(&self, grant: Grant) -> bool {
        (grant.slot as usize) < self.len
            && self.refs.get(grant.slot as usize) == Some(&grant.gref)
            && self.slots.is_pending(grant.slot)
    }
}

#[cfg(test)]
impl<const N: usize> Default for GrantPool<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Id free list and grant pool.

use std::collections::HashSet;
use std::mem::MaybeUninit;

use crate::grant::{GrantError, GrantPool, IdError, IdPool};
use crate::netif::GrantRef;

#[test]
fn id_pool_alloc_all_then_exhausted() {
    let mut p = IdPool::<256>::new();
    assert_eq!(p.capacity(), 256);
    assert_eq!(p.count(), 0);
    assert_eq!(p.available(), 256);
    let mut seen = HashSet::new();
    for i in 0..256 {
        let id = p.alloc().unwrap();
        assert!(id < 256);
        assert!(seen.insert(id), "id {id} handed out twice");
        assert!(p.is_pending(id));
        assert_eq!(p.count(), i + 1);
    }
    assert_eq!(p.alloc(), None);
    assert_eq!(p.available(), 0);
    for id in 0..256u16 {
        p.free(id).unwrap();
    }
    assert_eq!(p.count(), 0);
    assert_eq!(p.alloc(), Some(255), "LIFO: last freed comes back first");
}

#[test]
fn id_pool_first_id_is_zero() {
    let mut p = IdPool::<4>::default();
    assert_eq!(p.alloc(), Some(0));
    assert_eq!(p.alloc(), Some(1));
}

#[test]
fn id_pool_refuses_double_free_and_out_of_range() {
    let mut p = IdPool::<8>::new();
    let a = p.alloc().unwrap();
    assert_eq!(p.free(a), Ok(()));
    assert_eq!(p.free(a), Err(IdError::NotAllocated { id: a }));
    assert_eq!(p.free(3), Err(IdError::NotAllocated { id: 3 }));
    assert_eq!(p.free(8), Err(IdError::OutOfRange { id: 8 }));
    assert_eq!(p.free(u16::MAX), Err(IdError::OutOfRange { id: u16::MAX }));
    assert!(!p.is_pending(8));
    assert!(!p.is_pending(a));
    // State unharmed.
    assert_eq!(p.available(), 8);
    let ids: HashSet<u16> = (0..8).map(|_| p.alloc().unwrap()).collect();
    assert_eq!(ids.len(), 8);
    assert!(IdError::OutOfRange { id: 8 }
        .to_string()
        .contains("out of range"));
    assert!(IdError::NotAllocated { id: 3 }
        .to_string()
        .contains("double free"));
}

#[test]
fn id_pool_full_capacity_u16() {
    let mut p = Box::new(MaybeUninit::<IdPool<65536>>::uninit());
    let p = IdPool::init(&mut p);
    for _ in 0..65536 {
        p.alloc().unwrap();
    }
    assert_eq!(p.alloc(), None);
    p.free(65535).unwrap();
    assert_eq!(p.alloc(), Some(65535));
}

#[test]
fn grant_pool_alloc_free() {
    let mut g = GrantPool::<4>::new();
    assert!(g.is_empty());
    assert_eq!(g.alloc(), None);
    g.add_all(&[10, 11, 12]).unwrap();
    assert_eq!(g.len(), 3);
    assert_eq!(g.available(), 3);
    let a = g.alloc().unwrap();
    let b = g.alloc().unwrap();
    let c = g.alloc().unwrap();
    assert_eq!(g.alloc(), None);
    let mut refs = [a.gref(), b.gref(), c.gref()];
    refs.sort();
    assert_eq!(refs, [10, 11, 12]);
    assert_eq!(g.in_use(), 3);
    assert!(g.is_allocated(b));
    g.free(b).unwrap();
    assert!(!g.is_allocated(b));
    assert_eq!(g.free(b), Err(GrantError::NotAllocated { gref: b.gref() }));
    assert_eq!(g.alloc(), Some(b));
    g.free(a).unwrap();
    g.free(b).unwrap();
    g.free(c).unwrap();
    assert_eq!(g.available(), 3);
    assert_eq!(g.refs().collect::<Vec<_>>(), vec![10, 11, 12]);
}

#[test]
fn grant_pool_refuses_bad_input() {
    let mut g = GrantPool::<2>::new();
    g.add(7).unwrap();
    assert_eq!(g.add(7), Err(GrantError::Duplicate { gref: 7 }));
    g.add(8).unwrap();
    assert_eq!(g.add(9), Err(GrantError::PoolFull { gref: 9 }));

    // A grant from another pool.
    let mut other = GrantPool::<2>::new();
    other.add(99).unwrap();
    let foreign = other.alloc().unwrap();
    assert_eq!(g.free(foreign), Err(GrantError::Foreign { gref: 99 }));
    // Same slot number, different reference.
    let mut other2 = GrantPool::<2>::new();
    other2.add(8).unwrap();
    other2.add(7).unwrap();
    let x = other2.alloc().unwrap();
    let mine = g.alloc().unwrap();
    if x.gref() != mine.gref() {
        assert!(matches!(g.free(x), Err(GrantError::Foreign { .. })));
    }
    for e in [
        GrantError::PoolFull { gref: 1 },
        GrantError::Duplicate { gref: 1 },
        GrantError::Foreign { gref: 1 },
        GrantError::NotAllocated { gref: 1 },
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn grant_pool_add_after_alloc() {
    let mut g = GrantPool::<3>::default();
    g.add(1).unwrap();
    let a = g.alloc().unwrap();
    g.add(2).unwrap();
    let b = g.alloc().unwrap();
    assert_eq!((a.gref(), b.gref()), (1, 2));
    assert_eq!(g.alloc(), None);
    g.free(a).unwrap();
    g.free(b).unwrap();
}

/// A grant's slot is the position of its reference in the order the
/// references were added: the TX bounce pages are found by it.
#[test]
fn grant_slot_is_the_position_of_its_reference() {
    let refs: Vec<GrantRef> = (0..16).map(|i| 1000 + 7 * i).collect();
    let mut pool = GrantPool::<16>::new();
    pool.add_all(&refs).unwrap();
    let mut seen = Vec::new();
    while let Some(g) = pool.alloc() {
        assert_eq!(refs[g.slot()], g.gref());
        seen.push(g);
    }
    assert_eq!(seen.len(), 16);
    // Freed and taken again: same slot for the same reference.
    for g in seen.drain(..) {
        pool.free(g).unwrap();
    }
    while let Some(g) = pool.alloc() {
        assert_eq!(refs[g.slot()], g.gref());
    }
}

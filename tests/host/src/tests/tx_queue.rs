// SPDX-License-Identifier: GPL-2.0

//! TX bookkeeping: request layout, flow control and response validation.

use std::mem::MaybeUninit;

use super::common::{tx_queue, SharedPage};
use crate::back_ring::BackRing;
use crate::grant::{GrantError, GrantPool};
use crate::netif::*;
use crate::queue::*;
use crate::tx_queue::*;

type Back = BackRing<TxRequest, TxResponse>;

fn back(page: &SharedPage, start: u32) -> Back {
    // SAFETY: the page outlives the ring; only the queue's front ring and
    // this back ring use it.
    unsafe { Back::attach(page.ptr(), start) }
}

fn piece(offset: u16, len: u16) -> TxPiece {
    TxPiece { offset, len }
}

/// Takes every published request.
fn take_all(b: &mut Back) -> Vec<TxRequest> {
    b.unconsumed_requests().unwrap();
    std::iter::from_fn(|| b.take_request()).collect()
}

fn respond(b: &mut Back, id: u16, status: i16) {
    b.next_response_slot(TxResponse { id, status }).unwrap();
}

/// Polls and returns completions; grants are returned to the pool.
fn poll(q: &mut TxQueue<u32>) -> Result<Vec<TxCompletion<u32>>, QueueError> {
    let mut out = Vec::new();
    q.poll(|c, pool: &mut GrantPool<TX_RING_SIZE>| {
        pool.free(c.grant).unwrap();
        out.push(c);
    })?;
    Ok(out)
}

#[test]
fn single_piece_packet() {
    let page = SharedPage::new();
    let mut q = tx_queue::<u32>(&page, 0);
    let mut b = back(&page, 0);
    let res = q
        .reserve(&[piece(100, 60)], NETTXF_CSUM_BLANK, None)
        .unwrap();
    assert_eq!(res.pieces(), 1);
    assert_eq!(res.slots(), 1);
    assert_eq!(res.total_len(), 60);
    let gref = res.gref(0).unwrap();
    assert_eq!(res.gref(1), None);
    assert_eq!(q.free_slots(), 255);
    q.post(res, 42).unwrap();
    assert!(q.push(), "first push notifies");
    let reqs = take_all(&mut b);
    assert_eq!(
        reqs,
        vec![TxRequest {
            gref,
            offset: 100,
            flags: NETTXF_CSUM_BLANK,
            id: reqs[0].id,
            size: 60,
        }]
    );
    assert_eq!(q.ids_in_use(), 1);
    respond(&mut b, reqs[0].id, XEN_NETIF_RSP_OKAY);
    b.push_responses();
    let c = poll(&mut q).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].token, 42);
    assert_eq!(c[0].grant.gref(), gref);
    assert_eq!(c[0].status, TxStatus::Okay);
    assert_eq!(c[0].packet_done, Some(TxStatus::Okay));
    assert_eq!(q.ids_in_use(), 0);
    assert_eq!(q.grants_ref().available(), TX_RING_SIZE);
    assert_eq!(q.free_slots(), 256);
}

#[test]
fn multi_piece_with_gso_extra_and_out_of_order_completion() {
    let page = SharedPage::new();
    let start = u32::MAX - 1;
    let mut q = tx_queue::<u32>(&page, start);
    let mut b = back(&page, start);
    let pieces = [piece(4000, 96), piece(0, 4096), piece(0, 1000)];
    let gso = ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV4, false);
    let res = q
        .reserve(
            &pieces,
            NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
            Some(gso),
        )
        .unwrap();
    assert_eq!(res.slots(), 4);
    let grefs: Vec<u32> = (0..3).map(|i| res.gref(i).unwrap()).collect();
    q.post(res, 7).unwrap();
    q.push();
    let reqs = take_all(&mut b);
    assert_eq!(reqs.len(), 4);
    // First slot: total size, csum flags, extra_info and more_data.
    assert_eq!(reqs[0].size, 96 + 4096 + 1000);
    assert_eq!(
        reqs[0].flags,
        NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED | NETTXF_EXTRA_INFO | NETTXF_MORE_DATA
    );
    assert_eq!((reqs[0].gref, reqs[0].offset), (grefs[0], 4000));
    // Extra-info slot right after the first request.
    let e = ExtraInfo::from_tx_request(&reqs[1]);
    assert_eq!(e, gso);
    // Remaining pieces: their own size, more_data on all but the last.
    assert_eq!(
        (reqs[2].size, reqs[2].flags, reqs[2].gref),
        (4096, NETTXF_MORE_DATA, grefs[1])
    );
    assert_eq!(
        (reqs[3].size, reqs[3].flags, reqs[3].gref),
        (1000, 0, grefs[2])
    );
    let ids = [reqs[0].id, reqs[2].id, reqs[3].id];
    assert_eq!(q.ids_in_use(), 3);

    // Backend answers in a scrambled order, with a NULL for the extra slot
    // right after the head's response.
    respond(&mut b, ids[0], XEN_NETIF_RSP_OKAY);
    respond(&mut b, 0xdead, XEN_NETIF_RSP_NULL);
    respond(&mut b, ids[2], XEN_NETIF_RSP_ERROR);
    b.push_responses();
    let c = poll(&mut q).unwrap();
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.packet_done.is_none() && c.token == 7));
    assert_eq!(c[1].status, TxStatus::Error);
    // The head id is kept until the packet completes.
    assert_eq!(q.ids_in_use(), 2);

    respond(&mut b, ids[1], XEN_NETIF_RSP_OKAY);
    b.push_responses();
    let c = poll(&mut q).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].packet_done, Some(TxStatus::Error), "worst status wins");
    assert_eq!(q.ids_in_use(), 0);
    assert_eq!(q.grants_ref().available(), TX_RING_SIZE);
}

#[test]
fn reserve_validation_errors() {
    let page = SharedPage::new();
    let mut q = tx_queue::<u32>(&page, 0);
    assert_eq!(q.reserve(&[], 0, None).unwrap_err(), QueueError::NoPieces);
    let many = vec![piece(0, 100); MAX_TX_PIECES + 1];
    assert_eq!(
        q.reserve(&many, 0, None).unwrap_err(),
        QueueError::TooManyPieces { pieces: 19 }
    );
    assert_eq!(
        q.reserve(&[piece(0, 1)], NETTXF_MORE_DATA, None)
            .unwrap_err(),
        QueueError::BadTxFlags {
            flags: NETTXF_MORE_DATA
        }
    );
    let bad_extra = ExtraInfo::from_bytes([9, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        q.reserve(&[piece(0, 1)], 0, Some(bad_extra)).unwrap_err(),
        QueueError::BadTxExtra { extra_type: 9 }
    );
    let chained = ExtraInfo::new_gso(1, XEN_NETIF_GSO_TYPE_TCPV4, true);
    assert!(matches!(
        q.reserve(&[piece(0, 1)], 0, Some(chained)),
        Err(QueueError::BadTxExtra { .. })
    ));
    assert_eq!(
        q.reserve(&[piece(0, 10), piece(5, 0)], 0, None)
            .unwrap_err(),
        QueueError::BadPiece {
            index: 1,
            offset: 5,
            len: 0
        }
    );
    assert_eq!(
        q.reserve(&[piece(4000, 97)], 0, None).unwrap_err(),
        QueueError::BadPiece {
            index: 0,
            offset: 4000,
            len: 97
        }
    );
    let big = vec![piece(0, 4096); 16];
    assert_eq!(
        q.reserve(&big, 0, None).unwrap_err(),
        QueueError::PacketTooLarge { len: 65536 }
    );
    // 0xFFFF exactly is allowed.
    let mut max = vec![piece(0, 4096); 15];
    max.push(piece(0, 4095));
    let r = q.reserve(&max, 0, None).unwrap();
    q.cancel(r).unwrap();
    // Nothing leaked by the failures.
    assert_eq!(q.ids_in_use(), 0);
    assert_eq!(q.grants_ref().available(), TX_RING_SIZE);
    assert_eq!(q.free_slots(), 256);
}

#[test]
fn ring_full_and_flow_control() {
    let page = SharedPage::new();
    let mut q = tx_queue::<u32>(&page, u32::MAX - 100);
    let mut b = back(&page, u32::MAX - 100);
    let mut posted = 0;
    while !q.need_stop() {
        let r = q.reserve(&[piece(0, 64)], 0, None).unwrap();
        q.post(r, posted).unwrap();
        posted += 1;
    }
    // netfront stops when 19 or fewer slots are left.
    assert_eq!(posted, 256 - 19);
    assert_eq!(q.free_slots(), 19);
    assert!(!q.can_wake());
    // A maximal packet (18 pieces + extra) still fits: no overflow.
    let maxp = vec![piece(0, 100); MAX_TX_PIECES];
    let gso = ExtraInfo::new_gso(100, XEN_NETIF_GSO_TYPE_TCPV4, false);
    let r = q.reserve(&maxp, 0, Some(gso)).unwrap();
    assert_eq!(
        q.reserve(&[piece(0, 1)], 0, None).unwrap_err(),
        QueueError::RingFull { needed: 1, free: 0 }
    );
    q.post(r, 999).unwrap();
    assert_eq!(q.ring().free_requests(), 0);
    q.push();

    // Complete everything.
    let reqs = take_all(&mut b);
    assert_eq!(reqs.len(), 256);
    let mut i = 0;
    while i < reqs.len() {
        respond(&mut b, reqs[i].id, XEN_NETIF_RSP_OKAY);
        if reqs[i].flags & NETTXF_EXTRA_INFO != 0 {
            i += 1;
            respond(&mut b, 0, XEN_NETIF_RSP_NULL);
        }
        i += 1;
    }
    b.push_responses();
    let c = poll(&mut q).unwrap();
    assert_eq!(c.len(), 255);
    assert_eq!(c.iter().filter(|c| c.packet_done.is_some()).count(), 238);
    assert!(q.can_wake());
    assert!(!q.need_stop());
    assert_eq!(q.ids_in_use(), 0);
}

#[test]
fn no_grants_and_no_ids() {
    // A queue with only 2 grant references.
    let page = SharedPage::new();
    // SAFETY: page valid and exclusive to this ring.
    let ring = unsafe { TxRing::new(page.ptr()) };
    let mut q = TxQueue::<u32>::new(ring, &[1, 2]).unwrap();
    let r = q.reserve(&[piece(0, 1), piece(0, 1)], 0, None).unwrap();
    assert_eq!(
        q.reserve(&[piece(0, 1)], 0, None).unwrap_err(),
        QueueError::NoGrants
    );
    q.cancel(r).unwrap();

    // Ids held by packets whose head completed but whose tail is pending.
    let page = SharedPage::new();
    let mut q = tx_queue::<u32>(&page, 5);
    let mut b = back(&page, 5);
    for t in 0..128 {
        let r = q.reserve(&[piece(0, 1), piece(0, 1)], 0, None).unwrap();
        q.post(r, t).unwrap();
    }
    q.push();
    let reqs = take_all(&mut b);
    for pair in reqs.chunks(2) {
        respond(&mut b, pair[0].id, XEN_NETIF_RSP_OKAY);
    }
    b.push_responses();
    assert_eq!(poll(&mut q).unwrap().len(), 128);
    assert_eq!(q.free_slots(), 128);
    assert_eq!(q.ids_in_use(), 256);
    assert_eq!(
        q.reserve(&[piece(0, 1)], 0, None).unwrap_err(),
        QueueError::NoIds
    );
    for pair in reqs.chunks(2) {
        respond(&mut b, pair[1].id, XEN_NETIF_RSP_DROPPED);
    }
    b.push_responses();
    let c = poll(&mut q).unwrap();
    assert_eq!(c.len(), 128);
    assert!(c.iter().all(|c| c.packet_done == Some(TxStatus::Dropped)));
    assert_eq!(q.ids_in_use(), 0);
}

#[test]
fn cancel_and_stale_reservations() {
    let page = SharedPage::new();
    let mut q1 = tx_queue::<u32>(&page, 0);
    let page2 = SharedPage::new();
    let mut q2 = tx_queue::<u32>(&page2, 0);
    let r = q1.reserve(&[piece(0, 1)], 0, None).unwrap();
    assert_eq!(q1.free_slots(), 255);
    assert_eq!(q2.post(r, 1).unwrap_err(), QueueError::StaleReservation);
    let r = q1.reserve(&[piece(0, 1)], 0, None).unwrap();
    assert_eq!(q2.cancel(r).unwrap_err(), QueueError::StaleReservation);
    // q1 still has both reservations outstanding (they were consumed by
    // the failed calls on q2), so its slots stay reserved: the caller lost
    // them, which is the documented misuse.
    assert_eq!(q1.free_slots(), 254);
    let r = q1.reserve(&[piece(0, 1)], 0, None).unwrap();
    q1.cancel(r).unwrap();
    assert_eq!(q1.free_slots(), 254);
}

#[test]
fn bad_responses_are_fatal() {
    let cases: Vec<(TxResponse, QueueError)> = vec![
        (
            TxResponse { id: 256, status: 0 },
            QueueError::IdOutOfRange { id: 256 },
        ),
        (
            TxResponse {
                id: u16::MAX,
                status: 0,
            },
            QueueError::IdOutOfRange { id: u16::MAX },
        ),
        (
            TxResponse { id: 17, status: 0 },
            QueueError::IdNotPending { id: 17 },
        ),
        (
            TxResponse { id: 0, status: 2 },
            QueueError::UnknownStatus { id: 0, status: 2 },
        ),
        (
            TxResponse { id: 0, status: -3 },
            QueueError::UnknownStatus { id: 0, status: -3 },
        ),
    ];
    for (rsp, want) in cases {
        let page = SharedPage::new();
        let mut q = tx_queue::<u32>(&page, u32::MAX);
        let mut b = back(&page, u32::MAX);
        let r = q.reserve(&[piece(0, 1)], 0, None).unwrap();
        q.post(r, 1).unwrap();
        q.push();
        let reqs = take_all(&mut b);
        assert_eq!(reqs[0].id, 0);
        respond(&mut b, rsp.id, rsp.status);
        b.push_responses();
        assert_eq!(poll(&mut q).unwrap_err(), want);
        assert!(want.is_backend_error());
        assert!(q.is_broken());
        assert_eq!(poll(&mut q).unwrap_err(), QueueError::Broken);
        assert_eq!(
            q.reserve(&[piece(0, 1)], 0, None).unwrap_err(),
            QueueError::Broken
        );
        assert!(!q.can_wake());
    }
}

#[test]
fn duplicate_response_detected() {
    let page = SharedPage::new();
    let mut q = tx_queue::<u32>(&page, 0);
    let mut b = back(&page, 0);
    for t in 0..2 {
        let r = q.reserve(&[piece(0, 1)], 0, None).unwrap();
        q.post(r, t).unwrap();
    }
    q.push();
    let reqs = take_all(&mut b);
    respond(&mut b, reqs[0].id, 0);
    respond(&mut b, reqs[0].id, 0);
    b.push_responses();
    let mut n = 0;
    let e = q
        .poll(|c, pool| {
            pool.free(c.grant).unwrap();
            n += 1;
        })
        .unwrap_err();
    assert_eq!(n, 1);
    assert_eq!(e, QueueError::IdNotPending { id: reqs[0].id });
}

#[test]
fn producer_overflow_is_fatal() {
    let page = SharedPage::new();
    let mut q = tx_queue::<u32>(&page, 10);
    let r = q.reserve(&[piece(0, 1)], 0, None).unwrap();
    q.post(r, 1).unwrap();
    q.push();
    page.write_u32(SRING_RSP_PROD_OFFSET, 12);
    let e = poll(&mut q).unwrap_err();
    assert_eq!(
        e,
        QueueError::ProducerOverflow {
            rsp_prod: 12,
            rsp_cons: 10,
            req_prod: 11
        }
    );
    assert!(e.to_string().contains("illegal number of responses"), "{e}");
    assert!(q.is_broken());
}

#[test]
fn release_all_at_teardown() {
    let page = SharedPage::new();
    let mut q = tx_queue::<u32>(&page, 0);
    let r = q
        .reserve(&[piece(0, 1), piece(0, 2), piece(0, 3)], 0, None)
        .unwrap();
    q.post(r, 5).unwrap();
    let r = q.reserve(&[piece(0, 1)], 0, None).unwrap();
    q.post(r, 6).unwrap();
    q.push();
    let mut done = Vec::new();
    let n = q.release_all(|c, pool| {
        pool.free(c.grant).unwrap();
        assert_eq!(c.status, TxStatus::Dropped);
        if c.packet_done.is_some() {
            done.push(c.token);
        }
    });
    assert_eq!(n, 4);
    done.sort();
    assert_eq!(done, vec![5, 6]);
    assert_eq!(q.ids_in_use(), 0);
    assert_eq!(q.grants_ref().available(), TX_RING_SIZE);
}

#[test]
fn in_place_init_and_bad_grefs() {
    let page = SharedPage::new();
    let mut slot: Box<MaybeUninit<TxQueue<usize>>> = Box::new(MaybeUninit::uninit());
    // SAFETY: page valid and exclusive to this ring.
    let ring = unsafe { TxRing::new(page.ptr()) };
    let q = TxQueue::init(&mut slot, ring, &super::common::tx_grefs()).unwrap();
    assert_eq!(q.grants().len(), TX_RING_SIZE);
    assert!(!q.is_broken());

    let too_many: Vec<u32> = (0..257).collect();
    // SAFETY: as above; the previous queue is not used any more.
    let ring = unsafe { TxRing::new(page.ptr()) };
    assert_eq!(
        TxQueue::<u32>::new(ring, &too_many).err(),
        Some(QueueError::Grant(GrantError::PoolFull { gref: 256 }))
    );
    // SAFETY: as above.
    let ring = unsafe { TxRing::new(page.ptr()) };
    assert_eq!(
        TxQueue::<u32>::new(ring, &[3, 4, 3]).err(),
        Some(QueueError::Grant(GrantError::Duplicate { gref: 3 }))
    );
}

#[test]
fn layout_splits_at_page_boundaries() {
    use crate::tx_queue::{TxLayout, TxPiece};
    let split = |addr: usize, len: usize| {
        let mut l = TxLayout::new();
        l.add_span(0, addr, len).then(|| l.pieces().to_vec())
    };
    // Within one page.
    assert_eq!(
        split(0x1000 + 100, 1400).unwrap(),
        [TxPiece {
            offset: 100,
            len: 1400
        }]
    );
    // Crossing one boundary.
    assert_eq!(
        split(0x2000 + 4000, 1514).unwrap(),
        [
            TxPiece {
                offset: 4000,
                len: 96
            },
            TxPiece {
                offset: 0,
                len: 1418
            }
        ]
    );
    // Exactly one full page, page aligned.
    assert_eq!(
        split(0x3000, 4096).unwrap(),
        [TxPiece {
            offset: 0,
            len: 4096
        }]
    );
    // 64 KiB starting mid-page: 17 pieces, the sum is the length.
    let out = split(0x5000 + 7, 65535).unwrap();
    assert_eq!(out.len(), 17);
    assert_eq!(out.iter().map(|p| usize::from(p.len)).sum::<usize>(), 65535);
    assert!(out
        .iter()
        .all(|p| usize::from(p.offset) + usize::from(p.len) <= 4096));
    // More pieces than a packet may have (18 pages and a byte, offset).
    assert_eq!(split(0x1000 + 4095, 18 * 4096 + 2), None);
    // Nothing to send.
    assert_eq!(split(0x1000, 0).unwrap(), []);
}

/// A queue and the backend ring on one page (the page moves, its memory
/// does not).
fn rig(start: u32) -> (SharedPage, TxQueue<u32>, Back) {
    let page = SharedPage::new();
    let q = tx_queue::<u32>(&page, start);
    let b = back(&page, start);
    (page, q, b)
}

/// A `XEN_NETIF_RSP_NULL` is the response of an extra-info slot: one that
/// follows anything but the response of a head that carried an extra-info
/// slot (or comes once too often) disables the queue.
#[test]
fn null_response_only_after_a_head_with_extra() {
    let gso = ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV4, false);
    // A NULL with nothing due.
    let (page, mut q, mut b) = rig(0);
    for t in [1, 2] {
        let res = q.reserve(&[piece(0, 60)], 0, None).unwrap();
        q.post(res, t).unwrap();
    }
    q.push();
    let reqs = take_all(&mut b);
    respond(&mut b, reqs[0].id, XEN_NETIF_RSP_OKAY);
    respond(&mut b, 0, XEN_NETIF_RSP_NULL);
    b.push_responses();
    assert_eq!(poll(&mut q).unwrap_err(), QueueError::UnexpectedNull);
    assert_eq!(poll(&mut q).unwrap_err(), QueueError::Broken);
    drop(page);

    // Two NULLs for one extra-info slot.
    let (page, mut q, mut b) = rig(0);
    let res = q.reserve(&[piece(0, 60)], 0, Some(gso)).unwrap();
    q.post(res, 1).unwrap();
    let res = q.reserve(&[piece(0, 60)], 0, None).unwrap();
    q.post(res, 2).unwrap();
    q.push();
    let reqs = take_all(&mut b);
    assert_eq!(reqs.len(), 3);
    respond(&mut b, reqs[0].id, XEN_NETIF_RSP_OKAY);
    respond(&mut b, 0, XEN_NETIF_RSP_NULL);
    respond(&mut b, 0, XEN_NETIF_RSP_NULL);
    b.push_responses();
    assert_eq!(poll(&mut q).unwrap_err(), QueueError::UnexpectedNull);
    drop(page);

    // A NULL after another packet's response than the one with the extra.
    let (page, mut q, mut b) = rig(0);
    let res = q.reserve(&[piece(0, 60)], 0, Some(gso)).unwrap();
    q.post(res, 1).unwrap();
    let res = q.reserve(&[piece(0, 60)], 0, None).unwrap();
    q.post(res, 2).unwrap();
    q.push();
    let reqs = take_all(&mut b);
    assert_eq!(reqs.len(), 3);
    respond(&mut b, reqs[2].id, XEN_NETIF_RSP_OKAY);
    respond(&mut b, 0, XEN_NETIF_RSP_NULL);
    b.push_responses();
    assert_eq!(poll(&mut q).unwrap_err(), QueueError::UnexpectedNull);
    drop(page);

    // The NULL where it belongs, and a backend that leaves it out.
    let (page, mut q, mut b) = rig(0);
    for t in [1, 2] {
        let res = q.reserve(&[piece(0, 60)], 0, Some(gso)).unwrap();
        q.post(res, t).unwrap();
    }
    q.push();
    let reqs = take_all(&mut b);
    assert_eq!(reqs.len(), 4);
    respond(&mut b, reqs[0].id, XEN_NETIF_RSP_OKAY);
    respond(&mut b, 0, XEN_NETIF_RSP_NULL);
    respond(&mut b, reqs[2].id, XEN_NETIF_RSP_OKAY);
    b.push_responses();
    let c = poll(&mut q).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(q.ids_in_use(), 0);
    drop(page);
}

#[test]
fn lazy_completions_always_wake_a_stopped_queue() {
    // Whatever was in flight at the last poll, once the queue must stop the
    // backend's answers cross the event asked for: the TX interrupt comes
    // and the queue is woken. And the event is not asked for at the next
    // response (else laziness would spare nothing).
    for k in [
        0u32, 1, 2, 7, 63, 64, 65, 120, 200, 230, 235, 236, 237, 238, 240, 255,
    ] {
        let (_page, mut q, mut b) = rig(u32::MAX - 100);
        q.set_lazy_completions(true);
        let post = |q: &mut TxQueue<u32>, n: u32| {
            for t in 0..n {
                if q.need_stop() {
                    break;
                }
                let res = q.reserve(&[piece(0, 60)], 0, None).unwrap();
                q.post(res, t).unwrap();
            }
            q.push();
        };
        post(&mut q, k);
        assert!(poll(&mut q).unwrap().is_empty());
        if k > 0 {
            assert!(q.event_ahead() > 1, "lazy with {k} in flight");
        }
        post(&mut q, TX_RING_SIZE as u32);
        assert!(q.need_stop(), "the ring is full enough to stop");
        let mut notified = false;
        for r in take_all(&mut b) {
            respond(&mut b, r.id, XEN_NETIF_RSP_OKAY);
            notified |= b.push_responses();
        }
        assert!(notified, "no TX event with {k} in flight at the last poll");
        assert!(!poll(&mut q).unwrap().is_empty());
        assert!(q.can_wake(), "woken after {k}");
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Shared ring arithmetic, notification rules and producer validation.

use super::common::SharedPage;
use crate::back_ring::{BackRing, BackRingError};
use crate::netif::*;
use crate::ring::{need_notify, EventGate, FrontRing, GateError, RingError, RingWatch};

type Front = FrontRing<TxRequest, TxResponse>;
type Back = BackRing<TxRequest, TxResponse>;

fn pair(page: &SharedPage, start: u32) -> (Front, Back) {
    // SAFETY: the page is page-aligned, outlives both rings and is only
    // accessed through them (and the test's explicit volatile pokes).
    let f = unsafe { Front::new_at(page.ptr(), start) };
    // SAFETY: as above.
    let b = unsafe { Back::attach(page.ptr(), start) };
    (f, b)
}

fn req(id: u16) -> TxRequest {
    TxRequest {
        gref: 100 + u32::from(id),
        offset: id,
        flags: 0,
        id,
        size: 60,
    }
}

/// Backend answers every available request with an OKAY response.
fn backend_echo(b: &mut Back) -> u32 {
    b.unconsumed_requests().unwrap();
    let mut n = 0;
    while let Some(r) = b.take_request() {
        b.next_response_slot(TxResponse {
            id: r.id,
            status: XEN_NETIF_RSP_OKAY,
        })
        .unwrap();
        n += 1;
    }
    b.push_responses();
    n
}

#[test]
fn init_writes_shared_header() {
    let page = SharedPage::new();
    for off in 0..64 {
        page.write_u8(off, 0xaa);
    }
    let (f, _b) = pair(&page, 7);
    let s = f.shared_indices();
    assert_eq!((s.req_prod, s.rsp_prod), (7, 7));
    assert_eq!((s.req_event, s.rsp_event), (8, 8));
    for off in 16..64 {
        assert_eq!(page.read_u8(off), 0, "pad byte {off}");
    }
    assert_eq!(f.size(), 256);
    assert_eq!(f.free_requests(), 256);
    assert!(!f.full());

    // SAFETY: as in `pair`; the previous rings are no longer used.
    let f0 = unsafe { Front::new(page.ptr()) };
    assert_eq!(f0.shared_indices().req_event, 1);
    assert_eq!(f0.req_prod_pvt(), 0);
}

#[test]
fn fill_to_full_and_drain_to_empty() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, 0);
    for i in 0..256u16 {
        assert_eq!(f.free_requests(), 256 - u32::from(i));
        f.next_request_slot(req(i)).unwrap();
    }
    assert!(f.full());
    assert_eq!(f.free_requests(), 0);
    assert_eq!(f.next_request_slot(req(0)), Err(RingError::Full));
    f.push_requests();

    assert_eq!(backend_echo(&mut b), 256);
    assert_eq!(f.unconsumed_responses(), Ok(256));
    let mut ids = Vec::new();
    while let Some(r) = f.take_response() {
        ids.push(r.id);
    }
    assert_eq!(ids, (0..256).collect::<Vec<u16>>());
    assert_eq!(f.free_requests(), 256);
    assert_eq!(f.unconsumed_responses(), Ok(0));
    assert_eq!(f.take_response(), None);
}

#[test]
fn indices_wrap_at_2_pow_32() {
    for start in [u32::MAX - 300, u32::MAX - 5, u32::MAX, 0xFFFF_FF00] {
        let page = SharedPage::new();
        let (mut f, mut b) = pair(&page, start);
        let mut next_id = 0u16;
        let mut expect = 0u16;
        for round in 0..10 {
            // Alternate between partial and full batches.
            let n = if round % 2 == 0 { 256 } else { 77 };
            for _ in 0..n {
                f.next_request_slot(req(next_id % 256)).unwrap();
                next_id += 1;
            }
            assert_eq!(f.outstanding(), n);
            f.push_requests();
            assert_eq!(backend_echo(&mut b), n);
            assert_eq!(f.unconsumed_responses(), Ok(n));
            for _ in 0..n {
                let r = f.take_response().unwrap();
                assert_eq!(r.id, expect % 256);
                expect += 1;
            }
            assert_eq!(f.free_requests(), 256);
        }
        let total = u32::from(next_id);
        assert_eq!(f.req_prod_pvt(), start.wrapping_add(total));
        assert_eq!(f.rsp_cons(), start.wrapping_add(total));
        assert!(f.req_prod_pvt() < start, "indices must have wrapped");
        assert_eq!(b.req_cons(), f.req_prod_pvt());
        assert_eq!(b.rsp_prod_pvt(), f.rsp_cons());
    }
}

#[test]
fn slot_position_follows_masked_index() {
    let page = SharedPage::new();
    let start = u32::MAX - 1;
    let (mut f, _b) = pair(&page, start);
    for i in 0..4u16 {
        f.next_request_slot(req(i)).unwrap();
    }
    // Index u32::MAX - 1 -> slot 254, u32::MAX -> 255, 0 -> 0, 1 -> 1.
    let slot_id = |slot: usize| {
        let off = SRING_ENTRIES_OFFSET + slot * TX_ENTRY_SIZE + 8;
        u16::from(page.read_u8(off)) | (u16::from(page.read_u8(off + 1)) << 8)
    };
    assert_eq!(slot_id(254), 0);
    assert_eq!(slot_id(255), 1);
    assert_eq!(slot_id(0), 2);
    assert_eq!(slot_id(1), 3);
}

#[test]
fn need_notify_rules() {
    // Event exactly hit by the new producer.
    assert!(need_notify(10, 15, 15));
    // Event at the first new entry.
    assert!(need_notify(10, 15, 11));
    // Event already passed (the peer asked before the old index).
    assert!(!need_notify(10, 15, 10));
    assert!(!need_notify(10, 15, 3));
    // Event in the future: not yet.
    assert!(!need_notify(10, 15, 16));
    // Nothing new: never notify.
    assert!(!need_notify(10, 10, 10));
    assert!(!need_notify(10, 10, 11));
    // Wrapped producer.
    let old = u32::MAX - 1;
    assert!(need_notify(old, 2, 0));
    assert!(need_notify(old, 2, u32::MAX));
    assert!(need_notify(old, 2, 2));
    assert!(!need_notify(old, 2, old));
    assert!(!need_notify(old, 2, 3));
    assert!(!need_notify(old, 2, u32::MAX - 10));
}

#[test]
fn push_requests_honours_req_event() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, u32::MAX - 2);
    // Fresh ring: req_event = start + 1, so the first push notifies.
    f.next_request_slot(req(0)).unwrap();
    assert!(f.push_requests());
    // The backend has not re-armed: more requests do not notify.
    f.next_request_slot(req(1)).unwrap();
    f.next_request_slot(req(2)).unwrap();
    assert!(!f.push_requests());
    // Backend consumes everything and re-arms (req_event = req_cons + 1).
    assert_eq!(backend_echo(&mut b), 3);
    assert!(!b.final_check_for_requests().unwrap());
    assert_eq!(f.shared_indices().req_event, b.req_cons().wrapping_add(1));
    // Pushing nothing never notifies.
    assert!(!f.push_requests());
    f.next_request_slot(req(3)).unwrap();
    assert!(f.push_requests());
    // Backend sees it in its final check.
    assert!(b.final_check_for_requests().unwrap());
}

#[test]
fn push_responses_and_final_check_for_responses() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, u32::MAX);
    f.next_request_slot(req(0)).unwrap();
    f.next_request_slot(req(1)).unwrap();
    f.push_requests();

    // Nothing produced yet: the final check arms rsp_event = rsp_cons + 1.
    assert!(!f.final_check_for_responses().unwrap());
    assert_eq!(f.shared_indices().rsp_event, f.rsp_cons().wrapping_add(1));

    b.unconsumed_requests().unwrap();
    let r = b.take_request().unwrap();
    b.next_response_slot(TxResponse {
        id: r.id,
        status: 0,
    })
    .unwrap();
    assert!(b.push_responses(), "armed rsp_event must be hit");
    let r = b.take_request().unwrap();
    b.next_response_slot(TxResponse {
        id: r.id,
        status: 0,
    })
    .unwrap();
    assert!(!b.push_responses(), "event already passed");

    // Pending responses: final check reports them without re-arming.
    let before = f.shared_indices().rsp_event;
    assert!(f.final_check_for_responses().unwrap());
    assert_eq!(f.shared_indices().rsp_event, before);
    while f.take_response().is_some() {}
    assert!(!f.final_check_for_responses().unwrap());
    assert_eq!(f.shared_indices().rsp_event, f.rsp_cons().wrapping_add(1));
}

#[test]
fn responses_invisible_until_validated() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, 0);
    f.next_request_slot(req(5)).unwrap();
    f.push_requests();
    backend_echo(&mut b);
    // No call to unconsumed_responses yet.
    assert_eq!(f.pending_responses(), 0);
    assert_eq!(f.take_response(), None);
    assert_eq!(f.unconsumed_responses(), Ok(1));
    assert_eq!(f.take_response().map(|r| r.id), Some(5));
}

#[test]
fn response_copied_once() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, 0);
    f.next_request_slot(req(9)).unwrap();
    f.push_requests();
    backend_echo(&mut b);
    f.unconsumed_responses().unwrap();
    let r = f.take_response().unwrap();
    // A malicious backend rewriting the slot afterwards changes nothing.
    page.write_u8(SRING_ENTRIES_OFFSET, 0xee);
    assert_eq!(r.id, 9);
    assert_eq!(r.status, XEN_NETIF_RSP_OKAY);
}

#[test]
fn producer_overflow_detected() {
    for start in [0u32, u32::MAX - 3, 1 << 31] {
        let page = SharedPage::new();
        let (mut f, _b) = pair(&page, start);
        for i in 0..4u16 {
            f.next_request_slot(req(i)).unwrap();
        }
        f.push_requests();
        // Claims 5 responses for 4 requests.
        let bogus = start.wrapping_add(5);
        page.write_u32(SRING_RSP_PROD_OFFSET, bogus);
        let err = f.unconsumed_responses().unwrap_err();
        assert_eq!(
            err,
            RingError::ResponseOverflow {
                rsp_prod: bogus,
                rsp_cons: start,
                req_prod: start.wrapping_add(4),
            }
        );
        assert!(err.to_string().contains("claims 5 responses"), "{err}");
        assert_eq!(f.take_response(), None);
        assert_eq!(f.final_check_for_responses(), Err(err));

        // Going backwards looks like ~2^32 responses.
        page.write_u32(SRING_RSP_PROD_OFFSET, start.wrapping_sub(1));
        assert!(matches!(
            f.unconsumed_responses(),
            Err(RingError::ResponseOverflow { .. })
        ));

        // Exactly the published number is fine.
        page.write_u32(SRING_RSP_PROD_OFFSET, start.wrapping_add(4));
        assert_eq!(f.unconsumed_responses(), Ok(4));
    }
}

#[test]
fn responses_to_unpublished_requests_rejected() {
    let page = SharedPage::new();
    let (mut f, _b) = pair(&page, 0);
    f.next_request_slot(req(0)).unwrap();
    f.next_request_slot(req(1)).unwrap();
    f.push_requests();
    f.next_request_slot(req(2)).unwrap();
    // The backend cannot know about request 2 yet.
    page.write_u32(SRING_RSP_PROD_OFFSET, 3);
    assert!(matches!(
        f.unconsumed_responses(),
        Err(RingError::ResponseOverflow { req_prod: 2, .. })
    ));
    page.write_u32(SRING_RSP_PROD_OFFSET, 2);
    assert_eq!(f.unconsumed_responses(), Ok(2));
}

#[test]
fn back_ring_validates_frontend() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, u32::MAX - 10);
    assert_eq!(
        b.next_response_slot(TxResponse::default()),
        Err(BackRingError::NoRequestToAnswer)
    );
    f.next_request_slot(req(0)).unwrap();
    f.push_requests();
    assert_eq!(b.unconsumed_requests(), Ok(1));
    // A frontend claiming 257 requests.
    let bogus = (u32::MAX - 10).wrapping_add(257);
    page.write_u32(SRING_REQ_PROD_OFFSET, bogus);
    let e = b.unconsumed_requests().unwrap_err();
    assert!(matches!(e, BackRingError::RequestOverflow { req_prod, .. } if req_prod == bogus));
    assert!(e.to_string().contains("more than the ring holds"));
    assert!(BackRingError::NoRequestToAnswer
        .to_string()
        .contains("without"));
    assert!(RingError::Full.to_string().contains("full"));
    assert_eq!(b.size(), 256);
    assert_eq!(b.shared_indices().req_prod, bogus);
}

#[test]
fn back_ring_bounded_by_response_space() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, 0);
    for i in 0..256u16 {
        f.next_request_slot(req(i)).unwrap();
    }
    f.push_requests();
    assert_eq!(b.unconsumed_requests(), Ok(256));
    for _ in 0..256 {
        b.take_request().unwrap();
    }
    assert_eq!(b.take_request(), None);
    assert_eq!(b.pending_requests(), 0);
}

#[test]
fn rx_ring_types_work_too() {
    let page = SharedPage::new();
    // SAFETY: as in `pair`.
    let mut f = unsafe { FrontRing::<RxRequest, RxResponse>::new_at(page.ptr(), 3) };
    // SAFETY: as in `pair`.
    let mut b = unsafe { BackRing::<RxRequest, RxResponse>::attach(page.ptr(), 3) };
    assert_eq!(f.size(), 256);
    f.next_request_slot(RxRequest {
        id: 3,
        pad: 0,
        gref: 77,
    })
    .unwrap();
    f.push_requests();
    b.unconsumed_requests().unwrap();
    let r = b.take_request().unwrap();
    assert_eq!((r.id, r.gref), (3, 77));
    b.next_response_slot(RxResponse {
        id: r.id,
        offset: 0,
        flags: 0,
        status: 42,
    })
    .unwrap();
    b.push_responses();
    f.unconsumed_responses().unwrap();
    assert_eq!(f.take_response().map(|r| r.status), Some(42));
}

#[test]
fn back_ring_batched_wait() {
    let page = SharedPage::new();
    let (mut f, mut b) = pair(&page, u32::MAX - 2);
    f.next_request_slot(req(0)).unwrap();
    f.push_requests();
    // Needs 3: not yet; asks to be woken at req_cons + 3.
    assert!(!b.wait_for_requests(3).unwrap());
    assert_eq!(f.shared_indices().req_event, (u32::MAX - 2).wrapping_add(3));
    f.next_request_slot(req(1)).unwrap();
    assert!(!f.push_requests(), "2 of 3: no notification yet");
    f.next_request_slot(req(2)).unwrap();
    assert!(f.push_requests(), "third request crosses req_event");
    assert!(b.wait_for_requests(3).unwrap());
}

#[test]
fn watch_sees_backend_producer_before_front_consumes() {
    fn send_sync<T: Send + Sync + Copy>() {}
    send_sync::<RingWatch>();
    for start in [0, u32::MAX - 1] {
        let page = SharedPage::new();
        let (mut f, mut b) = pair(&page, start);
        let w = f.watch();
        assert_eq!(w.rsp_prod(), start);
        for i in 0..3 {
            f.next_request_slot(req(i)).unwrap();
        }
        f.push_requests();
        // Requests alone do not move the response producer.
        assert_eq!(w.rsp_prod(), start);

        assert_eq!(backend_echo(&mut b), 3);
        // The watch (and any copy of it) sees the backend's producer while
        // the front ring has neither validated nor consumed anything.
        let copy = w;
        assert_eq!(w.rsp_prod(), start.wrapping_add(3));
        assert_eq!(copy.rsp_prod(), start.wrapping_add(3));
        assert_eq!(page.read_u32(SRING_RSP_PROD_OFFSET), w.rsp_prod());
        assert_eq!(f.rsp_cons(), start);
        assert_eq!(f.pending_responses(), 0);

        // Consuming does not change what the backend produced.
        assert_eq!(f.unconsumed_responses(), Ok(3));
        while f.take_response().is_some() {}
        assert_eq!(f.rsp_cons(), start.wrapping_add(3));
        assert_eq!(w.rsp_prod(), start.wrapping_add(3));
    }
}

#[test]
fn watch_reads_bogus_producer_unvalidated() {
    let page = SharedPage::new();
    let (mut f, _b) = pair(&page, 0);
    let w = f.watch();
    f.next_request_slot(req(0)).unwrap();
    f.push_requests();
    // A backend claiming responses it cannot have produced: the watch
    // reports the raw value (a hint only), the ring refuses it.
    page.write_u32(SRING_RSP_PROD_OFFSET, 1000);
    assert_eq!(w.rsp_prod(), 1000);
    assert!(matches!(
        f.unconsumed_responses(),
        Err(RingError::ResponseOverflow { rsp_prod: 1000, .. })
    ));
    assert_eq!(f.rsp_cons(), 0);
}

#[test]
fn gate_counts_only_new_responses() {
    let mut g = EventGate::new();
    // Nothing produced: spurious.
    assert_eq!(g.on_event(0, 256), Ok(false));
    // Three responses: work, once.
    assert_eq!(g.on_event(3, 256), Ok(true));
    // The same producer again (the consumer is busy or disabled): an event
    // storm is spurious however often it comes.
    for _ in 0..1000 {
        assert_eq!(g.on_event(3, 256), Ok(false));
    }
    // One more: work again.
    assert_eq!(g.on_event(4, 256), Ok(true));
    // The consumer takes all four; the producer still reads 4.
    g.on_consumed(4, 4, 256);
    assert_eq!(g.on_event(4, 256), Ok(false));
    assert_eq!(g.on_event(5, 256), Ok(true));
}

#[test]
fn gate_refuses_backwards_producer() {
    let mut g = EventGate::new();
    assert_eq!(g.on_event(10, 256), Ok(true));
    assert_eq!(
        g.on_event(7, 256),
        Err(GateError::Backwards {
            rsp_prod: 7,
            now: 7,
            before: 10
        })
    );
    // Behind the consumer: far beyond the ring.
    g.on_consumed(10, 10, 256);
    assert_eq!(
        g.on_event(9, 256),
        Err(GateError::BeyondRing {
            rsp_prod: 9,
            rsp_cons: 10
        })
    );
    assert_eq!(
        g.on_event(10 + 257, 256),
        Err(GateError::BeyondRing {
            rsp_prod: 267,
            rsp_cons: 10
        })
    );
}

#[test]
fn gate_wraps_with_the_indices() {
    let mut g = EventGate::new();
    let start = u32::MAX - 2;
    g.on_consumed(start, start, 256);
    assert_eq!(g.on_event(start.wrapping_add(5), 256), Ok(true));
    g.on_consumed(start.wrapping_add(5), start.wrapping_add(6), 256);
    // One response arrived after the consumer looked: not new to the gate.
    assert_eq!(g.on_event(start.wrapping_add(6), 256), Ok(false));
    assert_eq!(g.on_event(start.wrapping_add(7), 256), Ok(true));
    // The consumer saw a producer behind it: nothing counted unconsumed.
    g.on_consumed(start.wrapping_add(7), start.wrapping_add(6), 256);
    assert_eq!(g.on_event(start.wrapping_add(7), 256), Ok(false));
}

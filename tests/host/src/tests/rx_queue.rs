// SPDX-License-Identifier: GPL-2.0

//! RX bookkeeping: buffer posting, packet assembly and validation of
//! malformed responses.

use super::common::{rx_queue, SharedPage};
use crate::back_ring::BackRing;
use crate::grant::GrantPool;
use crate::netif::*;
use crate::queue::*;
use crate::rx_queue::*;

type Back = BackRing<RxRequest, RxResponse>;

struct Rig {
    page: SharedPage,
    q: RxQueue<u32>,
    b: Back,
    next_token: u32,
}

impl Rig {
    fn new(start: u32) -> Self {
        let page = SharedPage::new();
        let q = rx_queue::<u32>(&page, start);
        // SAFETY: the page outlives the ring; only the queue's front ring
        // and this back ring use it.
        let b = unsafe { Back::attach(page.ptr(), start) };
        let mut r = Rig {
            page,
            q,
            b,
            next_token: 0,
        };
        let f = r.fill();
        assert_eq!(f.posted, 256);
        assert!(f.notify);
        assert!(!f.retry);
        r.b.unconsumed_requests().unwrap();
        r
    }

    fn fill(&mut self) -> RxFill {
        let t = &mut self.next_token;
        self.q
            .fill(|_g| {
                *t += 1;
                Some(*t)
            })
            .unwrap()
    }

    /// Backend: consume one request and answer it with a data response.
    fn data(&mut self, offset: u16, len: i16, flags: u16) -> RxRequest {
        let req = self.b.take_request().expect("no rx request available");
        self.b
            .next_response_slot(RxResponse {
                id: req.id,
                offset,
                flags,
                status: len,
            })
            .unwrap();
        req
    }

    /// Backend: consume one request and write `rsp` verbatim.
    fn raw(&mut self, rsp: RxResponse) -> RxRequest {
        let req = self.b.take_request().expect("no rx request available");
        self.b.next_response_slot(rsp).unwrap();
        req
    }

    /// Backend: consume one request and write an extra-info slot.
    fn extra(&mut self, e: ExtraInfo) {
        self.raw(e.to_rx_response());
    }

    fn push(&mut self) {
        self.b.push_responses();
    }

    /// Polls; frees the grants of delivered packets.
    fn poll(&mut self, budget: usize) -> (RxPoll, Vec<RxEvent<u32>>) {
        let mut ev = Vec::new();
        let p = self
            .q
            .poll(budget, |e, pool: &mut GrantPool<RX_RING_SIZE>| {
                if let RxEvent::Packet(p) = &e {
                    for f in p.frags() {
                        pool.free(f.grant).unwrap();
                    }
                }
                ev.push(e);
            })
            .unwrap();
        (p, ev)
    }

    fn dropped(&mut self) -> QueueError {
        let (p, ev) = self.poll(64);
        assert_eq!(p.dropped, 1, "events: {ev:?}");
        match ev.as_slice() {
            [RxEvent::Dropped(e)] => *e,
            other => panic!("unexpected events {other:?}"),
        }
    }

    /// Polls a packet that breaks the protocol: the queue is disabled and
    /// the error returned; no buffer is lost.
    fn fatal(&mut self) -> QueueError {
        let mut delivered = 0;
        let e = self
            .q
            .poll(64, |e, _| {
                assert!(!matches!(e, RxEvent::Dropped(_)), "dropped: {e:?}");
                delivered += 1;
            })
            .unwrap_err();
        assert_eq!(delivered, 0);
        assert!(self.q.is_broken(), "{e:?} must disable the queue");
        assert_eq!(self.q.poll(64, |_, _| {}).unwrap_err(), QueueError::Broken);
        assert_eq!(self.q.posted(), 256, "buffers kept on the ring");
        e
    }

    /// Every buffer is either posted or was delivered and refilled.
    fn assert_all_posted(&mut self) {
        assert_eq!(self.q.posted(), 256);
        let f = self.fill();
        assert_eq!(f.posted, 0);
        assert_eq!(self.q.grants_ref().in_use(), 256);
    }
}

#[test]
fn fill_posts_slot_indexed_ids() {
    let start = u32::MAX - 3;
    let mut r = Rig::new(start);
    let reqs: Vec<RxRequest> = std::iter::from_fn(|| r.b.take_request()).collect();
    assert_eq!(reqs.len(), 256);
    for (i, req) in reqs.iter().enumerate() {
        let idx = start.wrapping_add(i as u32) & 255;
        assert_eq!(u32::from(req.id), idx);
        assert!((5000..5256).contains(&req.gref));
    }
    // Full ring: nothing more to post, no retry.
    let f = r.fill();
    assert_eq!((f.posted, f.retry), (0, false));
}

#[test]
fn fill_holds_back_small_batches() {
    let page = SharedPage::new();
    let mut q = rx_queue::<u32>(&page, 0);
    let mut n = 0;
    let f = q
        .fill(|_| {
            n += 1;
            if n <= 10 {
                Some(n)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        f,
        RxFill {
            posted: 10,
            notify: false,
            retry: true
        }
    );
    // Not published: fewer than NET_RX_SLOTS_MIN outstanding.
    assert_eq!(q.ring().shared_indices().req_prod, 0);
    assert_eq!(q.grants_ref().in_use(), 10);
    let f = q.fill(|g| Some(g.gref())).unwrap();
    assert_eq!(
        f,
        RxFill {
            posted: 246,
            notify: true,
            retry: false
        }
    );
    assert_eq!(q.ring().shared_indices().req_prod, 256);
}

#[test]
fn single_and_multi_fragment_packets() {
    let mut r = Rig::new(u32::MAX - 1);
    let req = r.data(10, 1500, NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED);
    r.push();
    let (p, ev) = r.poll(64);
    assert_eq!(
        p,
        RxPoll {
            packets: 1,
            dropped: 0
        }
    );
    let RxEvent::Packet(pkt) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(pkt.nfrags(), 1);
    assert_eq!(pkt.len(), 1500);
    assert!(!pkt.is_empty());
    assert!(pkt.csum_blank() && pkt.data_validated());
    let f = pkt.frag(0).unwrap();
    assert_eq!((f.offset, f.len, f.grant.gref()), (10, 1500, req.gref));
    assert!(pkt.frag(1).is_none());
    assert_eq!(pkt.gso(), None);

    // GSO packet: data + extra + 2 more data slots.
    r.data(0, 4096, NETRXF_EXTRA_INFO | NETRXF_MORE_DATA);
    r.extra(ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV6, false));
    r.data(0, 4096, NETRXF_MORE_DATA);
    r.data(0, 100, 0);
    r.push();
    let (p, ev) = r.poll(64);
    assert_eq!(p.packets, 1);
    let RxEvent::Packet(pkt) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(pkt.nfrags(), 3);
    assert_eq!(pkt.len(), 4096 * 2 + 100);
    let gso = pkt.gso().unwrap();
    assert_eq!((gso.size, gso.gso_type), (1448, XEN_NETIF_GSO_TYPE_TCPV6));
    assert_eq!(pkt.extra(XEN_NETIF_EXTRA_TYPE_HASH), None);
    assert_eq!(pkt.extra(0), None);
    assert_eq!(
        pkt.frags().map(|f| f.len).collect::<Vec<_>>(),
        vec![4096, 4096, 100]
    );
    // The extra slot's buffer was re-posted; the 4 delivered ones are gone.
    assert_eq!(r.q.posted(), 256 - 4);
    assert_eq!(r.fill().posted, 4);
    r.assert_all_posted();
}

#[test]
fn max_chain_lengths() {
    let mut r = Rig::new(0);
    // First fragment > RX_COPY_THRESHOLD: 18 slots allowed.
    r.data(0, 1000, NETRXF_MORE_DATA);
    for _ in 0..16 {
        r.data(0, 10, NETRXF_MORE_DATA);
    }
    r.data(0, 10, 0);
    // Small first fragment: 19 slots allowed.
    r.data(0, 256, NETRXF_MORE_DATA);
    for _ in 0..17 {
        r.data(0, 10, NETRXF_MORE_DATA);
    }
    r.data(0, 10, 0);
    r.push();
    let (p, ev) = r.poll(64);
    assert_eq!(
        p,
        RxPoll {
            packets: 2,
            dropped: 0
        },
        "{ev:?}"
    );
    let n: Vec<usize> = ev
        .iter()
        .map(|e| match e {
            RxEvent::Packet(p) => p.nfrags(),
            _ => 0,
        })
        .collect();
    assert_eq!(n, vec![18, 19]);
    r.fill();
    r.assert_all_posted();

    // One more slot is too many.
    r.data(0, 1000, NETRXF_MORE_DATA);
    for _ in 0..17 {
        r.data(0, 10, NETRXF_MORE_DATA);
    }
    r.data(0, 10, 0);
    r.push();
    assert_eq!(r.fatal(), QueueError::ChainTooLong { slots: 19, max: 18 });

    // A runaway chain spanning many more slots than a packet can hold.
    let mut r = Rig::new(0);
    r.data(0, 100, NETRXF_MORE_DATA);
    for _ in 0..40 {
        r.data(0, 10, NETRXF_MORE_DATA);
    }
    r.data(0, 10, 0);
    r.push();
    assert_eq!(r.fatal(), QueueError::ChainTooLong { slots: 42, max: 19 });

    // 17 full pages: within the slots, beyond the 64 KiB a packet may have.
    let mut r = Rig::new(0);
    for i in 0..17 {
        r.data(0, 4096, if i < 16 { NETRXF_MORE_DATA } else { 0 });
    }
    r.push();
    assert_eq!(
        r.fatal(),
        QueueError::PacketTooLong {
            len: 17 * 4096,
            max: 65535
        }
    );
}

/// The policy: a packet the backend reports as failed is dropped and
/// counted, its buffers go back on the ring and the next packet is still
/// received; every response that breaks the protocol disables the queue,
/// with its specific error, and loses no buffer.
#[test]
fn malformed_responses_disable_error_packets_drop() {
    type Inject = fn(&mut Rig);
    let cases: Vec<(&str, Inject, QueueError)> = vec![
        (
            "id out of range",
            |r| {
                r.raw(RxResponse {
                    id: 300,
                    offset: 0,
                    flags: 0,
                    status: 10,
                });
            },
            QueueError::IdOutOfRange { id: 300 },
        ),
        (
            "id of another slot",
            |r| {
                r.raw(RxResponse {
                    id: 77,
                    offset: 0,
                    flags: 0,
                    status: 10,
                });
            },
            QueueError::IdMismatch {
                id: 77,
                expected: 0,
            },
        ),
        (
            "unknown flags",
            |r| {
                r.data(0, 10, 1 << 5);
            },
            QueueError::UnknownFlags {
                id: 0,
                flags: 1 << 5,
            },
        ),
        (
            "error status",
            |r| {
                r.data(0, XEN_NETIF_RSP_ERROR, 0);
            },
            QueueError::ErrorStatus { id: 0, status: -1 },
        ),
        (
            "dropped status",
            |r| {
                r.data(0, XEN_NETIF_RSP_DROPPED, 0);
            },
            QueueError::ErrorStatus { id: 0, status: -2 },
        ),
        (
            "offset + size past the page",
            |r| {
                r.data(4000, 97, 0);
            },
            QueueError::BadOffset {
                id: 0,
                offset: 4000,
                len: 97,
            },
        ),
        (
            "size past the page",
            |r| {
                r.data(0, 4097, 0);
            },
            QueueError::BadOffset {
                id: 0,
                offset: 0,
                len: 4097,
            },
        ),
        (
            "bad second fragment",
            |r| {
                r.data(0, 100, NETRXF_MORE_DATA);
                r.data(4095, 2, 0);
            },
            QueueError::BadOffset {
                id: 1,
                offset: 4095,
                len: 2,
            },
        ),
        (
            "extra type none",
            |r| {
                r.data(0, 100, NETRXF_EXTRA_INFO);
                r.extra(ExtraInfo::from_bytes([0; 8]));
            },
            QueueError::BadExtraType { extra_type: 0 },
        ),
        (
            "extra type past max",
            |r| {
                r.data(0, 100, NETRXF_EXTRA_INFO);
                r.extra(ExtraInfo::from_bytes([
                    XEN_NETIF_EXTRA_TYPE_MAX,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ]));
            },
            QueueError::BadExtraType { extra_type: 6 },
        ),
        (
            "too many extras",
            |r| {
                // One of each type, then a sixth (flags bit 0: more).
                r.data(0, 100, NETRXF_EXTRA_INFO);
                for t in 1..=5 {
                    r.extra(ExtraInfo::from_bytes([t, 1, 0, 0, 0, 0, 0, 0]));
                }
                r.extra(ExtraInfo::from_bytes([2, 0, 0, 0, 0, 0, 0, 0]));
            },
            QueueError::TooManyExtras { count: 6 },
        ),
        (
            "gso size zero",
            |r| {
                r.data(0, 100, NETRXF_EXTRA_INFO);
                r.extra(ExtraInfo::new_gso(0, XEN_NETIF_GSO_TYPE_TCPV4, false));
            },
            QueueError::BadGso {
                size: 0,
                gso_type: 1,
            },
        ),
        (
            "gso prefix not negotiated",
            |r| {
                r.data(0, 100, NETRXF_GSO_PREFIX);
            },
            QueueError::GsoPrefix { id: 0 },
        ),
        (
            "second gso extra",
            |r| {
                r.data(0, 100, NETRXF_EXTRA_INFO);
                r.extra(ExtraInfo::new_gso(1000, XEN_NETIF_GSO_TYPE_TCPV4, true));
                r.extra(ExtraInfo::new_gso(64, XEN_NETIF_GSO_TYPE_TCPV6, false));
            },
            QueueError::DuplicateExtra { extra_type: 1 },
        ),
        (
            "error status in a later fragment",
            |r| {
                r.data(0, 1000, NETRXF_MORE_DATA);
                r.data(0, XEN_NETIF_RSP_DROPPED, 0);
            },
            QueueError::ErrorStatus { id: 1, status: -2 },
        ),
        (
            "error status next to a bad offset",
            |r| {
                r.data(0, XEN_NETIF_RSP_ERROR, NETRXF_MORE_DATA);
                r.data(4000, 200, 0);
            },
            QueueError::BadOffset {
                id: 1,
                offset: 4000,
                len: 200,
            },
        ),
        (
            "gso type unknown",
            |r| {
                r.data(0, 100, NETRXF_EXTRA_INFO);
                r.extra(ExtraInfo::new_gso(1000, 3, false));
            },
            QueueError::BadGso {
                size: 1000,
                gso_type: 3,
            },
        ),
    ];
    for (name, inject, want) in cases {
        let mut r = Rig::new(0);
        inject(&mut r);
        r.push();
        assert!(want.is_backend_error());
        if !matches!(want, QueueError::ErrorStatus { .. }) {
            assert_eq!(r.fatal(), want, "case {name}");
            continue;
        }
        let got = r.dropped();
        assert_eq!(got, want, "case {name}");
        assert!(
            !r.q.is_broken(),
            "case {name}: an error status is per packet"
        );
        r.assert_all_posted();

        // The queue keeps working.
        r.b.unconsumed_requests().unwrap();
        r.data(0, 60, 0);
        r.push();
        let (p, _) = r.poll(64);
        assert_eq!(p.packets, 1, "case {name}");
        r.fill();
        r.assert_all_posted();
    }
}

#[test]
fn truncated_chains() {
    // more_data on the last produced response.
    let mut r = Rig::new(0);
    r.data(0, 100, NETRXF_MORE_DATA);
    r.data(0, 100, NETRXF_MORE_DATA);
    r.push();
    assert_eq!(r.fatal(), QueueError::Truncated { slots: 2 });

    // extra_info on the last produced response.
    let mut r = Rig::new(0);
    r.data(0, 100, NETRXF_EXTRA_INFO);
    r.push();
    assert_eq!(r.fatal(), QueueError::Truncated { slots: 1 });

    // Extra chain running off the end.
    let mut r = Rig::new(0);
    r.data(0, 100, NETRXF_EXTRA_INFO);
    r.extra(ExtraInfo::new_gso(100, XEN_NETIF_GSO_TYPE_TCPV4, true));
    r.push();
    assert_eq!(r.fatal(), QueueError::Truncated { slots: 2 });
}

#[test]
fn producer_overflow_is_fatal() {
    let mut r = Rig::new(u32::MAX);
    r.page
        .write_u32(SRING_RSP_PROD_OFFSET, u32::MAX.wrapping_add(257));
    let e =
        r.q.poll(64, |_, _| panic!("no event expected"))
            .unwrap_err();
    assert!(matches!(e, QueueError::ProducerOverflow { .. }), "{e:?}");
    assert!(r.q.is_broken());
    assert_eq!(r.q.poll(64, |_, _| {}).unwrap_err(), QueueError::Broken);
    assert_eq!(r.q.fill(|_| Some(0)).unwrap_err(), QueueError::Broken);
    assert_eq!(r.q.final_check().unwrap_err(), QueueError::Broken);
}

#[test]
fn final_check_overflow_is_fatal() {
    let mut r = Rig::new(3);
    r.page.write_u32(SRING_RSP_PROD_OFFSET, 3 + 300);
    assert!(matches!(
        r.q.final_check(),
        Err(QueueError::ProducerOverflow { .. })
    ));
    assert!(r.q.is_broken());
}

#[test]
fn budget_is_honoured() {
    let mut r = Rig::new(u32::MAX - 5);
    for i in 0..10 {
        // Alternate valid and invalid packets: both count as work.
        if i % 3 == 2 {
            r.data(0, -1, 0);
        } else {
            r.data(0, 60 + i, 0);
        }
    }
    r.push();
    let mut total = RxPoll::default();
    let mut rounds = 0;
    loop {
        let (p, ev) = r.poll(4);
        assert!(p.work() <= 4);
        assert_eq!(ev.len(), p.work());
        total.packets += p.packets;
        total.dropped += p.dropped;
        rounds += 1;
        if p.work() < 4 {
            assert!(!r.q.final_check().unwrap());
            break;
        }
        assert!(r.q.final_check().unwrap() || total.work() == 10);
    }
    assert_eq!(rounds, 3);
    assert_eq!(
        total,
        RxPoll {
            packets: 7,
            dropped: 3
        }
    );
    assert_eq!(r.poll(0).0.work(), 0);
    r.fill();
    r.assert_all_posted();
}

#[test]
fn final_check_arms_event() {
    let mut r = Rig::new(0);
    assert!(!r.q.final_check().unwrap());
    assert_eq!(r.q.ring().shared_indices().rsp_event, 1);
    r.data(0, 60, 0);
    assert!(r.b.push_responses(), "backend must notify");
    assert!(r.q.final_check().unwrap());
    assert!(r.q.ring_mut().final_check_for_responses().unwrap());
}

#[test]
fn release_all_returns_every_buffer() {
    let mut r = Rig::new(0);
    r.data(0, 60, 0);
    r.push();
    r.poll(64);
    let mut seen = 0;
    let n = r.q.release_all(|_t, g, pool| {
        pool.free(g).unwrap();
        seen += 1;
    });
    assert_eq!((n, seen), (255, 255));
    assert_eq!(r.q.posted(), 0);
    assert_eq!(r.q.grants_ref().in_use(), 0);
    assert!(!r.q.grants().is_empty());
}

#[test]
fn every_error_has_a_message() {
    let all = [
        QueueError::ProducerOverflow {
            rsp_prod: 1,
            rsp_cons: 2,
            req_prod: 3,
        },
        QueueError::IdOutOfRange { id: 1 },
        QueueError::IdNotPending { id: 1 },
        QueueError::IdMismatch { id: 1, expected: 2 },
        QueueError::UnknownStatus { id: 1, status: 7 },
        QueueError::ErrorStatus { id: 1, status: -1 },
        QueueError::BadOffset {
            id: 1,
            offset: 2,
            len: 3,
        },
        QueueError::UnknownFlags { id: 1, flags: 0x40 },
        QueueError::ChainTooLong { slots: 20, max: 18 },
        QueueError::Truncated { slots: 2 },
        QueueError::BadExtraType { extra_type: 9 },
        QueueError::TooManyExtras { count: 6 },
        QueueError::BadGso {
            size: 0,
            gso_type: 1,
        },
        QueueError::Broken,
        QueueError::NoPieces,
        QueueError::TooManyPieces { pieces: 40 },
        QueueError::BadPiece {
            index: 1,
            offset: 2,
            len: 3,
        },
        QueueError::PacketTooLarge { len: 70000 },
        QueueError::BadTxFlags { flags: 4 },
        QueueError::BadTxExtra { extra_type: 9 },
        QueueError::RingFull { needed: 3, free: 1 },
        QueueError::NoIds,
        QueueError::NoGrants,
        QueueError::StaleReservation,
        QueueError::Grant(crate::grant::GrantError::PoolFull { gref: 1 }),
        QueueError::SlotBusy { idx: 3 },
    ];
    let msgs: std::collections::HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), all.len(), "messages must be distinct");
    assert!(msgs.iter().all(|m| m.len() > 10));
    assert_eq!(all.iter().filter(|e| e.is_backend_error()).count(), 13);
}

#[test]
fn watch_tells_interrupt_of_new_responses() {
    // What the interrupt handler does: compare the watched producer with
    // the responses the poller consumed so far.
    let mut r = Rig::new(u32::MAX - 1);
    let w = r.q.watch();
    let seen = r.q.ring().rsp_cons();
    assert_eq!(w.rsp_prod(), seen, "nothing new yet");

    r.data(0, 60, NETRXF_MORE_DATA);
    r.data(0, 40, 0);
    // Written but not pushed: the backend's producer has not moved.
    assert_eq!(w.rsp_prod(), seen);
    r.push();
    assert_eq!(w.rsp_prod(), seen.wrapping_add(2), "new responses");
    // The queue itself has consumed nothing.
    assert_eq!(r.q.ring().rsp_cons(), seen);
    assert_eq!(r.q.posted(), 256);

    let (p, _) = r.poll(64);
    assert_eq!(p.packets, 1);
    assert_eq!(r.q.ring().rsp_cons(), w.rsp_prod(), "all consumed");
    assert_eq!(r.q.ring().rsp_cons(), seen.wrapping_add(2));
    r.fill();
    r.assert_all_posted();
}

/// The policy for frames beyond the MTU: a frame without GSO may have the
/// MTU plus an Ethernet header and a VLAN tag, and is dropped beyond that
/// (the hostile backend's 3 x 4000 bytes, at any MTU below 11982); a GSO
/// packet is bounded only by the 64 KiB the queue enforces.
#[test]
fn frames_beyond_the_mtu_are_dropped_unless_gso() {
    assert!(rx_frame_fits(1514, 1500, false));
    assert!(rx_frame_fits(1518, 1500, false));
    assert!(!rx_frame_fits(1519, 1500, false));
    assert!(!rx_frame_fits(12000, 1500, false));
    assert!(!rx_frame_fits(12000, 9000, false));
    assert!(rx_frame_fits(12000, 1500, true));
    assert!(rx_frame_fits(MAX_RX_PACKET, 68, true));
    assert!(rx_frame_fits(65535, 65535, false));
    assert!(rx_frame_fits(u32::MAX, u32::MAX, false));
    assert!(!rx_frame_fits(87, 68, false));
}

// SPDX-License-Identifier: GPL-2.0

//! End-to-end simulation: a netback-like backend built on `BackRing`
//! exchanges thousands of random packets with the very same TX/RX queue
//! code the driver uses, over shared pages, with index wrap-around.
//!
//! The simulation is event driven: each side only runs when the other
//! side's notification logic (`push_*_and_check_notify`, final checks,
//! `req_event`/`rsp_event`) says it must, so a missed notification shows up
//! as a stall. At the end everything must be accounted for: every packet
//! delivered intact, every id, grant and buffer returned.

use std::collections::{HashMap, VecDeque};

use super::common::{GrantTable, Rng, SharedPage};
use crate::back_ring::BackRing;
use crate::grant::GrantPool;
use crate::netif::*;
use crate::queue::*;
use crate::rx_queue::*;
use crate::tx_queue::*;

/// A TX packet as the frontend sent it.
struct Wire {
    token: u32,
    payload: Vec<u8>,
    gso: Option<(u16, u8)>,
    flags: u16,
}

/// Shape of an RX packet: (offset, len) per data slot, GSO, flags.
type RxShape = (Vec<(u16, u16)>, Option<(u16, u8)>, u16);

/// An RX packet the backend sent.
struct RxWire {
    payload: Vec<u8>,
    gso: Option<(u16, u8)>,
    flags: u16,
    nfrags: usize,
}

struct Sim {
    rng: Rng,
    gt: GrantTable,
    // Keep the pages alive as long as the rings.
    _tx_page: SharedPage,
    _rx_page: SharedPage,
    txq: Box<TxQueue<u32>>,
    rxq: Box<RxQueue<u32>>,
    txb: BackRing<TxRequest, TxResponse>,
    rxb: BackRing<RxRequest, RxResponse>,

    // Frontend TX state.
    tx_to_send: u32,
    tx_stopped: bool,
    next_token: u32,
    tx_wire: VecDeque<Wire>,
    tx_pieces_left: HashMap<u32, usize>,
    tx_expect_status: HashMap<u32, TxStatus>,
    tx_irq: bool,
    /// TX events the backend sent (its push said to notify).
    tx_events: u32,
    tx_done: u32,
    tx_bytes: u64,
    tx_stops: u32,

    // Backend TX state.
    btx_awake: bool,

    // Backend RX state.
    rx_to_send: u32,
    brx_awake: bool,
    brx_next: Option<RxShape>,
    rx_wire: VecDeque<RxWire>,

    // Frontend RX state.
    napi: bool,
    rx_bufs: HashMap<u32, GrantRef>,
    next_buf: u32,
    rx_done: u32,
    rx_bytes: u64,
}

impl Sim {
    fn new(seed: u64, start: u32, tx_packets: u32, rx_packets: u32) -> Self {
        let tx_page = SharedPage::new();
        let rx_page = SharedPage::new();
        // SAFETY: each page is page-aligned, outlives the rings (fields
        // dropped together, rings never dereference on drop) and is only
        // used by one front ring and one back ring.
        let (txr, rxr, txb, rxb) = unsafe {
            (
                TxRing::new_at(tx_page.ptr(), start),
                RxRing::new_at(rx_page.ptr(), start),
                BackRing::attach(tx_page.ptr(), start),
                BackRing::attach(rx_page.ptr(), start),
            )
        };
        let mut txq: Box<std::mem::MaybeUninit<TxQueue<u32>>> = Box::new_uninit();
        TxQueue::init(&mut txq, txr, &super::common::tx_grefs()).unwrap();
        // SAFETY: `init` succeeded.
        let txq = unsafe { txq.assume_init() };
        let mut rxq: Box<std::mem::MaybeUninit<RxQueue<u32>>> = Box::new_uninit();
        RxQueue::init(&mut rxq, rxr, &super::common::rx_grefs()).unwrap();
        // SAFETY: `init` succeeded.
        let rxq = unsafe { rxq.assume_init() };
        let mut s = Sim {
            rng: Rng::new(seed),
            gt: GrantTable::default(),
            _tx_page: tx_page,
            _rx_page: rx_page,
            txq,
            rxq,
            txb,
            rxb,
            tx_to_send: tx_packets,
            tx_stopped: false,
            next_token: 0,
            tx_wire: VecDeque::new(),
            tx_pieces_left: HashMap::new(),
            tx_expect_status: HashMap::new(),
            tx_irq: false,
            tx_events: 0,
            tx_done: 0,
            tx_bytes: 0,
            tx_stops: 0,
            btx_awake: false,
            rx_to_send: rx_packets,
            brx_awake: false,
            brx_next: None,
            rx_wire: VecDeque::new(),
            napi: false,
            rx_bufs: HashMap::new(),
            next_buf: 0,
            rx_done: 0,
            rx_bytes: 0,
        };
        // Connect: post the RX buffers (xennet_connect -> alloc_rx_buffers).
        s.rx_fill();
        s
    }

    // ---------------------------------------------------------------
    // Frontend.
    // ---------------------------------------------------------------

    /// Random page-bounded pieces, at most 18, total at most 0xFFFF.
    fn gen_pieces(&mut self) -> Vec<TxPiece> {
        let r = self.rng.range(0, 99);
        let mut pieces = Vec::new();
        if r < 50 {
            let offset = self.rng.range(0, 4095) as u16;
            let max = (4096 - offset).min(1514);
            pieces.push(TxPiece {
                offset,
                len: self.rng.range(1, u64::from(max)) as u16,
            });
        } else if r < 80 {
            for _ in 0..self.rng.range(2, 4) {
                let offset = self.rng.range(0, 4095) as u16;
                pieces.push(TxPiece {
                    offset,
                    len: self.rng.range(1, u64::from(4096 - offset)) as u16,
                });
            }
        } else {
            let k = self.rng.range(5, MAX_TX_PIECES as u64);
            let mut total: u32 = 0;
            for i in 0..k {
                let offset = if i == 0 {
                    self.rng.range(0, 4000) as u16
                } else {
                    0
                };
                let mut len = self.rng.range(1, u64::from(4096 - offset)) as u32;
                if self.rng.chance(2, 3) {
                    len = u32::from(4096 - offset);
                }
                let len = len.min(XEN_NETIF_MAX_TX_SIZE - total);
                if len == 0 {
                    break;
                }
                total += len;
                pieces.push(TxPiece {
                    offset,
                    len: len as u16,
                });
            }
        }
        pieces
    }

    /// `ndo_start_xmit` for a small burst, then one push (xmit_more).
    fn f_xmit(&mut self) {
        let burst = self.rng.range(1, 24);
        for _ in 0..burst {
            if self.tx_to_send == 0 || self.tx_stopped {
                break;
            }
            let pieces = self.gen_pieces();
            let total: usize = pieces.iter().map(|p| usize::from(p.len)).sum();
            let payload = self.rng.bytes(total);
            let gso = if total > 1514 && self.rng.chance(1, 2) {
                let t = if self.rng.chance(1, 2) {
                    XEN_NETIF_GSO_TYPE_TCPV4
                } else {
                    XEN_NETIF_GSO_TYPE_TCPV6
                };
                Some((1448u16, t))
            } else {
                None
            };
            let flags = match self.rng.range(0, 2) {
                0 => 0,
                1 => NETTXF_DATA_VALIDATED,
                _ => NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
            };
            let extra = gso.map(|(s, t)| ExtraInfo::new_gso(s, t, false));
            let res = self
                .txq
                .reserve(&pieces, flags, extra)
                .expect("reserve must succeed while the queue is not stopped");
            // Grant each piece's page (gnttab_grant_foreign_access_ref).
            let mut at = 0;
            for (i, p) in pieces.iter().enumerate() {
                let len = usize::from(p.len);
                self.gt.grant_with(
                    res.gref(i).unwrap(),
                    usize::from(p.offset),
                    &payload[at..at + len],
                );
                at += len;
            }
            let token = self.next_token;
            self.next_token += 1;
            self.txq.post(res, token).unwrap();
            self.tx_pieces_left.insert(token, pieces.len());
            self.tx_bytes += total as u64;
            self.tx_wire.push_back(Wire {
                token,
                payload,
                gso,
                flags,
            });
            self.tx_to_send -= 1;
            if self.txq.need_stop() {
                self.tx_stopped = true;
                self.tx_stops += 1;
            }
        }
        if self.txq.push() {
            self.btx_awake = true;
        }
    }

    /// TX interrupt: `xennet_tx_buf_gc` + maybe wake the queue.
    fn f_tx_irq(&mut self) {
        self.tx_irq = false;
        let gt = &mut self.gt;
        let left = &mut self.tx_pieces_left;
        let expect = &mut self.tx_expect_status;
        let done = &mut self.tx_done;
        self.txq
            .poll(|c, pool: &mut GrantPool<TX_RING_SIZE>| {
                gt.end_access(c.grant.gref());
                pool.free(c.grant).unwrap();
                let n = left
                    .get_mut(&c.token)
                    .expect("completion for unknown packet");
                *n -= 1;
                assert_eq!(
                    c.packet_done.is_some(),
                    *n == 0,
                    "packet_done on the last piece only"
                );
                if let Some(st) = c.packet_done {
                    left.remove(&c.token);
                    let want = expect.remove(&c.token).expect("backend decided a status");
                    assert_eq!(st, want, "packet status");
                    *done += 1;
                }
            })
            .unwrap();
        if self.tx_stopped && self.txq.can_wake() {
            self.tx_stopped = false;
        }
    }

    /// `xennet_alloc_rx_buffers`.
    fn rx_fill(&mut self) {
        let gt = &mut self.gt;
        let bufs = &mut self.rx_bufs;
        let next = &mut self.next_buf;
        let f = self
            .rxq
            .fill(|g| {
                gt.grant(g.gref());
                *next += 1;
                bufs.insert(*next, g.gref());
                Some(*next)
            })
            .unwrap();
        if f.notify {
            self.brx_awake = true;
        }
        assert!(!f.retry);
    }

    /// NAPI poll.
    fn f_napi(&mut self) {
        let budget = self.rng.range(1, 64) as usize;
        let gt = &mut self.gt;
        let bufs = &mut self.rx_bufs;
        let wire = &mut self.rx_wire;
        let done = &mut self.rx_done;
        let bytes = &mut self.rx_bytes;
        let p = self
            .rxq
            .poll(budget, |ev, pool: &mut GrantPool<RX_RING_SIZE>| {
                let RxEvent::Packet(pkt) = ev else {
                    panic!("unexpected drop: {ev:?}");
                };
                let mut data = Vec::new();
                for f in pkt.frags() {
                    assert_eq!(bufs.remove(&f.token), Some(f.grant.gref()), "token/grant");
                    let page = gt.end_access(f.grant.gref());
                    pool.free(f.grant).unwrap();
                    data.extend_from_slice(
                        &page[usize::from(f.offset)..usize::from(f.offset) + usize::from(f.len)],
                    );
                }
                let w = wire.pop_front().expect("packet the backend never sent");
                assert_eq!(pkt.len() as usize, w.payload.len());
                assert_eq!(data, w.payload, "rx payload");
                assert_eq!(pkt.nfrags(), w.nfrags);
                assert_eq!(pkt.gso().map(|g| (g.size, g.gso_type)), w.gso);
                assert_eq!(
                    pkt.flags() & !NETRXF_MORE_DATA & !NETRXF_EXTRA_INFO,
                    w.flags
                );
                *done += 1;
                *bytes += data.len() as u64;
            })
            .unwrap();
        assert_eq!(p.dropped, 0);
        assert!(p.work() <= budget);
        self.rx_fill();
        if p.work() < budget && !self.rxq.final_check().unwrap() {
            self.napi = false;
        }
    }

    // ---------------------------------------------------------------
    // Backend.
    // ---------------------------------------------------------------

    /// Netback TX: consume whole packets, check them, answer in a
    /// scrambled order (an extra-info slot's NULL response right after its
    /// packet head's, as `make_tx_response` writes them).
    fn b_tx(&mut self) {
        self.txb.unconsumed_requests().unwrap();
        // Often slow, so that the ring fills up and the queue stops.
        let limit = if self.rng.chance(2, 3) {
            self.rng.range(1, 3)
        } else {
            self.rng.range(1, 64)
        };
        let mut rsps = Vec::new();
        let mut n = 0;
        while n < limit {
            let Some(first) = self.txb.take_request() else {
                break;
            };
            n += 1;
            let w = self.tx_wire.pop_front().expect("request without a packet");
            assert_eq!(
                first.flags & (NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED),
                w.flags
            );
            let mut slots = vec![first];
            let mut gso = None;
            if first.flags & NETTXF_EXTRA_INFO != 0 {
                let e = ExtraInfo::from_tx_request(&self.txb.take_request().expect("extra slot"));
                assert_eq!(e.extra_type, XEN_NETIF_EXTRA_TYPE_GSO);
                assert!(!e.has_more());
                gso = Some((e.gso().size, e.gso().gso_type));
            }
            assert_eq!(gso, w.gso);
            let mut last = first;
            while last.flags & NETTXF_MORE_DATA != 0 {
                last = self.txb.take_request().expect("more_data past req_prod");
                assert_eq!(last.flags & !NETTXF_MORE_DATA, 0);
                slots.push(last);
            }
            // Reassemble like netback: the first size is the total.
            let total = usize::from(first.size);
            let rest: usize = slots[1..].iter().map(|r| usize::from(r.size)).sum();
            let mut data = Vec::with_capacity(total);
            for (i, r) in slots.iter().enumerate() {
                let len = if i == 0 {
                    total - rest
                } else {
                    usize::from(r.size)
                };
                let off = usize::from(r.offset);
                assert!(off + len <= XEN_PAGE_SIZE);
                data.extend_from_slice(&self.gt.page(r.gref)[off..off + len]);
            }
            assert_eq!(data, w.payload, "tx payload of packet {}", w.token);
            // Decide the outcome: mostly OKAY, sometimes one bad piece.
            let bad = if self.rng.chance(1, 20) {
                let i = self.rng.range(0, slots.len() as u64 - 1) as usize;
                let st = if self.rng.chance(1, 2) {
                    XEN_NETIF_RSP_ERROR
                } else {
                    XEN_NETIF_RSP_DROPPED
                };
                Some((i, st))
            } else {
                None
            };
            let want = match bad {
                Some((_, XEN_NETIF_RSP_ERROR)) => TxStatus::Error,
                Some(_) => TxStatus::Dropped,
                None => TxStatus::Okay,
            };
            self.tx_expect_status.insert(w.token, want);
            for (i, r) in slots.iter().enumerate() {
                let status = match bad {
                    Some((b, st)) if b == i => st,
                    _ => XEN_NETIF_RSP_OKAY,
                };
                let mut group = vec![TxResponse { id: r.id, status }];
                if i == 0 && gso.is_some() {
                    group.push(TxResponse {
                        id: 0xffff,
                        status: XEN_NETIF_RSP_NULL,
                    });
                }
                rsps.push(group);
            }
        }
        // Scramble (Fisher-Yates).
        for i in (1..rsps.len()).rev() {
            let j = self.rng.range(0, i as u64) as usize;
            rsps.swap(i, j);
        }
        for r in rsps.into_iter().flatten() {
            self.txb.next_response_slot(r).unwrap();
        }
        if self.txb.push_responses() {
            self.tx_irq = true;
            self.tx_events += 1;
        }
        if !self.txb.final_check_for_requests().unwrap() {
            self.btx_awake = false;
        }
    }

    /// Shape of the next RX packet: (offset, len) per data slot, GSO, flags.
    fn gen_rx(&mut self) -> RxShape {
        let k = if self.rng.chance(3, 4) {
            1
        } else {
            self.rng.range(2, u64::from(XEN_NETIF_NR_SLOTS_MIN))
        };
        let mut frags = Vec::new();
        for i in 0..k {
            let offset = if self.rng.chance(1, 2) {
                0
            } else {
                self.rng.range(0, 4095) as u16
            };
            let mut len = self.rng.range(0, u64::from(4096 - offset)) as u16;
            if i == 0 && k > 1 {
                // Keep the first fragment above RX_COPY_THRESHOLD so that
                // 18 slots are always allowed.
                len = len.max(300).min(4096 - offset);
                if len <= 256 {
                    frags.push((0, 4096));
                    continue;
                }
            }
            frags.push((offset, len));
        }
        let gso = if k > 1 && self.rng.chance(1, 2) {
            Some((self.rng.range(1, 9000) as u16, XEN_NETIF_GSO_TYPE_TCPV4))
        } else {
            None
        };
        let flags = match self.rng.range(0, 2) {
            0 => 0,
            1 => NETRXF_DATA_VALIDATED,
            _ => NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
        };
        (frags, gso, flags)
    }

    /// Netback RX: send packets while enough buffers are posted.
    fn b_rx(&mut self) {
        let burst = self.rng.range(1, 16);
        let mut sent = 0;
        while sent < burst && self.rx_to_send > 0 {
            if self.brx_next.is_none() {
                self.brx_next = Some(self.gen_rx());
            }
            let Some((frags, gso, flags)) = self.brx_next.clone() else {
                break;
            };
            let needed = frags.len() as u32 + u32::from(gso.is_some());
            if !self.rxb.wait_for_requests(needed).unwrap() {
                self.brx_awake = false;
                break;
            }
            self.brx_next = None;
            let mut payload = Vec::new();
            for (i, &(offset, len)) in frags.iter().enumerate() {
                let req = self.rxb.take_request().unwrap();
                let data = self.rng.bytes(usize::from(len));
                let page = self.gt.page_mut(req.gref);
                page[usize::from(offset)..usize::from(offset) + data.len()].copy_from_slice(&data);
                payload.extend_from_slice(&data);
                let mut f = if i + 1 < frags.len() {
                    NETRXF_MORE_DATA
                } else {
                    0
                };
                if i == 0 {
                    f |= flags;
                    if gso.is_some() {
                        f |= NETRXF_EXTRA_INFO;
                    }
                }
                self.rxb
                    .next_response_slot(RxResponse {
                        id: req.id,
                        offset,
                        flags: f,
                        status: len as i16,
                    })
                    .unwrap();
                if i == 0 {
                    if let Some((size, t)) = gso {
                        self.rxb.take_request().unwrap();
                        self.rxb
                            .next_response_slot(ExtraInfo::new_gso(size, t, false).to_rx_response())
                            .unwrap();
                    }
                }
            }
            self.rx_wire.push_back(RxWire {
                payload,
                gso,
                flags,
                nfrags: frags.len(),
            });
            self.rx_to_send -= 1;
            sent += 1;
        }
        if self.rxb.push_responses() {
            self.napi = true;
        }
        if self.rx_to_send == 0 {
            self.brx_awake = false;
        }
    }

    // ---------------------------------------------------------------
    // Scheduler.
    // ---------------------------------------------------------------

    fn run(&mut self) {
        let mut steps: u64 = 0;
        loop {
            let mut actors: Vec<u8> = Vec::new();
            if self.tx_to_send > 0 && !self.tx_stopped {
                actors.push(0);
            }
            if self.btx_awake {
                actors.push(1);
            }
            if self.tx_irq {
                actors.push(2);
            }
            if self.brx_awake && self.rx_to_send > 0 {
                actors.push(3);
            }
            if self.napi {
                actors.push(4);
            }
            if actors.is_empty() {
                break;
            }
            let a = actors[self.rng.range(0, actors.len() as u64 - 1) as usize];
            match a {
                0 => self.f_xmit(),
                1 => self.b_tx(),
                2 => self.f_tx_irq(),
                3 => self.b_rx(),
                _ => self.f_napi(),
            }
            steps += 1;
            assert!(steps < 50_000_000, "simulation does not terminate");
        }
    }

    /// Everything quiescent: all packets through, nothing leaked.
    fn check_end(mut self, tx_packets: u32, rx_packets: u32) {
        assert_eq!(self.tx_to_send, 0, "tx stalled (missed notification?)");
        assert!(self.tx_wire.is_empty(), "backend missed tx packets");
        // Lazy completions: the last ones wait, short of the event asked
        // for, until teardown (here one more poll) reaps them.
        let unreaped = self.txq.ring().outstanding();
        assert!(
            unreaped < self.txq.event_ahead().max(1),
            "{unreaped} tx responses left unreaped"
        );
        if unreaped > 0 {
            self.f_tx_irq();
        }
        assert_eq!(self.tx_done, tx_packets);
        assert!(self.tx_pieces_left.is_empty());
        assert!(self.tx_expect_status.is_empty());
        assert_eq!(self.txq.ids_in_use(), 0);
        assert_eq!(self.txq.grants_ref().available(), TX_RING_SIZE);
        assert_eq!(self.txq.ring().outstanding(), 0);
        assert!(self.txq.can_wake());

        assert_eq!(self.rx_to_send, 0, "rx stalled (missed notification?)");
        assert!(self.rx_wire.is_empty(), "frontend missed rx packets");
        assert_eq!(self.rx_done, rx_packets);
        assert_eq!(self.rxq.posted(), RX_RING_SIZE);
        assert_eq!(self.rx_bufs.len(), RX_RING_SIZE);

        // Teardown: release everything still granted.
        let gt = &mut self.gt;
        let bufs = &mut self.rx_bufs;
        let n = self.rxq.release_all(|t, g, pool| {
            assert_eq!(bufs.remove(&t), Some(g.gref()));
            gt.end_access(g.gref());
            pool.free(g).unwrap();
        });
        assert_eq!(n, RX_RING_SIZE);
        assert_eq!(self.rxq.grants_ref().in_use(), 0);
        assert_eq!(self.txq.release_all(|_, _| panic!("nothing pending")), 0);
        assert_eq!(self.gt.live(), 0, "grants leaked");
        assert!(!self.txq.is_broken() && !self.rxq.is_broken());
    }
}

fn simulate(seed: u64, start: u32, tx_packets: u32, rx_packets: u32) -> u32 {
    simulate_with(seed, start, tx_packets, rx_packets, false).0
}

/// Runs one simulation (TX completions lazy or not); returns the TX queue
/// stops and the TX events the backend sent.
fn simulate_with(
    seed: u64,
    start: u32,
    tx_packets: u32,
    rx_packets: u32,
    lazy: bool,
) -> (u32, u32) {
    let mut s = Sim::new(seed, start, tx_packets, rx_packets);
    s.txq.set_lazy_completions(lazy);
    s.run();
    let events = s.tx_events;
    let (stops, txb, rxb) = (s.tx_stops, s.tx_bytes, s.rx_bytes);
    let wrapped_tx = s.txq.ring().req_prod_pvt() < start;
    let wrapped_rx = s.rxq.ring().req_prod_pvt() < start;
    s.check_end(tx_packets, rx_packets);
    assert!(txb > 0 && rxb > 0);
    eprintln!(
        "seed {seed}: {tx_packets} tx ({txb} bytes, {stops} queue stops), {rx_packets} rx ({rxb} bytes), wrapped tx={wrapped_tx} rx={wrapped_rx}"
    );
    if start > u32::MAX - 1000 && tx_packets >= 500 {
        assert!(wrapped_tx, "tx indices must cross 2^32");
    }
    if start > u32::MAX - 256 || (start > u32::MAX - 1000 && rx_packets >= 500) {
        assert!(wrapped_rx, "rx indices must cross 2^32");
    }
    (stops, events)
}

#[test]
fn sim_lazy_tx_completions() {
    // Everything still completes and nothing leaks (`check_end`) when the
    // event is asked for three quarters ahead, with far fewer events.
    let (mut eager, mut lazy) = (0, 0);
    for seed in 50..56 {
        let start = u32::MAX - seed as u32 * 53;
        let (_, e) = simulate_with(seed, start, 3000, 300, false);
        let (stops, l) = simulate_with(seed, start, 3000, 300, true);
        assert!(
            stops > 0,
            "the lazy tx queue must have been stopped and woken"
        );
        eager += e;
        lazy += l;
    }
    eprintln!("tx events: {eager} eager, {lazy} lazy");
    assert!(
        lazy * 2 < eager,
        "lazy completions: {lazy} events against {eager}"
    );
}

#[test]
fn sim_wraps_indices() {
    let stops = simulate(1, u32::MAX - 500, 3000, 3000);
    assert!(stops > 0, "the tx queue must have been stopped and woken");
}

#[test]
fn sim_starts_at_zero() {
    simulate(2, 0, 2000, 2000);
}

#[test]
fn sim_many_seeds() {
    for seed in 3..9 {
        simulate(seed, u32::MAX - seed as u32 * 37, 800, 800);
    }
}

#[test]
fn sim_tx_only_and_rx_only() {
    simulate(42, u32::MAX - 3, 2000, 1);
    simulate(43, u32::MAX - 3, 1, 2000);
}

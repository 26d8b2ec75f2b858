// SPDX-License-Identifier: GPL-2.0

//! Property-based fuzzing of the response path: a hostile backend writes
//! arbitrary (often plausible, sometimes random) response bytes and
//! producer indices straight into the shared page, and after every step
//! the TX and RX bookkeeping must hold its invariants: no panic, every id
//! and grant reference either free or owned by exactly one slot, no buffer
//! handed back twice or lost, the policy for bad packets kept (only the
//! backend's own error status drops a packet; anything else disables the
//! queue, which then stays disabled).
//!
//! `XPN_FUZZ_CASES` sets the number of cases of each of the two properties
//! (default 500000: 10^6 in all); the suite runs the default, and
//! `XPN_FUZZ_CASES=5000000 scripts/host-tests.sh fuzz` runs 10^7.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::common::{rx_queue, tx_queue, SharedPage};
use crate::grant::GrantPool;
use crate::netif::*;
use crate::queue::*;
use crate::rx_queue::*;
use crate::tx_queue::*;

/// Cases of each property.
fn cases() -> u32 {
    std::env::var("XPN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000)
}

fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

/// One move of the test: the frontend sends or polls, or the backend
/// writes responses or a producer index.
#[derive(Clone, Debug)]
enum Step {
    /// Frontend: a packet of `pieces` pieces (1 to 18), maybe with a GSO
    /// extra-info slot.
    Send { pieces: u8, extra: bool },
    /// Backend: writes one response per entry at its next response index
    /// and publishes them. `kind` picks plausible or random contents.
    Answer(Vec<(u8, u16, u16, u16, i16)>),
    /// Backend: writes a producer index: the honest one, a random one, or
    /// one moved backwards.
    Producer { kind: u8, raw: u32 },
    /// Frontend: polls the responses (the RX budget is `budget`).
    Poll { budget: u8 },
    /// Backend (RX): a whole packet of `slots` data slots of `len` bytes
    /// each (too long or too large at times), maybe after a GSO extra-info
    /// slot; frontend (TX): a packet of that many pieces.
    Chain { slots: u8, len: u16, gso: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u8..=18, any::<bool>()).prop_map(|(pieces, extra)| Step::Send { pieces, extra }),
        4 => prop::collection::vec(any::<(u8, u16, u16, u16, i16)>(), 1..24).prop_map(Step::Answer),
        1 => (any::<u8>(), any::<u32>()).prop_map(|(kind, raw)| Step::Producer { kind, raw }),
        3 => (1u8..=64).prop_map(|budget| Step::Poll { budget }),
        2 => (1u8..=24, 0u16..=4096, any::<bool>())
            .prop_map(|(slots, len, gso)| Step::Chain { slots, len, gso }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..40)
}

/// The backend's side of the shared page, written by hand.
struct Hostile {
    page: SharedPage,
    /// Ring size and entry size of the ring on the page.
    size: u32,
    entry: usize,
    /// Next response index the backend writes.
    written: u32,
    /// Next request index the backend has not read yet.
    req_seen: u32,
}

impl Hostile {
    fn new(size: u32, entry: usize) -> Self {
        Hostile {
            page: SharedPage::new(),
            size,
            entry,
            written: 0,
            req_seen: 0,
        }
    }

    fn entry_off(&self, idx: u32) -> usize {
        SRING_ENTRIES_OFFSET + (idx % self.size) as usize * self.entry
    }

    fn write_u16(&self, off: usize, v: u16) {
        for (i, b) in v.to_le_bytes().into_iter().enumerate() {
            self.page.write_u8(off + i, b);
        }
    }

    fn read_u16(&self, off: usize) -> u16 {
        u16::from_le_bytes([self.page.read_u8(off), self.page.read_u8(off + 1)])
    }

    fn req_prod(&self) -> u32 {
        self.page.read_u32(SRING_REQ_PROD_OFFSET)
    }

    fn publish(&self, prod: u32) {
        self.page.write_u32(SRING_RSP_PROD_OFFSET, prod);
    }

    /// `Step::Producer`.
    fn producer(&self, kind: u8, raw: u32) {
        let prod = match kind % 3 {
            0 => self.written,
            1 => raw,
            _ => self.written.wrapping_sub(raw % 8 + 1),
        };
        self.publish(prod);
    }
}

// ---------------------------------------------------------------------------
// TX.
// ---------------------------------------------------------------------------

/// What the test knows of one transmitted packet.
struct TxPacket {
    remaining: usize,
    head_done: bool,
    head_gref: GrantRef,
}

struct TxModel {
    b: Hostile,
    q: TxQueue<u32>,
    /// Grant of every piece on the ring -> its packet.
    outstanding: HashMap<GrantRef, u32>,
    packets: HashMap<u32, TxPacket>,
    next_token: u32,
    broken: bool,
    /// Requests the backend read: (id, whether an extra-info slot follows).
    seen: Vec<(u16, bool)>,
}

impl TxModel {
    fn new() -> Self {
        let b = Hostile::new(NET_TX_RING_SIZE, TX_ENTRY_SIZE);
        let q = tx_queue::<u32>(&b.page, 0);
        TxModel {
            b,
            q,
            outstanding: HashMap::new(),
            packets: HashMap::new(),
            next_token: 0,
            broken: false,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, pieces: u8, extra: bool) {
        let p: Vec<TxPiece> = (0..pieces)
            .map(|i| TxPiece {
                offset: u16::from(i) * 7,
                len: 60 + u16::from(i),
            })
            .collect();
        let e = extra.then(|| ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV4, false));
        let free = self.q.grants_ref().available();
        let Ok(res) = self.q.reserve(&p, 0, e) else {
            // Refused (full, broken): nothing changed hands.
            assert_eq!(self.q.grants_ref().available(), free);
            return;
        };
        assert!(!self.broken, "a broken queue reserved slots");
        self.next_token += 1;
        let t = self.next_token;
        let grefs: Vec<GrantRef> = (0..res.pieces()).map(|i| res.gref(i).unwrap()).collect();
        for &g in &grefs {
            assert!(
                self.outstanding.insert(g, t).is_none(),
                "grant {g} handed out twice"
            );
        }
        self.packets.insert(
            t,
            TxPacket {
                remaining: grefs.len(),
                head_done: false,
                head_gref: grefs[0],
            },
        );
        self.q.post(res, t).unwrap();
        self.q.push();
        // The backend reads the new requests.
        let prod = self.b.req_prod();
        let mut extra_next = false;
        while self.b.req_seen != prod {
            let off = self.b.entry_off(self.b.req_seen);
            let flags = self.b.read_u16(off + 6);
            let id = self.b.read_u16(off + 8);
            if extra_next {
                extra_next = false;
            } else {
                extra_next = flags & NETTXF_EXTRA_INFO != 0;
                self.seen.push((id, extra_next));
            }
            self.b.req_seen = self.b.req_seen.wrapping_add(1);
        }
    }

    fn answer(&mut self, rsps: &[(u8, u16, u16, u16, i16)]) {
        for &(kind, a, _, _, raw_status) in rsps {
            let (id, status) = match kind % 8 {
                // An honest answer to a request it read, with its NULL.
                0..=3 if !self.seen.is_empty() => {
                    let (id, extra) = self.seen.remove(usize::from(a) % self.seen.len());
                    let st = [
                        XEN_NETIF_RSP_OKAY,
                        XEN_NETIF_RSP_ERROR,
                        XEN_NETIF_RSP_DROPPED,
                    ][usize::from(a) % 3];
                    self.write(id, st);
                    if extra {
                        self.write(0xffff, XEN_NETIF_RSP_NULL);
                    }
                    continue;
                }
                4 => (a, XEN_NETIF_RSP_OKAY),
                5 => (a, XEN_NETIF_RSP_NULL),
                _ => (a, raw_status),
            };
            self.write(id, status);
        }
        self.b.publish(self.b.written);
    }

    fn write(&mut self, id: u16, status: i16) {
        let off = self.b.entry_off(self.b.written);
        self.b.write_u16(off, id);
        self.b.write_u16(off + 2, status as u16);
        self.b.written = self.b.written.wrapping_add(1);
    }

    fn poll(&mut self) {
        let outstanding = &mut self.outstanding;
        let packets = &mut self.packets;
        let mut got = 0;
        let r = self.q.poll(|c, pool: &mut GrantPool<TX_RING_SIZE>| {
            got += 1;
            complete(outstanding, packets, c, pool);
        });
        match r {
            Ok(n) => {
                assert!(!self.broken, "a broken queue completed pieces");
                assert_eq!(n, got);
            }
            Err(e) => {
                if self.broken {
                    assert_eq!(e, QueueError::Broken);
                    assert_eq!(got, 0);
                } else {
                    assert!(e.is_backend_error(), "{e:?}");
                }
                self.broken = true;
            }
        }
    }

    fn check(&self) {
        assert_eq!(
            self.q.grants_ref().available() + self.outstanding.len(),
            TX_RING_SIZE,
            "every grant is free or on the ring, once"
        );
        let waiting = self
            .packets
            .values()
            .filter(|p| p.head_done && p.remaining > 0)
            .count();
        assert_eq!(
            self.q.ids_in_use(),
            self.outstanding.len() + waiting,
            "every id is free or owned by one piece (a packet's head until it is done)"
        );
        assert_eq!(self.q.is_broken(), self.broken);
    }

    fn finish(mut self) {
        let outstanding = &mut self.outstanding;
        let packets = &mut self.packets;
        self.q
            .release_all(|c, pool| complete(outstanding, packets, c, pool));
        assert!(self.outstanding.is_empty(), "teardown returned every piece");
        assert!(self.packets.is_empty(), "every packet was finished once");
        assert_eq!(self.q.grants_ref().available(), TX_RING_SIZE);
        assert_eq!(self.q.ids_in_use(), 0);
    }
}

/// One completion: its grant must be on the ring, for its packet, and the
/// packet is done exactly with its last piece.
fn complete(
    outstanding: &mut HashMap<GrantRef, u32>,
    packets: &mut HashMap<u32, TxPacket>,
    c: TxCompletion<u32>,
    pool: &mut GrantPool<TX_RING_SIZE>,
) {
    let g = c.grant.gref();
    let t = outstanding
        .remove(&g)
        .unwrap_or_else(|| panic!("grant {g} returned but not on the ring"));
    assert_eq!(t, c.token, "completion of grant {g} for another packet");
    pool.free(c.grant).expect("returned grant not allocated");
    let p = packets
        .get_mut(&t)
        .expect("completion of a finished packet");
    p.remaining -= 1;
    if g == p.head_gref {
        p.head_done = true;
    }
    assert_eq!(c.packet_done.is_some(), p.remaining == 0);
    if p.remaining == 0 {
        packets.remove(&t);
    }
}

#[test]
fn fuzz_tx_responses() {
    run(steps(), |steps| {
        let mut m = TxModel::new();
        for s in &steps {
            match s {
                Step::Send { pieces, extra } => m.send(*pieces, *extra),
                Step::Answer(r) => m.answer(r),
                Step::Producer { kind, raw } => m.b.producer(*kind, *raw),
                Step::Poll { .. } => m.poll(),
                Step::Chain { slots, gso, .. } => m.send((*slots).clamp(1, 18), *gso),
            }
            m.check();
        }
        m.poll();
        m.check();
        m.finish();
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// RX.
// ---------------------------------------------------------------------------

struct RxModel {
    b: Hostile,
    q: RxQueue<u32>,
    /// Buffers on the ring: token -> grant.
    posted: HashMap<u32, GrantRef>,
    delivered: HashSet<u32>,
    next_token: u32,
    broken: bool,
}

impl RxModel {
    fn new() -> Self {
        let b = Hostile::new(NET_RX_RING_SIZE, RX_ENTRY_SIZE);
        let q = rx_queue::<u32>(&b.page, 0);
        let mut m = RxModel {
            b,
            q,
            posted: HashMap::new(),
            delivered: HashSet::new(),
            next_token: 0,
            broken: false,
        };
        m.fill();
        m
    }

    fn fill(&mut self) {
        let next = &mut self.next_token;
        let posted = &mut self.posted;
        let r = self.q.fill(|g| {
            *next += 1;
            assert!(posted.insert(*next, g.gref()).is_none());
            Some(*next)
        });
        assert_eq!(r.is_err(), self.broken, "fill fails exactly when broken");
    }

    fn answer(&mut self, rsps: &[(u8, u16, u16, u16, i16)]) {
        for &(kind, a, b, c, d) in rsps {
            let idx = self.b.written;
            let slot = (idx % self.b.size) as u16;
            let (id, offset, flags, status) = match kind % 8 {
                // A plausible data slot: the right id, data within the page,
                // known flags.
                0..=3 => {
                    let off = a % 4096;
                    let len = (b % (4096 - off).max(1)) as i16;
                    let fl = c & (NETRXF_DATA_VALIDATED | NETRXF_CSUM_BLANK | NETRXF_MORE_DATA);
                    (slot, off, fl, len)
                }
                // A plausible extra-info slot (GSO), maybe with more.
                4 => {
                    let e = ExtraInfo::new_gso(b % 9000, (c % 4) as u8, a & 1 != 0);
                    let r = e.to_rx_response();
                    (r.id, r.offset, r.flags, r.status)
                }
                // A data slot announcing extra info.
                5 => (slot, 0, NETRXF_EXTRA_INFO | (c & NETRXF_MORE_DATA), 100),
                // An error status.
                6 => (slot, 0, 0, -((a % 3) as i16) - 1),
                // Anything.
                _ => (a, b, c, d),
            };
            self.write(RxResponse {
                id,
                offset,
                flags,
                status,
            });
        }
        self.b.publish(self.b.written);
    }

    /// `Step::Chain`: one packet, published at once: its first data slot,
    /// the GSO extra-info slot if any, then the other data slots.
    fn chain(&mut self, slots: u8, len: u16, gso: bool) {
        let status = len.min(4096) as i16;
        for i in 0..slots {
            let mut flags = 0;
            if i + 1 < slots {
                flags |= NETRXF_MORE_DATA;
            }
            if i == 0 && gso {
                flags |= NETRXF_EXTRA_INFO | NETRXF_CSUM_BLANK;
            }
            let id = (self.b.written % self.b.size) as u16;
            self.write(RxResponse {
                id,
                offset: 0,
                flags,
                status,
            });
            if i == 0 && gso {
                let e = ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV4, false);
                self.write(e.to_rx_response());
            }
        }
        self.b.publish(self.b.written);
    }

    fn write(&mut self, r: RxResponse) {
        let off = self.b.entry_off(self.b.written);
        self.b.write_u16(off, r.id);
        self.b.write_u16(off + 2, r.offset);
        self.b.write_u16(off + 4, r.flags);
        self.b.write_u16(off + 6, r.status as u16);
        self.b.written = self.b.written.wrapping_add(1);
    }

    fn poll(&mut self, budget: usize) {
        let posted = &mut self.posted;
        let delivered = &mut self.delivered;
        let mut work = 0;
        let r = self.q.poll(budget, |ev, pool| {
            work += 1;
            match ev {
                RxEvent::Packet(p) => {
                    assert!(p.nfrags() >= 1 && p.nfrags() <= MAX_RX_FRAGS);
                    assert!(p.len() <= MAX_RX_PACKET);
                    assert_eq!(p.frags().map(|f| u32::from(f.len)).sum::<u32>(), p.len());
                    for f in p.frags() {
                        let g = posted
                            .remove(&f.token)
                            .unwrap_or_else(|| panic!("buffer {} not on the ring", f.token));
                        assert_eq!(g, f.grant.gref());
                        assert!(usize::from(f.offset) + usize::from(f.len) <= XEN_PAGE_SIZE);
                        assert!(delivered.insert(f.token), "buffer {} twice", f.token);
                        pool.free(f.grant).expect("delivered grant not allocated");
                    }
                }
                RxEvent::Dropped(e) => {
                    assert!(
                        matches!(e, QueueError::ErrorStatus { .. }),
                        "only the backend's error status drops a packet: {e:?}"
                    );
                }
            }
        });
        match r {
            Ok(p) => {
                assert!(!self.broken);
                assert_eq!(p.work(), work);
                assert!(p.work() <= budget);
            }
            Err(e) => {
                if self.broken {
                    assert_eq!(e, QueueError::Broken);
                    assert_eq!(work, 0);
                } else {
                    assert!(e.is_backend_error(), "{e:?}");
                }
                self.broken = true;
            }
        }
        self.fill();
    }

    fn check(&self) {
        assert_eq!(self.q.posted(), self.posted.len(), "no buffer lost");
        assert_eq!(
            self.q.grants_ref().in_use(),
            self.posted.len(),
            "every grant is free or owned by one posted buffer"
        );
        assert_eq!(self.q.is_broken(), self.broken);
    }

    fn finish(mut self) {
        let posted = &mut self.posted;
        self.q.release_all(|t, g, pool| {
            assert_eq!(
                posted.remove(&t),
                Some(g.gref()),
                "buffer {t} released once"
            );
            pool.free(g).unwrap();
        });
        assert!(self.posted.is_empty(), "teardown returned every buffer");
        assert_eq!(self.q.grants_ref().in_use(), 0);
    }
}

#[test]
fn fuzz_rx_responses() {
    run(steps(), |steps| {
        let mut m = RxModel::new();
        for s in &steps {
            match s {
                // The frontend's own sends do not touch RX; answer instead.
                Step::Send { pieces, .. } => m.poll(usize::from(*pieces)),
                Step::Answer(r) => m.answer(r),
                Step::Producer { kind, raw } => m.b.producer(*kind, *raw),
                Step::Poll { budget } => m.poll(usize::from(*budget)),
                Step::Chain { slots, len, gso } => m.chain(*slots, *len, *gso),
            }
            m.check();
        }
        m.poll(64);
        m.check();
        m.finish();
        Ok(())
    });
}

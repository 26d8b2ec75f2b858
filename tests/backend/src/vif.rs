// SPDX-License-Identifier: GPL-2.0

//! One vif served from dom0: the XenBus handshake with the frontend, the
//! TX and RX rings, and the misbehaviour of the hostile modes.
//!
//! The vif is ours alone: its backend directory is
//! `/local/domain/0/backend/xpn-vif/DOMID/DEVID`, a device type the kernel's
//! xen-netback does not watch. The frontend sees an ordinary `vif` device
//! (its `backend` node names that directory).

use std::fmt;
use std::io;
use std::ptr;
use std::time::{Duration, Instant};

use crate::back_ring::BackRing;
use crate::csum;
use crate::netif::*;
use crate::sys::{poll_readable, CopySegment, Evtchn, Gntdev, MappedPage, Tap};
use crate::xs::Xs;

type TxBack = BackRing<TxRequest, TxResponse>;
type RxBack = BackRing<RxRequest, RxResponse>;

/// XenBus states (`xenbus.h`).
const INITIALISING: u32 = 1;
const INIT_WAIT: u32 = 2;
const INITIALISED: u32 = 3;
const CONNECTED: u32 = 4;
const CLOSING: u32 = 5;
const CLOSED: u32 = 6;

/// What the backend does once armed (see [`Mode::describe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Honest,
    RxProdBeyond,
    TxProdBackwards,
    TxIdOutOfRange,
    TxIdDuplicate,
    TxIdNotInFlight,
    TxBadStatus,
    RxOffsetBeyondPage,
    RxSizeZero,
    RxSizeBeyondMtu,
    RxChainTooLong,
    RxMoreDataEndless,
    RxIdOutOfRange,
    RxExtraUnknownType,
    RxExtraMoreNoEnd,
    RxGsoSizeZero,
    RxGsoTypeAbsurd,
    EventStorm,
    StateFlap,
    Vanish,
    KeepGrants,
    BadFeatures,
    BadMac,
}

pub(crate) const MODES: &[(&str, Mode)] = &[
    ("honest", Mode::Honest),
    ("rx-prod-beyond", Mode::RxProdBeyond),
    ("tx-prod-backwards", Mode::TxProdBackwards),
    ("tx-id-out-of-range", Mode::TxIdOutOfRange),
    ("tx-id-duplicate", Mode::TxIdDuplicate),
    ("tx-id-not-in-flight", Mode::TxIdNotInFlight),
    ("tx-bad-status", Mode::TxBadStatus),
    ("rx-offset-beyond-page", Mode::RxOffsetBeyondPage),
    ("rx-size-zero", Mode::RxSizeZero),
    ("rx-size-beyond-mtu", Mode::RxSizeBeyondMtu),
    ("rx-chain-too-long", Mode::RxChainTooLong),
    ("rx-more-data-endless", Mode::RxMoreDataEndless),
    ("rx-id-out-of-range", Mode::RxIdOutOfRange),
    ("rx-extra-unknown-type", Mode::RxExtraUnknownType),
    ("rx-extra-count-wrong", Mode::RxExtraMoreNoEnd),
    ("rx-gso-size-zero", Mode::RxGsoSizeZero),
    ("rx-gso-type-absurd", Mode::RxGsoTypeAbsurd),
    ("event-storm", Mode::EventStorm),
    ("state-flap", Mode::StateFlap),
    ("vanish", Mode::Vanish),
    ("keep-grants", Mode::KeepGrants),
    ("bad-features", Mode::BadFeatures),
    ("bad-mac", Mode::BadMac),
];

impl Mode {
    pub(crate) fn parse(s: &str) -> Option<Mode> {
        MODES.iter().find(|(n, _)| *n == s).map(|&(_, m)| m)
    }

    pub(crate) fn name(self) -> &'static str {
        MODES
            .iter()
            .find(|&&(_, m)| m == self)
            .map_or("?", |(n, _)| n)
    }

    /// What the mode does, for the log and the table.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Mode::Honest => "follows the protocol",
            Mode::RxProdBeyond => "RX rsp_prod 1000 beyond the requests posted",
            Mode::TxProdBackwards => "TX rsp_prod moved 8 backwards",
            Mode::TxIdOutOfRange => "TX response id 0xfff0 (beyond the ring)",
            Mode::TxIdDuplicate => "TX request answered twice (every later answer one late)",
            Mode::TxIdNotInFlight => "TX response for an id never requested",
            Mode::TxBadStatus => "TX status -77 (no such XEN_NETIF_RSP_*)",
            Mode::RxOffsetBeyondPage => "RX offset 4000 + size 1000 beyond the page",
            Mode::RxSizeZero => "RX response of size 0",
            Mode::RxSizeBeyondMtu => "RX packet of 3 x 4000 bytes, no GSO (beyond the MTU)",
            Mode::RxChainTooLong => "RX chain of 20 slots (more than 18)",
            Mode::RxMoreDataEndless => "RX more_data on every slot, never ending",
            Mode::RxIdOutOfRange => "RX response id 0xfff0 (beyond the ring)",
            Mode::RxExtraUnknownType => "RX extra-info of unknown type 0x7f",
            Mode::RxExtraMoreNoEnd => "RX extra-info says another follows, a data slot follows",
            Mode::RxGsoSizeZero => "RX GSO extra-info with size 0",
            Mode::RxGsoTypeAbsurd => "RX GSO extra-info with type 0xee",
            Mode::EventStorm => "20000 events in 5 s with no new responses",
            Mode::StateFlap => "backend Connected -> Closing -> Connected, 5 times, under traffic",
            Mode::Vanish => "backend directory removed under traffic",
            Mode::KeepGrants => "rings kept mapped 30 s after the frontend closed",
            Mode::BadFeatures => "feature keys with garbage values",
            Mode::BadMac => "backend and frontend mac not a MAC",
        }
    }
}

/// The vif's parameters.
pub(crate) struct Config {
    pub(crate) domid: u16,
    pub(crate) devid: u32,
    pub(crate) mac: String,
    pub(crate) tap: String,
    pub(crate) mode: Mode,
    /// The backend stops (closes the vif and removes it) when this file
    /// appears.
    pub(crate) stop_file: String,
}

/// Why serving ended.
#[derive(Debug)]
pub(crate) enum End {
    Stopped,
    FrontendGone,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Stopped => write!(f, "stop requested"),
            End::FrontendGone => write!(f, "frontend directory removed"),
        }
    }
}

macro_rules! say {
    ($($a:tt)*) => {{
        println!("xpn-backend: {}", format_args!($($a)*));
    }};
}

/// The ICMP echo request that arms the hostile mode: `ping -s 1234` to the
/// backend's address (IPv4 total length 1262).
fn is_trigger(frame: &[u8]) -> bool {
    frame.len() >= 38
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 1
        && u16::from_be_bytes([frame[16], frame[17]]) == 1262
        && frame[34] == 8
}

struct Conn {
    tx_page: MappedPage,
    rx_page: MappedPage,
    tx: TxBack,
    rx: RxBack,
    evtchn: Evtchn,
}

pub(crate) struct Vif {
    cfg: Config,
    xs: Xs,
    gnt: Gntdev,
    tap: Tap,
    fe: String,
    be: String,
    armed: bool,
    done: bool,
    /// TX ids below 256 seen in requests, for the not-in-flight mode.
    tx_ids_seen: [bool; 256],
    /// tx-id-duplicate: the request whose response is still owed.
    tx_lag: Option<u16>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    tx_packets: u64,
    tx_errors: u64,
    rx_packets: u64,
    rx_dropped: u64,
}

fn read_idx(page: &MappedPage, off: usize) -> u32 {
    // SAFETY: `off` is a header offset (< 64) of the mapped ring page, which
    // lives as long as `page`; the frontend writes it concurrently, hence
    // volatile.
    unsafe { ptr::read_volatile(page.ptr().as_ptr().add(off).cast::<u32>()) }
}

fn write_idx(page: &MappedPage, off: usize, v: u32) {
    // SAFETY: as in `read_idx`; the page is mapped writable.
    unsafe { ptr::write_volatile(page.ptr().as_ptr().add(off).cast::<u32>(), v) }
}

/// An RX response slot holding an extra-info (the C union).
fn rx_extra(e: ExtraInfo) -> RxResponse {
    let b = e.to_bytes();
    RxResponse {
        id: u16::from_ne_bytes([b[0], b[1]]),
        offset: u16::from_ne_bytes([b[2], b[3]]),
        flags: u16::from_ne_bytes([b[4], b[5]]),
        status: i16::from_ne_bytes([b[6], b[7]]),
    }
}

impl Vif {
    pub(crate) fn new(cfg: Config) -> io::Result<Vif> {
        let xs = Xs::open()?;
        let gnt = Gntdev::open()?;
        let tap = Tap::open(&cfg.tap)?;
        let fe = format!("/local/domain/{}/device/vif/{}", cfg.domid, cfg.devid);
        let be = format!(
            "/local/domain/0/backend/xpn-vif/{}/{}",
            cfg.domid, cfg.devid
        );
        Ok(Vif {
            cfg,
            xs,
            gnt,
            tap,
            fe,
            be,
            armed: false,
            done: false,
            tx_ids_seen: [false; 256],
            tx_lag: None,
            stats: Stats::default(),
        })
    }

    fn be_state(&mut self, s: u32) -> io::Result<()> {
        self.xs.write(&format!("{}/state", self.be), &s.to_string())
    }

    fn fe_state(&mut self) -> io::Result<Option<u32>> {
        self.xs.read_u32(&format!("{}/state", self.fe))
    }

    fn stop_requested(&self) -> bool {
        std::path::Path::new(&self.cfg.stop_file).exists()
    }

    /// Creates the device in XenStore, as the toolstack does for a vif:
    /// the backend directory (dom0's, readable by the guest) and the
    /// frontend directory (the guest's), which makes the guest probe it.
    pub(crate) fn create(&mut self) -> io::Result<()> {
        let (d, n) = (self.cfg.domid, self.cfg.devid);
        let be = self.be.clone();
        let fe = self.fe.clone();
        let mac = if self.cfg.mode == Mode::BadMac {
            "zz:16:3e:00:00:3g:77".to_string()
        } else {
            self.cfg.mac.clone()
        };
        self.xs.write(&be, "")?;
        self.xs.set_perms(&be, &["n0", &format!("r{d}")])?;
        let garbage = self.cfg.mode == Mode::BadFeatures;
        let feat = |v: &'static str| if garbage { "-1x\u{7f}" } else { v };
        for (k, v) in [
            ("frontend", fe.as_str()),
            ("frontend-id", &d.to_string()),
            ("online", "1"),
            ("handle", &n.to_string()),
            ("mac", &mac),
            ("feature-rx-copy", "1"),
            ("feature-rx-flip", "0"),
            ("feature-sg", feat("1")),
            ("feature-gso-tcpv4", feat("0")),
            ("feature-gso-tcpv6", feat("0")),
            ("feature-ipv6-csum-offload", feat("0")),
            ("feature-split-event-channels", feat("0")),
            (
                "multi-queue-max-queues",
                if garbage { "99999999999" } else { "1" },
            ),
            ("state", &INITIALISING.to_string()),
        ] {
            self.xs.write(&format!("{be}/{k}"), v)?;
        }
        self.xs.write(&fe, "")?;
        self.xs.set_perms(&fe, &[&format!("n{d}"), "r0"])?;
        for (k, v) in [
            ("backend", be.as_str()),
            ("backend-id", "0"),
            ("handle", &n.to_string()),
            ("mac", &mac),
            ("state", &INITIALISING.to_string()),
        ] {
            self.xs.write(&format!("{fe}/{k}"), v)?;
        }
        self.be_state(INIT_WAIT)?;
        say!(
            "vif {d}/{n} created (mode {}: {}), mac {mac}, tap {}",
            self.cfg.mode.name(),
            self.cfg.mode.describe(),
            self.cfg.tap
        );
        Ok(())
    }

    /// Removes the device: the frontend directory (the guest unregisters
    /// it) and ours.
    pub(crate) fn destroy(&mut self) {
        let _ = self.xs.rm(&self.fe.clone());
        let _ = self.xs.rm(&self.be.clone());
        say!(
            "vif {}/{} removed; TX {} packets ({} bad), RX {} packets ({} dropped: no request)",
            self.cfg.domid,
            self.cfg.devid,
            self.stats.tx_packets,
            self.stats.tx_errors,
            self.stats.rx_packets,
            self.stats.rx_dropped
        );
    }

    /// Serves the vif until a stop is requested or the frontend is gone:
    /// each connection of the frontend (a reload of its driver reconnects).
    pub(crate) fn serve(&mut self) -> io::Result<End> {
        loop {
            match self.wait_frontend_connect()? {
                Some(c) => {
                    let end = self.run(c)?;
                    if let Some(e) = end {
                        return Ok(e);
                    }
                }
                None => {
                    return Ok(if self.stop_requested() {
                        End::Stopped
                    } else {
                        End::FrontendGone
                    })
                }
            }
        }
    }

    /// Waits for the frontend to publish its rings, then maps them.
    fn wait_frontend_connect(&mut self) -> io::Result<Option<Conn>> {
        let mut last = None;
        loop {
            if self.stop_requested() {
                return Ok(None);
            }
            let s = match self.fe_state()? {
                Some(s) => s,
                None => return Ok(None),
            };
            if last != Some(s) {
                say!("frontend state {s}");
                last = Some(s);
            }
            match s {
                INITIALISED | CONNECTED => match self.connect() {
                    Ok(c) => return Ok(Some(c)),
                    Err(e) => {
                        say!("connect failed: {e}");
                        self.be_state(CLOSING)?;
                        self.wait_fe(&[CLOSED, INITIALISING], Duration::from_secs(30))?;
                        self.be_state(INIT_WAIT)?;
                    }
                },
                CLOSING | CLOSED => {
                    // The frontend driver went away (unloaded); it comes
                    // back through Initialising.
                    if self.xs.read_u32(&format!("{}/state", self.be))? != Some(CLOSED) {
                        self.be_state(CLOSED)?;
                    }
                }
                _ => {
                    if self.xs.read_u32(&format!("{}/state", self.be))? != Some(INIT_WAIT) {
                        self.be_state(INIT_WAIT)?;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_fe(&mut self, states: &[u32], limit: Duration) -> io::Result<Option<u32>> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            match self.fe_state()? {
                Some(s) if states.contains(&s) => return Ok(Some(s)),
                None => return Ok(None),
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(None)
    }

    fn connect(&mut self) -> io::Result<Conn> {
        let fe = self.fe.clone();
        let num = |xs: &mut Xs, k: &str| -> io::Result<u32> {
            xs.read_u32(&format!("{fe}/{k}"))?
                .ok_or_else(|| io::Error::other(format!("frontend has no valid {k}")))
        };
        let tx_ref = num(&mut self.xs, "tx-ring-ref")?;
        let rx_ref = num(&mut self.xs, "rx-ring-ref")?;
        let port = num(&mut self.xs, "event-channel")?;
        if self.xs.read_u32(&format!("{fe}/request-rx-copy"))? != Some(1) {
            return Err(io::Error::other("frontend does not request rx-copy"));
        }
        let d = self.cfg.domid;
        let tx_page = self.gnt.map(d, tx_ref)?;
        let rx_page = match self.gnt.map(d, rx_ref) {
            Ok(p) => p,
            Err(e) => {
                self.gnt.unmap(tx_page);
                return Err(e);
            }
        };
        let evtchn = match Evtchn::bind(d, port) {
            Ok(e) => e,
            Err(e) => {
                self.gnt.unmap(tx_page);
                self.gnt.unmap(rx_page);
                return Err(e);
            }
        };
        // The frontend initialised both rings (all indices 0) before
        // publishing them.
        let start_tx = read_idx(&tx_page, SRING_RSP_PROD_OFFSET);
        let start_rx = read_idx(&rx_page, SRING_RSP_PROD_OFFSET);
        // SAFETY: both pages are mapped for as long as the `Conn` holds them
        // (unmapped only by `disconnect`, which consumes it), only the
        // frontend accesses them otherwise, and one `BackRing` exists for each.
        let (tx, rx) = unsafe {
            (
                TxBack::attach(tx_page.ptr(), start_tx),
                RxBack::attach(rx_page.ptr(), start_rx),
            )
        };
        self.be_state(CONNECTED)?;
        say!("connected: tx-ring-ref {tx_ref}, rx-ring-ref {rx_ref}, event-channel {port}");
        Ok(Conn {
            tx_page,
            rx_page,
            tx,
            rx,
            evtchn,
        })
    }

    fn disconnect(&mut self, c: Conn) {
        let Conn {
            tx_page,
            rx_page,
            evtchn,
            ..
        } = c;
        drop(evtchn);
        self.gnt.unmap(tx_page);
        self.gnt.unmap(rx_page);
    }

    /// The data path of one connection. `Ok(None)`: the frontend closed and
    /// may connect again; `Ok(Some(end))`: serving ends.
    fn run(&mut self, mut c: Conn) -> io::Result<Option<End>> {
        let mut last_check = Instant::now();
        let mut buf = vec![0u8; 65536];
        loop {
            // The TAP is read only while the guest has RX buffers posted
            // (poll ignores a negative fd).
            let want_tap = c.rx.unconsumed_requests().unwrap_or(0) > 0;
            let fds = [c.evtchn.fd(), if want_tap { self.tap.fd() } else { -1 }];
            let r = poll_readable(fds, 20);
            if r[0] {
                c.evtchn.take_events();
            }
            self.do_tx(&mut c, &mut buf);
            if want_tap {
                self.do_rx(&mut c, &mut buf);
            }
            if self.armed && !self.done {
                self.hostile_now(&mut c)?;
            }
            if last_check.elapsed() >= Duration::from_millis(200) {
                last_check = Instant::now();
                if self.stop_requested() {
                    self.close(c)?;
                    return Ok(Some(End::Stopped));
                }
                match self.fe_state()? {
                    None => {
                        self.disconnect(c);
                        return Ok(Some(End::FrontendGone));
                    }
                    Some(CLOSING) | Some(CLOSED) | Some(INITIALISING) => {
                        say!("frontend closing");
                        self.be_state(CLOSING)?;
                        if self.cfg.mode == Mode::KeepGrants && self.armed {
                            say!("hostile: keeping the rings mapped for 30 s after the frontend closed");
                            self.be_state(CLOSED)?;
                            std::thread::sleep(Duration::from_secs(30));
                            self.disconnect(c);
                            say!("hostile: rings unmapped");
                        } else {
                            self.disconnect(c);
                            self.be_state(CLOSED)?;
                        }
                        return Ok(None);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Closes the connection from our side (as `xl network-detach` does).
    fn close(&mut self, c: Conn) -> io::Result<()> {
        self.be_state(CLOSING)?;
        self.xs.write(&format!("{}/online", self.be), "0")?;
        let s = self.wait_fe(&[CLOSED], Duration::from_secs(20))?;
        if s.is_none() {
            say!("frontend did not close within 20 s");
        }
        if self.cfg.mode == Mode::KeepGrants && self.armed {
            say!("hostile: frontend closed; keeping its rings mapped for 30 s");
            std::thread::sleep(Duration::from_secs(30));
            say!("hostile: unmapping the rings");
        }
        self.disconnect(c);
        self.be_state(CLOSED)?;
        Ok(())
    }

    // --- TX: guest -> dom0 ------------------------------------------------------

    fn do_tx(&mut self, c: &mut Conn, buf: &mut [u8]) {
        loop {
            match c.tx.unconsumed_requests() {
                Ok(0) => {}
                Ok(_) => {
                    while c.tx.pending_requests() > 0 {
                        self.tx_packet(c, buf);
                    }
                }
                Err(e) => {
                    say!("TX: {e}");
                    return;
                }
            }
            if c.tx.push_responses() {
                c.evtchn.notify();
            }
            match c.tx.final_check_for_requests() {
                Ok(true) => continue,
                _ => return,
            }
        }
    }

    fn tx_respond(&mut self, c: &mut Conn, id: u16, status: i16) {
        if let Some(seen) = self.tx_ids_seen.get_mut(usize::from(id)) {
            *seen = true;
        }
        // tx-id-duplicate: every response after the duplicate answers the
        // request before.
        if let Some(lag) = self.tx_lag {
            self.tx_lag = Some(id);
            if let Err(e) = c.tx.next_response_slot(TxResponse { id: lag, status }) {
                say!("TX response: {e}");
            }
            return;
        }
        let mut rsp = TxResponse { id, status };
        if self.armed && !self.done && status == XEN_NETIF_RSP_OKAY {
            match self.cfg.mode {
                Mode::TxIdOutOfRange => {
                    rsp.id = 0xfff0;
                    self.hostile_done("TX response id 0xfff0");
                }
                Mode::TxBadStatus => {
                    rsp.status = -77;
                    self.hostile_done("TX status -77");
                }
                Mode::TxIdNotInFlight => {
                    // An id in the ring's range that no request carried
                    // (this one's is marked seen above).
                    if let Some(never) = self.tx_ids_seen.iter().rposition(|&seen| !seen) {
                        rsp.id = never as u16;
                        self.hostile_done("TX response for an id never requested");
                    }
                }
                Mode::TxIdDuplicate => {
                    // Answer this request now and again in place of the
                    // next one, whose answer then comes one response late
                    // (and so on): the ring's count of responses stays
                    // right, one id arrives twice.
                    self.tx_lag = Some(id);
                    self.hostile_done("TX response id answered twice");
                }
                _ => {}
            }
        }
        if let Err(e) = c.tx.next_response_slot(rsp) {
            say!("TX response: {e}");
        }
    }

    /// Consumes one packet's requests, copies it out and hands it to dom0.
    fn tx_packet(&mut self, c: &mut Conn, buf: &mut [u8]) {
        let Some(first) = c.tx.take_request() else {
            return;
        };
        let mut slots = vec![first];
        let mut extras = 0u32;
        let mut bad = false;
        if first.flags & NETTXF_EXTRA_INFO != 0 {
            loop {
                let Some(x) = c.tx.take_request() else {
                    bad = true;
                    break;
                };
                extras += 1;
                let flags = (x.gref >> 8) as u8;
                if flags & XEN_NETIF_EXTRA_FLAG_MORE == 0 || extras > 4 {
                    break;
                }
            }
        }
        let mut last = first;
        while !bad && last.flags & NETTXF_MORE_DATA != 0 {
            match c.tx.take_request() {
                Some(r) => {
                    slots.push(r);
                    last = r;
                }
                None => bad = true,
            }
            if slots.len() > XEN_NETIF_NR_SLOTS_MIN as usize {
                bad = true;
            }
        }
        let total = first.size as usize;
        let rest: usize = slots[1..].iter().map(|r| r.size as usize).sum();
        if total < rest || total > buf.len() {
            bad = true;
        }
        let mut ok = !bad;
        if ok {
            let mut segs = Vec::with_capacity(slots.len());
            let mut pos = 0usize;
            let d = self.cfg.domid;
            let mut chunks: Vec<(usize, usize)> = Vec::new();
            for (i, r) in slots.iter().enumerate() {
                let len = if i == 0 {
                    total - rest
                } else {
                    r.size as usize
                };
                if r.offset as usize + len > XEN_PAGE_SIZE {
                    ok = false;
                    break;
                }
                chunks.push((pos, len));
                pos += len;
            }
            if ok {
                // One segment per slot, each into its own part of `buf`.
                let mut rest_buf: &mut [u8] = &mut buf[..total];
                for (r, &(_, len)) in slots.iter().zip(&chunks) {
                    let (head, tail) = rest_buf.split_at_mut(len);
                    if len > 0 {
                        segs.push(CopySegment::from_grant(d, r.gref, r.offset, head));
                    }
                    rest_buf = tail;
                }
                ok = self.gnt.copy(&mut segs).is_ok() && segs.iter().all(|s| s.status() == 0);
            }
        }
        let status = if ok {
            XEN_NETIF_RSP_OKAY
        } else {
            XEN_NETIF_RSP_ERROR
        };
        self.tx_respond(c, first.id, status);
        for _ in 0..extras {
            let _ = c.tx.next_response_slot(TxResponse {
                id: 0,
                status: XEN_NETIF_RSP_NULL,
            });
        }
        for r in &slots[1..] {
            self.tx_respond(c, r.id, status);
        }
        if !ok {
            self.stats.tx_errors += 1;
            return;
        }
        self.stats.tx_packets += 1;
        let frame = &mut buf[..total];
        if first.flags & NETTXF_CSUM_BLANK != 0 {
            csum::complete(frame);
        }
        if !self.armed && self.cfg.mode != Mode::Honest && is_trigger(frame) {
            self.armed = true;
            say!(
                "hostile mode {} armed: {}",
                self.cfg.mode.name(),
                self.cfg.mode.describe()
            );
        }
        self.tap.send(frame);
    }

    // --- RX: dom0 -> guest ------------------------------------------------------

    fn do_rx(&mut self, c: &mut Conn, buf: &mut [u8]) {
        let mut notify = false;
        loop {
            match c.rx.unconsumed_requests() {
                Ok(0) => {
                    let _ = c.rx.final_check_for_requests();
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    say!("RX: {e}");
                    break;
                }
            }
            let Some(n) = self.tap.recv(buf) else {
                break;
            };
            if n > XEN_PAGE_SIZE {
                self.stats.rx_dropped += 1;
                continue;
            }
            if self.armed && !self.done && self.rx_hostile(c, &buf[..n]) {
                notify = true;
                continue;
            }
            let Some(req) = c.rx.take_request() else {
                self.stats.rx_dropped += 1;
                break;
            };
            let mut seg = [CopySegment::to_grant(
                self.cfg.domid,
                req.gref,
                0,
                &buf[..n],
            )];
            let ok = self.gnt.copy(&mut seg).is_ok() && seg[0].status() == 0;
            let rsp = RxResponse {
                id: req.id,
                offset: 0,
                flags: 0,
                status: if ok { n as i16 } else { XEN_NETIF_RSP_ERROR },
            };
            let _ = c.rx.next_response_slot(rsp);
            self.stats.rx_packets += 1;
            notify = true;
        }
        if notify && c.rx.push_responses() {
            c.evtchn.notify();
        }
    }

    /// Answers RX requests with `rsps` (ids filled in from the requests
    /// taken, unless `keep_ids`), copying `frame` into the first.
    fn rx_put(&mut self, c: &mut Conn, frame: &[u8], rsps: &[RxResponse], keep_ids: bool) -> bool {
        if (c.rx.pending_requests() as usize) < rsps.len() {
            return false;
        }
        for (i, r) in rsps.iter().enumerate() {
            let Some(req) = c.rx.take_request() else {
                return false;
            };
            if i == 0 && !frame.is_empty() {
                let mut seg = [CopySegment::to_grant(self.cfg.domid, req.gref, 0, frame)];
                let _ = self.gnt.copy(&mut seg);
            }
            let mut r = *r;
            if !keep_ids && r.flags & 0x8000 == 0 {
                r.id = req.id;
            }
            r.flags &= 0x7fff;
            let _ = c.rx.next_response_slot(r);
        }
        true
    }

    /// The RX misbehaviours, applied to the next frame for the guest.
    /// Returns whether the frame was used.
    fn rx_hostile(&mut self, c: &mut Conn, frame: &[u8]) -> bool {
        let n = frame.len() as i16;
        let data = |flags: u16, status: i16| RxResponse {
            id: 0,
            offset: 0,
            flags,
            status,
        };
        // Flag bit 15 (not a NETRXF_* bit) marks an extra-info slot whose id
        // bytes are the extra's type and flags: `rx_put` keeps them.
        let extra = |e: ExtraInfo| {
            let mut r = rx_extra(e);
            r.flags |= 0x8000;
            r
        };
        let (what, used) = match self.cfg.mode {
            Mode::RxOffsetBeyondPage => (
                "RX offset 4000 size 1000",
                self.rx_put(
                    c,
                    frame,
                    &[RxResponse {
                        offset: 4000,
                        ..data(0, 1000)
                    }],
                    false,
                ),
            ),
            Mode::RxSizeZero => ("RX size 0", self.rx_put(c, frame, &[data(0, 0)], false)),
            Mode::RxSizeBeyondMtu => (
                "RX 3 x 4000 bytes",
                self.rx_put(
                    c,
                    frame,
                    &[
                        data(NETRXF_MORE_DATA, 4000),
                        data(NETRXF_MORE_DATA, 4000),
                        data(0, 4000),
                    ],
                    false,
                ),
            ),
            Mode::RxChainTooLong => {
                let mut v = vec![data(NETRXF_MORE_DATA, 100); 19];
                v.push(data(0, 100));
                v[0].status = n.max(100);
                ("RX chain of 20 slots", self.rx_put(c, frame, &v, false))
            }
            Mode::RxMoreDataEndless => {
                let k = c.rx.pending_requests() as usize;
                let v = vec![data(NETRXF_MORE_DATA, 200); k.max(1)];
                let used = self.rx_put(c, frame, &v, false);
                // Keep doing it to every request posted from now on.
                if used {
                    say!("hostile: RX more_data on {} more slots", v.len());
                }
                return used;
            }
            Mode::RxIdOutOfRange => (
                "RX response id 0xfff0",
                self.rx_put(
                    c,
                    frame,
                    &[RxResponse {
                        id: 0xfff0,
                        ..data(0, n)
                    }],
                    true,
                ),
            ),
            Mode::RxExtraUnknownType => {
                let mut e = ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV4, false);
                e.extra_type = 0x7f;
                (
                    "RX extra-info type 0x7f",
                    self.rx_put(c, frame, &[data(NETRXF_EXTRA_INFO, n), extra(e)], false),
                )
            }
            Mode::RxExtraMoreNoEnd => (
                "RX extra-info with MORE, then a data slot",
                self.rx_put(
                    c,
                    frame,
                    &[
                        data(NETRXF_EXTRA_INFO, n),
                        extra(ExtraInfo::new_gso(1448, XEN_NETIF_GSO_TYPE_TCPV4, true)),
                        data(0, 100),
                    ],
                    false,
                ),
            ),
            Mode::RxGsoSizeZero => (
                "RX GSO size 0",
                self.rx_put(
                    c,
                    frame,
                    &[
                        data(NETRXF_EXTRA_INFO, n),
                        extra(ExtraInfo::new_gso(0, XEN_NETIF_GSO_TYPE_TCPV4, false)),
                    ],
                    false,
                ),
            ),
            Mode::RxGsoTypeAbsurd => (
                "RX GSO type 0xee",
                self.rx_put(
                    c,
                    frame,
                    &[
                        data(NETRXF_EXTRA_INFO, n),
                        extra(ExtraInfo::new_gso(1448, 0xee, false)),
                    ],
                    false,
                ),
            ),
            _ => return false,
        };
        if used {
            self.hostile_done(what);
        }
        used
    }

    /// The misbehaviours not tied to a packet, done as soon as armed.
    fn hostile_now(&mut self, c: &mut Conn) -> io::Result<()> {
        match self.cfg.mode {
            Mode::RxProdBeyond => {
                let p = c.rx.rsp_prod_pvt().wrapping_add(1000);
                write_idx(&c.rx_page, SRING_RSP_PROD_OFFSET, p);
                c.evtchn.notify();
                self.hostile_done("RX rsp_prod 1000 beyond");
            }
            Mode::TxProdBackwards => {
                let p = read_idx(&c.tx_page, SRING_RSP_PROD_OFFSET);
                write_idx(&c.tx_page, SRING_RSP_PROD_OFFSET, p.wrapping_sub(8));
                c.evtchn.notify();
                self.hostile_done("TX rsp_prod 8 backwards");
            }
            Mode::EventStorm => {
                let t0 = Instant::now();
                for i in 0..20000u32 {
                    c.evtchn.notify();
                    if i % 100 == 99 {
                        std::thread::sleep(Duration::from_micros(20));
                    }
                }
                self.hostile_done(&format!("20000 events in {} ms", t0.elapsed().as_millis()));
            }
            Mode::StateFlap => {
                for i in 0..5 {
                    self.be_state(CLOSING)?;
                    std::thread::sleep(Duration::from_millis(300));
                    self.be_state(CONNECTED)?;
                    std::thread::sleep(Duration::from_millis(700));
                    say!("hostile: state flap {}", i + 1);
                }
                self.hostile_done("backend state flapped 5 times");
            }
            Mode::Vanish => {
                let be = self.be.clone();
                self.xs.rm(&be)?;
                self.hostile_done("backend directory removed");
            }
            _ => {}
        }
        Ok(())
    }

    fn hostile_done(&mut self, what: &str) {
        if self.cfg.mode != Mode::RxMoreDataEndless {
            self.done = true;
        }
        say!("hostile: {what}");
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Kernel-independent XenBus negotiation decisions of the netfront.
//!
//! Everything here is pure: parsing of XenStore values read by the kernel
//! glue (MAC address, backend feature flags), the choice of what the
//! frontend writes back (ring references, event channels, features, queue
//! count) and the reaction to backend state changes (`netback_changed` in
//! xen-netfront). The glue performs the actual XenStore reads and writes.
//!
//! This file only depends on `core`.

use core::fmt;
use core::fmt::Write as _;

use crate::netif::XEN_NETIF_MAX_TX_SIZE;

// ---------------------------------------------------------------------------
// XenBus states.
// ---------------------------------------------------------------------------

/// XenBus device state (`enum xenbus_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum XenbusState {
    /// `XenbusStateUnknown`.
    Unknown = 0,
    /// `XenbusStateInitialising`.
    Initialising = 1,
    /// `XenbusStateInitWait`: finished early initialisation, waiting for
    /// information from the peer or hotplug scripts.
    InitWait = 2,
    /// `XenbusStateInitialised`: waiting for a connection from the peer.
    Initialised = 3,
    /// `XenbusStateConnected`.
    Connected = 4,
    /// `XenbusStateClosing`: the device is being closed due to an error or
    /// an unplug event.
    Closing = 5,
    /// `XenbusStateClosed`.
    Closed = 6,
    /// `XenbusStateReconfiguring`.
    Reconfiguring = 7,
    /// `XenbusStateReconfigured`.
    Reconfigured = 8,
}

impl XenbusState {
    /// Converts the numeric value found in XenStore; `None` if unknown.
    pub(crate) fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => XenbusState::Unknown,
            1 => XenbusState::Initialising,
            2 => XenbusState::InitWait,
            3 => XenbusState::Initialised,
            4 => XenbusState::Connected,
            5 => XenbusState::Closing,
            6 => XenbusState::Closed,
            7 => XenbusState::Reconfiguring,
            8 => XenbusState::Reconfigured,
            _ => return None,
        })
    }

    /// The numeric value written to XenStore.
    pub(crate) fn as_u32(self) -> u32 {
        self as u32
    }
}

/// What the frontend must do when the backend changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrontendAction {
    /// Nothing to do.
    Nothing,
    /// Read the backend's features, set up rings and write the frontend
    /// keys (`xennet_connect`), then switch to [`XenbusState::Connected`].
    Connect,
    /// The backend is connected: announce our presence to peers
    /// (`netdev_notify_peers`).
    NotifyPeers,
    /// The backend is closing (or closed without us noticing): close the
    /// frontend (`xenbus_frontend_closed`).
    Close,
}

/// Reaction to a backend state change, given the frontend's current state
/// (`netback_changed` in xen-netfront).
pub(crate) fn on_backend_state(frontend: XenbusState, backend: XenbusState) -> FrontendAction {
    match backend {
        XenbusState::Initialising
        | XenbusState::Initialised
        | XenbusState::Reconfiguring
        | XenbusState::Reconfigured
        | XenbusState::Unknown => FrontendAction::Nothing,
        XenbusState::InitWait => {
            if frontend == XenbusState::Initialising {
                FrontendAction::Connect
            } else {
                FrontendAction::Nothing
            }
        }
        XenbusState::Connected => FrontendAction::NotifyPeers,
        XenbusState::Closed => {
            if frontend == XenbusState::Closed {
                FrontendAction::Nothing
            } else {
                // Missed the backend's Closing state.
                FrontendAction::Close
            }
        }
        XenbusState::Closing => FrontendAction::Close,
    }
}

// ---------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------

/// Why a MAC address string was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacError {
    /// The string is not exactly 17 bytes (`aa:bb:cc:dd:ee:ff`).
    BadLength {
        /// Length found.
        len: usize,
    },
    /// A non-hexadecimal character.
    BadHex {
        /// Byte position in the string.
        pos: usize,
    },
    /// A separator other than `:`.
    BadSeparator {
        /// Byte position in the string.
        pos: usize,
    },
    /// The multicast (group) bit of the first octet is set.
    Multicast,
    /// The address is all zeroes.
    AllZero,
}

impl fmt::Display for MacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MacError::BadLength { len } => write!(
                f,
                "mac address has length {}, expected 17 (aa:bb:cc:dd:ee:ff)",
                len
            ),
            MacError::BadHex { pos } => {
                write!(f, "mac address has a non-hex digit at position {}", pos)
            }
            MacError::BadSeparator { pos } => {
                write!(f, "mac address has a bad separator at position {}", pos)
            }
            MacError::Multicast => write!(f, "mac address is a multicast address"),
            MacError::AllZero => write!(f, "mac address is all zeroes"),
        }
    }
}

/// Negotiation errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NegotiateError {
    /// The backend does not offer `feature-rx-copy`.
    NoRxCopy,
    /// The `mac` node is invalid.
    Mac(MacError),
    /// The number of queue descriptions does not match the plan.
    QueueCountMismatch {
        /// Queues in the plan.
        expected: u32,
        /// Queue descriptions given.
        got: usize,
    },
}

impl fmt::Display for NegotiateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NegotiateError::NoRxCopy => write!(f, "backend lacks feature-rx-copy"),
            NegotiateError::Mac(e) => write!(f, "invalid mac: {}", e),
            NegotiateError::QueueCountMismatch { expected, got } => write!(
                f,
                "{} queue descriptions given, {} queues negotiated",
                got, expected
            ),
        }
    }
}

impl From<MacError> for NegotiateError {
    fn from(e: MacError) -> Self {
        NegotiateError::Mac(e)
    }
}

// ---------------------------------------------------------------------------
// Value parsing.
// ---------------------------------------------------------------------------

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses the `mac` node: exactly `aa:bb:cc:dd:ee:ff` (either case). Rejects
/// multicast and all-zero addresses.
pub(crate) fn parse_mac(s: &[u8]) -> Result<[u8; 6], MacError> {
    if s.len() != 17 {
        return Err(MacError::BadLength { len: s.len() });
    }
    let mut mac = [0u8; 6];
    for (i, octet) in mac.iter_mut().enumerate() {
        let pos = i * 3;
        let hi = s.get(pos).copied().and_then(hex_digit);
        let hi = hi.ok_or(MacError::BadHex { pos })?;
        let lo = s.get(pos + 1).copied().and_then(hex_digit);
        let lo = lo.ok_or(MacError::BadHex { pos: pos + 1 })?;
        *octet = (hi << 4) | lo;
        if i < 5 && s.get(pos + 2) != Some(&b':') {
            return Err(MacError::BadSeparator { pos: pos + 2 });
        }
    }
    if mac[0] & 1 != 0 {
        return Err(MacError::Multicast);
    }
    if mac == [0u8; 6] {
        return Err(MacError::AllZero);
    }
    Ok(mac)
}

/// Parses a XenStore value the way `xenbus_read_unsigned` (`"%u"`) does:
/// leading white space is skipped, then at least one decimal digit is
/// required; parsing stops at the first non-digit. Returns `None` for
/// garbage (no digit, a sign, or a value that does not fit in `u32`).
pub(crate) fn parse_unsigned(v: &[u8]) -> Option<u32> {
    let mut it = v
        .iter()
        .copied()
        .skip_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .peekable();
    if !matches!(it.peek(), Some(b'0'..=b'9')) {
        return None;
    }
    let mut val: u32 = 0;
    for c in it {
        if !c.is_ascii_digit() {
            break;
        }
        val = val.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(val)
}

/// `xenbus_read_unsigned`: the parsed value, or `default` when the node is
/// missing (`None`) or holds garbage.
pub(crate) fn read_unsigned(v: Option<&[u8]>, default: u32) -> u32 {
    v.and_then(parse_unsigned).unwrap_or(default)
}

/// Size of the buffer handed to XenStore read callbacks.
pub(crate) const VALUE_BUF_LEN: usize = 32;

/// Reads `key` through `read` (see [`BackendFeatures::read`]) and
/// interprets it like `xenbus_read_unsigned`.
fn read_key<F>(read: &mut F, key: &str, default: u32) -> (bool, u32)
where
    F: FnMut(&str, &mut [u8]) -> Option<usize>,
{
    let mut buf = [0u8; VALUE_BUF_LEN];
    match read(key, &mut buf) {
        None => (false, default),
        Some(n) => match buf.get(..n) {
            Some(v) => (true, read_unsigned(Some(v), default)),
            // Longer than any valid number: garbage.
            None => (true, default),
        },
    }
}

// ---------------------------------------------------------------------------
// Backend features.
// ---------------------------------------------------------------------------

/// Features advertised by the backend in its XenStore directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BackendFeatures {
    /// `feature-rx-copy` (required).
    pub(crate) rx_copy: bool,
    /// `feature-sg`: accepts multi-slot TX packets.
    pub(crate) sg: bool,
    /// `feature-gso-tcpv4`.
    pub(crate) gso_tcpv4: bool,
    /// `feature-gso-tcpv6`.
    pub(crate) gso_tcpv6: bool,
    /// `feature-ipv6-csum-offload` (default off).
    pub(crate) ipv6_csum_offload: bool,
    /// `feature-no-csum-offload`: IPv4 checksum offload disabled (default
    /// off, i.e. offload on).
    pub(crate) no_csum_offload: bool,
    /// `feature-split-event-channels`.
    pub(crate) split_event_channels: bool,
    /// Whether `multi-queue-max-queues` exists (then the frontend must
    /// write `multi-queue-num-queues`).
    pub(crate) multi_queue: bool,
    /// `multi-queue-max-queues` (default 1).
    pub(crate) max_queues: u32,
    /// `feature-ctrl-ring`.
    pub(crate) ctrl_ring: bool,
    /// `feature-xdp-headroom`.
    pub(crate) xdp_headroom: bool,
    /// `feature-multicast-control`.
    pub(crate) multicast_control: bool,
    /// `feature-dynamic-multicast-control`.
    pub(crate) dynamic_multicast_control: bool,
}

impl BackendFeatures {
    /// Reads the backend's feature nodes through `read(key, buf)`, which
    /// must copy the value of `key` (relative to the backend directory)
    /// into `buf` and return its full length, or return `None` if the node
    /// does not exist. Values longer than `buf` count as garbage.
    ///
    /// Every node is interpreted like `xenbus_read_unsigned`: missing or
    /// garbage means the default. Fails if `feature-rx-copy` is not set.
    pub(crate) fn read<F>(mut read: F) -> Result<Self, NegotiateError>
    where
        F: FnMut(&str, &mut [u8]) -> Option<usize>,
    {
        let mut flag = |key: &str| read_key(&mut read, key, 0).1 != 0;
        let mut f = BackendFeatures {
            rx_copy: flag("feature-rx-copy"),
            sg: flag("feature-sg"),
            gso_tcpv4: flag("feature-gso-tcpv4"),
            gso_tcpv6: flag("feature-gso-tcpv6"),
            ipv6_csum_offload: flag("feature-ipv6-csum-offload"),
            no_csum_offload: flag("feature-no-csum-offload"),
            split_event_channels: flag("feature-split-event-channels"),
            ctrl_ring: flag("feature-ctrl-ring"),
            xdp_headroom: flag("feature-xdp-headroom"),
            multicast_control: flag("feature-multicast-control"),
            dynamic_multicast_control: flag("feature-dynamic-multicast-control"),
            ..Default::default()
        };
        let (exists, max) = read_key(&mut read, "multi-queue-max-queues", 1);
        f.multi_queue = exists;
        f.max_queues = max;
        f.validate()?;
        Ok(f)
    }

    /// Checks the features the frontend cannot work without.
    pub(crate) fn validate(&self) -> Result<(), NegotiateError> {
        if !self.rx_copy {
            return Err(NegotiateError::NoRxCopy);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Frontend configuration and connection plan.
// ---------------------------------------------------------------------------

/// Largest number of queues the frontend will ever use.
pub(crate) const MAX_QUEUES_LIMIT: u32 = 64;
/// Default `max_queues` (xen-netfront's `MAX_QUEUES_DEFAULT`).
pub(crate) const MAX_QUEUES_DEFAULT: u32 = 8;

/// Frontend settings (module parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrontendConfig {
    /// Maximum number of queues (0 is treated as 1; capped at
    /// [`MAX_QUEUES_LIMIT`]).
    pub(crate) max_queues: u32,
    /// Advertise and use scatter-gather.
    pub(crate) sg: bool,
    /// Advertise and use TCP segmentation offload (v4 and v6).
    pub(crate) gso: bool,
    /// Advertise IPv6 checksum offload.
    pub(crate) ipv6_csum: bool,
    /// Use split event channels when the backend offers them.
    pub(crate) split_event_channels: bool,
}

impl Default for FrontendConfig {
    fn default() -> Self {
        FrontendConfig {
            max_queues: MAX_QUEUES_DEFAULT,
            sg: true,
            gso: true,
            ipv6_csum: true,
            split_event_channels: true,
        }
    }
}

/// Offloads usable on the network device after negotiation
/// (`xennet_fix_features`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NetFeatures {
    /// `NETIF_F_SG`.
    pub(crate) sg: bool,
    /// `NETIF_F_TSO`.
    pub(crate) tso: bool,
    /// `NETIF_F_TSO6`.
    pub(crate) tso6: bool,
    /// `NETIF_F_IP_CSUM`.
    pub(crate) ip_csum: bool,
    /// `NETIF_F_IPV6_CSUM`.
    pub(crate) ipv6_csum: bool,
}

/// The frontend's decisions for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnectPlan {
    /// Number of queues to set up (at least 1).
    pub(crate) num_queues: u32,
    /// Whether each queue uses separate TX and RX event channels.
    pub(crate) split_event_channels: bool,
    /// Whether to write `multi-queue-num-queues`.
    pub(crate) write_num_queues: bool,
    /// Offloads the device may enable.
    pub(crate) features: NetFeatures,
    /// What the frontend advertises.
    pub(crate) config: FrontendConfig,
}

/// Decides how to connect, given the backend's features and our settings.
pub(crate) fn plan(
    backend: &BackendFeatures,
    config: &FrontendConfig,
) -> Result<ConnectPlan, NegotiateError> {
    backend.validate()?;
    let ours = config.max_queues.clamp(1, MAX_QUEUES_LIMIT);
    let num_queues = backend.max_queues.min(ours).max(1);
    let sg = config.sg && backend.sg;
    Ok(ConnectPlan {
        num_queues,
        split_event_channels: config.split_event_channels && backend.split_event_channels,
        write_num_queues: backend.multi_queue,
        features: NetFeatures {
            sg,
            // TSO needs scatter-gather.
            tso: sg && config.gso && backend.gso_tcpv4,
            tso6: sg && config.gso && backend.gso_tcpv6,
            ip_csum: !backend.no_csum_offload,
            ipv6_csum: config.ipv6_csum && backend.ipv6_csum_offload,
        },
        config: *config,
    })
}

/// How many queues the frontend offers, from the `max_queues` module
/// parameter (0: one per online CPU) and the number of online CPUs; always
/// between 1 and [`MAX_QUEUES_DEFAULT`], the most the driver sets up.
pub(crate) fn queue_limit(param: u32, online_cpus: u32) -> u32 {
    let wanted = if param == 0 { online_cpus } else { param };
    wanted.clamp(1, MAX_QUEUES_DEFAULT)
}

/// Default Ethernet MTU (`ETH_DATA_LEN`).
pub(crate) const ETH_DATA_LEN: u32 = 1500;

/// Largest MTU the device allows, as in xen-netfront: the protocol's 16-bit
/// packet size with scatter-gather, 1500 without. (Above 65521 a full-size
/// frame with its Ethernet header exceeds the packet size: such frames are
/// dropped and counted, segmented TCP is not affected.)
pub(crate) fn max_mtu(sg: bool) -> u32 {
    if sg {
        XEN_NETIF_MAX_TX_SIZE
    } else {
        ETH_DATA_LEN
    }
}

impl NetFeatures {
    /// `NETIF_F_SG`.
    pub(crate) const SG: u32 = 1 << 0;
    /// `NETIF_F_TSO`.
    pub(crate) const TSO: u32 = 1 << 1;
    /// `NETIF_F_TSO6`.
    pub(crate) const TSO6: u32 = 1 << 2;
    /// `NETIF_F_IP_CSUM`.
    pub(crate) const IP_CSUM: u32 = 1 << 3;
    /// `NETIF_F_IPV6_CSUM`.
    pub(crate) const IPV6_CSUM: u32 = 1 << 4;

    /// The features as a bit set (the constants above), for the kernel glue.
    pub(crate) fn bits(&self) -> u32 {
        let b = |on: bool, bit: u32| if on { bit } else { 0 };
        b(self.sg, Self::SG)
            | b(self.tso, Self::TSO)
            | b(self.tso6, Self::TSO6)
            | b(self.ip_csum, Self::IP_CSUM)
            | b(self.ipv6_csum, Self::IPV6_CSUM)
    }
}

/// Per-queue values the frontend publishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueKeys {
    /// Grant reference of the TX shared ring page.
    pub(crate) tx_ring_ref: u32,
    /// Grant reference of the RX shared ring page.
    pub(crate) rx_ring_ref: u32,
    /// TX event channel (the only one without split event channels).
    pub(crate) evtchn_tx: u32,
    /// RX event channel (ignored without split event channels).
    pub(crate) evtchn_rx: u32,
}

/// Maximum key length (including a `queue-N/` prefix) plus a NUL.
pub(crate) const KEY_BUF_LEN: usize = 48;
/// Maximum value length plus a NUL.
pub(crate) const VALUE_OUT_LEN: usize = 16;

/// One XenStore node to write, relative to the frontend directory.
#[derive(Clone, Copy)]
pub(crate) struct XsWrite {
    key: [u8; KEY_BUF_LEN],
    key_len: usize,
    value: [u8; VALUE_OUT_LEN],
    value_len: usize,
}

impl fmt::Debug for XsWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key(), self.value())
    }
}

impl PartialEq for XsWrite {
    fn eq(&self, other: &Self) -> bool {
        self.key_bytes() == other.key_bytes() && self.value_bytes() == other.value_bytes()
    }
}

impl Eq for XsWrite {}

/// A fixed buffer implementing `fmt::Write`; output that does not fit
/// (keeping one byte for the NUL) is an error.
struct FixedBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for FixedBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        if end >= self.buf.len() {
            return Err(fmt::Error);
        }
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl XsWrite {
    fn new(prefix: Option<u32>, key: &str, value: fmt::Arguments<'_>) -> Self {
        let mut w = XsWrite {
            key: [0; KEY_BUF_LEN],
            key_len: 0,
            value: [0; VALUE_OUT_LEN],
            value_len: 0,
        };
        let mut k = FixedBuf {
            buf: &mut w.key,
            len: 0,
        };
        // Keys are short constants and a u32 queue number: they always fit
        // (at most 36 bytes); on failure the key is truncated, never
        // overflowed.
        let _ = match prefix {
            Some(q) => write!(k, "queue-{}/{}", q, key),
            None => k.write_str(key),
        };
        w.key_len = k.len;
        let mut v = FixedBuf {
            buf: &mut w.value,
            len: 0,
        };
        // Values are u32 numbers: at most 10 digits.
        let _ = v.write_fmt(value);
        w.value_len = v.len;
        w
    }

    /// The key, e.g. `queue-0/tx-ring-ref`.
    pub(crate) fn key(&self) -> &str {
        core::str::from_utf8(self.key_bytes()).unwrap_or("")
    }

    /// The value, e.g. `8`.
    pub(crate) fn value(&self) -> &str {
        core::str::from_utf8(self.value_bytes()).unwrap_or("")
    }

    /// The key bytes without NUL.
    pub(crate) fn key_bytes(&self) -> &[u8] {
        self.key.get(..self.key_len).unwrap_or(&[])
    }

    /// The value bytes without NUL.
    pub(crate) fn value_bytes(&self) -> &[u8] {
        self.value.get(..self.value_len).unwrap_or(&[])
    }

    /// The key bytes followed by a NUL (for C strings).
    pub(crate) fn key_with_nul(&self) -> &[u8] {
        self.key.get(..=self.key_len).unwrap_or(&[])
    }

    /// The value bytes followed by a NUL (for C strings).
    pub(crate) fn value_with_nul(&self) -> &[u8] {
        self.value.get(..=self.value_len).unwrap_or(&[])
    }
}

/// Iterator over the nodes the frontend writes in its connect transaction
/// (`talk_to_netback`), in order.
#[derive(Clone)]
pub(crate) struct FrontendWrites<'a> {
    plan: ConnectPlan,
    queues: &'a [QueueKeys],
    step: usize,
}

/// Writes per queue: tx-ring-ref, rx-ring-ref, 1 or 2 event channels.
const PER_QUEUE_STEPS: usize = 4;
/// Global writes after the queues.
const GLOBAL_STEPS: usize = 6;

/// Returns the nodes the frontend must write for `plan`, given the ring
/// references and event channels of each queue.
pub(crate) fn frontend_writes<'a>(
    plan: &ConnectPlan,
    queues: &'a [QueueKeys],
) -> Result<FrontendWrites<'a>, NegotiateError> {
    if queues.len() != plan.num_queues as usize {
        return Err(NegotiateError::QueueCountMismatch {
            expected: plan.num_queues,
            got: queues.len(),
        });
    }
    Ok(FrontendWrites {
        plan: *plan,
        queues,
        step: 0,
    })
}

impl FrontendWrites<'_> {
    fn item(&self, step: usize) -> Option<Option<XsWrite>> {
        let flag = |b: bool| if b { 1u32 } else { 0 };
        let mut step = step;
        // 1. multi-queue-num-queues
        if step == 0 {
            return Some(if self.plan.write_num_queues {
                Some(XsWrite::new(
                    None,
                    "multi-queue-num-queues",
                    format_args!("{}", self.plan.num_queues),
                ))
            } else {
                None
            });
        }
        step -= 1;
        // 2. per-queue keys
        let per_queue = self.queues.len() * PER_QUEUE_STEPS;
        if step < per_queue {
            let qi = step / PER_QUEUE_STEPS;
            let q = self.queues.get(qi)?;
            let prefix = if self.queues.len() > 1 {
                Some(qi as u32)
            } else {
                None
            };
            let split = self.plan.split_event_channels;
            return Some(match step % PER_QUEUE_STEPS {
                0 => Some(XsWrite::new(
                    prefix,
                    "tx-ring-ref",
                    format_args!("{}", q.tx_ring_ref),
                )),
                1 => Some(XsWrite::new(
                    prefix,
                    "rx-ring-ref",
                    format_args!("{}", q.rx_ring_ref),
                )),
                2 if split => Some(XsWrite::new(
                    prefix,
                    "event-channel-tx",
                    format_args!("{}", q.evtchn_tx),
                )),
                2 => Some(XsWrite::new(
                    prefix,
                    "event-channel",
                    format_args!("{}", q.evtchn_tx),
                )),
                _ if split => Some(XsWrite::new(
                    prefix,
                    "event-channel-rx",
                    format_args!("{}", q.evtchn_rx),
                )),
                _ => None,
            });
        }
        step -= per_queue;
        // 3. global features
        let c = &self.plan.config;
        let (key, val) = match step {
            0 => ("request-rx-copy", 1),
            1 => ("feature-rx-notify", 1),
            2 => ("feature-sg", flag(c.sg)),
            3 => ("feature-gso-tcpv4", flag(c.gso)),
            4 => ("feature-gso-tcpv6", flag(c.gso)),
            5 => ("feature-ipv6-csum-offload", flag(c.ipv6_csum)),
            _ => return None,
        };
        Some(Some(XsWrite::new(None, key, format_args!("{}", val))))
    }

    /// Total number of steps (some produce no write).
    fn steps(&self) -> usize {
        1 + self.queues.len() * PER_QUEUE_STEPS + GLOBAL_STEPS
    }
}

impl Iterator for FrontendWrites<'_> {
    type Item = XsWrite;

    fn next(&mut self) -> Option<XsWrite> {
        while self.step < self.steps() {
            let s = self.step;
            self.step += 1;
            if let Some(Some(w)) = self.item(s) {
                return Some(w);
            }
        }
        None
    }
}

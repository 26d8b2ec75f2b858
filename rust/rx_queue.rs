// SPDX-License-Identifier: GPL-2.0

//! RX slot bookkeeping of one netfront queue, driving an [`RxRing`].
//!
//! The kernel-independent part of xen-netfront's `xennet_alloc_rx_buffers`
//! and `xennet_poll`: [`RxQueue`] posts buffers in every free slot
//! ([`RxQueue::fill`]), and assembles and validates the packets the backend
//! writes into them ([`RxQueue::poll`]); what TX and RX share is in
//! [`crate::queue`].
//!
//! The policy for bad packets: a packet the backend itself reports as
//! failed (a negative status, `XEN_NETIF_RSP_ERROR`/`_DROPPED`) is dropped
//! and counted, as the protocol intends; any response that breaks the
//! protocol (ids, offsets and sizes, flags, extra-info chains, chain and
//! packet lengths, a producer beyond the requests) disables the queue: the
//! backend is broken or hostile, and nothing it writes is used any more.
//!
//! This file only depends on `core` and sibling modules.

use core::mem::MaybeUninit;
use core::ptr;

use crate::grant::{Grant, GrantPool};
use crate::netif::{
    ExtraGso, ExtraInfo, GrantRef, RxRequest, RxResponse, NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED,
    NETRXF_EXTRA_INFO, NETRXF_GSO_PREFIX, NETRXF_KNOWN, NETRXF_MORE_DATA, NET_RX_RING_SIZE,
    NET_RX_SLOTS_MIN, RX_COPY_THRESHOLD, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_MAX,
    XEN_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
    XEN_NETIF_MAX_TX_SIZE, XEN_NETIF_NR_SLOTS_MIN, XEN_PAGE_SIZE,
};
use crate::queue::{fill_array, init_grant_pool, note, QueueError, RxRing, RX_RING_SIZE};
use crate::ring::RingWatch;

/// Maximum number of data fragments of one received packet
/// (`XEN_NETIF_NR_SLOTS_MIN`, plus one when the first fragment is at most
/// `RX_COPY_THRESHOLD` bytes, as in xen-netfront).
pub(crate) const MAX_RX_FRAGS: usize = XEN_NETIF_NR_SLOTS_MIN as usize + 1;
/// Maximum number of extra-info slots of one received packet (one per type).
pub(crate) const MAX_RX_EXTRAS: usize = XEN_NETIF_EXTRA_TYPE_MAX as usize - 1;
/// Longest packet the backend may deliver (a 64 KiB GSO packet, as on TX).
pub(crate) const MAX_RX_PACKET: u32 = XEN_NETIF_MAX_TX_SIZE;
/// Bytes a received frame without GSO may have beyond the MTU: the
/// Ethernet header and one VLAN tag.
pub(crate) const RX_FRAME_OVERHEAD: u32 = 18;

/// Whether a received frame of `len` bytes is one an interface with MTU
/// `mtu` takes: a GSO packet (segments the backend coalesced) up to
/// [`MAX_RX_PACKET`], which the queue checks; any other frame at most the
/// MTU plus [`RX_FRAME_OVERHEAD`], as a NIC's receive filter allows. A
/// longer one is dropped and counted as a receive error, not handed to the
/// stack as one oversized frame.
pub(crate) fn rx_frame_fits(len: u32, mtu: u32, gso: bool) -> bool {
    gso || len <= mtu.saturating_add(RX_FRAME_OVERHEAD)
}

/// The errors of one packet being read: the first per-packet error (the
/// backend's own error status) and the first protocol violation.
#[derive(Default)]
struct PacketErrors {
    drop: Option<QueueError>,
    fatal: Option<QueueError>,
}

impl PacketErrors {
    fn note(&mut self, e: QueueError) {
        if matches!(e, QueueError::ErrorStatus { .. }) {
            note(e, &mut self.drop);
        } else {
            note(e, &mut self.fatal);
        }
    }
}

#[derive(Clone, Copy)]
struct RxBuf<T> {
    token: T,
    grant: Grant,
}

/// One fragment of a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RxFrag<T> {
    /// The buffer's token (as returned by the fill callback).
    pub(crate) token: T,
    /// The buffer's grant. The caller must end the backend's access and then
    /// return it with [`GrantPool::free`]; if access cannot be ended it must
    /// not be returned (and the device should be considered broken).
    pub(crate) grant: Grant,
    /// Offset of the data in the buffer page.
    pub(crate) offset: u16,
    /// Length of the data.
    pub(crate) len: u16,
}

/// A received packet: up to [`MAX_RX_FRAGS`] fragments plus extra info.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxPacket<T> {
    frags: [Option<RxFrag<T>>; MAX_RX_FRAGS],
    nfrags: usize,
    flags: u16,
    len: u32,
    extras: [Option<ExtraInfo>; MAX_RX_EXTRAS],
}

impl<T: Copy> RxPacket<T> {
    fn empty(flags: u16) -> Self {
        RxPacket {
            frags: [None; MAX_RX_FRAGS],
            nfrags: 0,
            flags,
            len: 0,
            extras: [None; MAX_RX_EXTRAS],
        }
    }

    fn push(&mut self, frag: RxFrag<T>) -> Result<(), RxFrag<T>> {
        match self.frags.get_mut(self.nfrags) {
            Some(slot) => {
                *slot = Some(frag);
                self.nfrags += 1;
                self.len += u32::from(frag.len);
                Ok(())
            }
            None => Err(frag),
        }
    }

    /// The fragments, in order.
    pub(crate) fn frags(&self) -> impl Iterator<Item = &RxFrag<T>> + '_ {
        self.frags.iter().take(self.nfrags).flatten()
    }

    /// Fragment `i`, if any.
    #[cfg(test)]
    pub(crate) fn frag(&self, i: usize) -> Option<&RxFrag<T>> {
        if i < self.nfrags {
            self.frags.get(i).and_then(|f| f.as_ref())
        } else {
            None
        }
    }

    /// Number of fragments.
    pub(crate) fn nfrags(&self) -> usize {
        self.nfrags
    }

    /// Total length of the packet.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Whether the packet has no data.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `NETRXF_*` flags of the first response.
    #[cfg(test)]
    pub(crate) fn flags(&self) -> u16 {
        self.flags
    }

    /// The backend left the checksum blank (`NETRXF_csum_blank`).
    pub(crate) fn csum_blank(&self) -> bool {
        self.flags & NETRXF_CSUM_BLANK != 0
    }

    /// The data was validated (`NETRXF_data_validated`).
    pub(crate) fn data_validated(&self) -> bool {
        self.flags & NETRXF_DATA_VALIDATED != 0
    }

    /// The extra-info slot of type `extra_type`, if received.
    pub(crate) fn extra(&self, extra_type: u8) -> Option<ExtraInfo> {
        let i = usize::from(extra_type).checked_sub(1)?;
        self.extras.get(i).copied().flatten()
    }

    /// The (validated) GSO parameters, if any.
    pub(crate) fn gso(&self) -> Option<ExtraGso> {
        self.extra(XEN_NETIF_EXTRA_TYPE_GSO).map(|e| e.gso())
    }
}

/// Event delivered by [`RxQueue::poll`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum RxEvent<T> {
    /// A valid packet; the caller now owns its buffers.
    Packet(RxPacket<T>),
    /// A packet the backend reported as failed
    /// ([`QueueError::ErrorStatus`]) was dropped; its buffers were
    /// recycled onto the ring. The caller should count an rx error.
    Dropped(QueueError),
}

/// Result of [`RxQueue::poll`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RxPoll {
    /// Packets delivered.
    pub(crate) packets: usize,
    /// Packets dropped.
    pub(crate) dropped: usize,
}

impl RxPoll {
    /// Work done, to compare with the NAPI budget.
    pub(crate) fn work(&self) -> usize {
        self.packets + self.dropped
    }
}

/// Result of [`RxQueue::fill`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RxFill {
    /// Buffers newly posted.
    pub(crate) posted: u32,
    /// Whether the backend must be notified.
    pub(crate) notify: bool,
    /// Whether the caller should retry later (allocation failed or fewer
    /// than `NET_RX_SLOTS_MIN` buffers are posted).
    pub(crate) retry: bool,
}

/// Receive side of one queue.
pub(crate) struct RxQueue<T> {
    ring: RxRing,
    grants: GrantPool<RX_RING_SIZE>,
    /// Buffer posted in each ring slot (request id == slot index).
    bufs: [Option<RxBuf<T>>; RX_RING_SIZE],
    broken: bool,
}

const RX_MASK: u32 = NET_RX_RING_SIZE - 1;

impl<T: Copy> RxQueue<T> {
    /// Builds an RX queue on the stack (tests only: the value is large);
    /// see [`RxQueue::init`].
    #[cfg(test)]
    pub(crate) fn new(ring: RxRing, grefs: &[GrantRef]) -> Result<Self, QueueError> {
        let mut this = MaybeUninit::uninit();
        Self::init(&mut this, ring, grefs)?;
        // SAFETY: `init` returned Ok, so every field is initialised.
        Ok(unsafe { this.assume_init() })
    }

    /// Initialises, in place (e.g. in heap memory: the value is large), an
    /// RX queue on `ring` with the grant references `grefs` (normally
    /// [`RX_RING_SIZE`] of them, claimed by the kernel glue). On error,
    /// `this` is left uninitialised.
    pub(crate) fn init<'a>(
        this: &'a mut MaybeUninit<Self>,
        ring: RxRing,
        grefs: &[GrantRef],
    ) -> Result<&'a mut Self, QueueError> {
        let p = this.as_mut_ptr();
        // SAFETY: `p` is valid for writes, aligned and exclusive (from
        // `&mut MaybeUninit<Self>`), and so are its fields. Every field is
        // initialised through raw pointers, without reading uninitialised
        // memory.
        unsafe {
            init_grant_pool(ptr::addr_of_mut!((*p).grants), grefs)?;
            ptr::addr_of_mut!((*p).ring).write(ring);
            fill_array(ptr::addr_of_mut!((*p).bufs), None);
            ptr::addr_of_mut!((*p).broken).write(false);
            Ok(this.assume_init_mut())
        }
    }

    /// The underlying ring.
    pub(crate) fn ring(&self) -> &RxRing {
        &self.ring
    }

    /// A read-only view of the ring's response producer, for an interrupt
    /// handler that cannot borrow the queue (see [`RingWatch`]).
    pub(crate) fn watch(&self) -> RingWatch {
        self.ring.watch()
    }

    /// Mutable access to the ring (e.g. for the final check after NAPI
    /// completes).
    #[cfg(test)]
    pub(crate) fn ring_mut(&mut self) -> &mut RxRing {
        &mut self.ring
    }

    /// The grant pool.
    #[cfg(test)]
    pub(crate) fn grants(&mut self) -> &mut GrantPool<RX_RING_SIZE> {
        &mut self.grants
    }

    /// Read-only view of the grant pool.
    #[cfg(test)]
    pub(crate) fn grants_ref(&self) -> &GrantPool<RX_RING_SIZE> {
        &self.grants
    }

    /// Whether the queue was disabled by a fatal backend error.
    #[cfg(test)]
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Number of buffers currently posted to the backend.
    #[cfg(test)]
    pub(crate) fn posted(&self) -> usize {
        self.bufs.iter().filter(|b| b.is_some()).count()
    }

    /// Posts new buffers into every free slot (`xennet_alloc_rx_buffers`).
    ///
    /// For each slot a grant is taken from the pool and `alloc(grant)` is
    /// called: it must allocate a page, grant the backend write access to it
    /// with `grant.gref()` and return its token, or return `None` to stop
    /// (the grant goes back to the pool). The requests are published only
    /// when at least `NET_RX_SLOTS_MIN` buffers are outstanding.
    pub(crate) fn fill<F>(&mut self, mut alloc: F) -> Result<RxFill, QueueError>
    where
        F: FnMut(Grant) -> Option<T>,
    {
        if self.broken {
            return Err(QueueError::Broken);
        }
        let mut posted = 0;
        let mut short = false;
        while !self.ring.full() {
            let idx = self.ring.req_prod_pvt() & RX_MASK;
            let Some(slot) = self.bufs.get_mut(idx as usize) else {
                return Err(QueueError::SlotBusy { idx });
            };
            if slot.is_some() {
                self.broken = true;
                return Err(QueueError::SlotBusy { idx });
            }
            let Some(grant) = self.grants.alloc() else {
                short = true;
                break;
            };
            let Some(token) = alloc(grant) else {
                let _ = self.grants.free(grant);
                short = true;
                break;
            };
            self.ring.next_request_slot(RxRequest {
                id: idx as u16,
                pad: 0,
                gref: grant.gref(),
            })?;
            *slot = Some(RxBuf { token, grant });
            posted += 1;
        }
        if self.ring.outstanding() < NET_RX_SLOTS_MIN {
            return Ok(RxFill {
                posted,
                notify: false,
                retry: true,
            });
        }
        let notify = self.ring.push_requests();
        Ok(RxFill {
            posted,
            notify,
            retry: short,
        })
    }

    /// Consumes the response at `rsp_cons`: returns the slot index, the
    /// response and the buffer that was posted in that slot.
    fn take(&mut self) -> Option<(u32, RxResponse, Option<RxBuf<T>>)> {
        let idx = self.ring.rsp_cons() & RX_MASK;
        let rsp = self.ring.take_response()?;
        let buf = self.bufs.get_mut(idx as usize).and_then(|b| b.take());
        Some((idx, rsp, buf))
    }

    /// Re-posts a buffer in the next request slot (`xennet_move_rx_slot`).
    fn recycle(&mut self, buf: RxBuf<T>) -> Result<(), QueueError> {
        let idx = self.ring.req_prod_pvt() & RX_MASK;
        let slot = self
            .bufs
            .get_mut(idx as usize)
            .ok_or(QueueError::SlotBusy { idx })?;
        if slot.is_some() {
            return Err(QueueError::SlotBusy { idx });
        }
        self.ring.next_request_slot(RxRequest {
            id: idx as u16,
            pad: 0,
            gref: buf.grant.gref(),
        })?;
        *slot = Some(buf);
        Ok(())
    }

    /// Checks a data response found in slot `idx`.
    fn check_data(idx: u32, rsp: &RxResponse) -> Result<(), QueueError> {
        let id = rsp.id;
        if u32::from(id) >= NET_RX_RING_SIZE {
            return Err(QueueError::IdOutOfRange { id });
        }
        if u32::from(id) != idx {
            return Err(QueueError::IdMismatch {
                id,
                expected: idx as u16,
            });
        }
        if rsp.flags & !NETRXF_KNOWN != 0 {
            return Err(QueueError::UnknownFlags {
                id,
                flags: rsp.flags,
            });
        }
        if rsp.flags & NETRXF_GSO_PREFIX != 0 {
            // Only for a frontend that asked for GSO prefixes; we never do.
            return Err(QueueError::GsoPrefix { id });
        }
        if rsp.status < 0 {
            return Err(QueueError::ErrorStatus {
                id,
                status: rsp.status,
            });
        }
        let len = rsp.status as u16;
        if usize::from(rsp.offset) + usize::from(len) > XEN_PAGE_SIZE {
            return Err(QueueError::BadOffset {
                id,
                offset: rsp.offset,
                len,
            });
        }
        Ok(())
    }

    /// Adds the data response `rsp`, consumed from slot `idx` where `buf`
    /// was posted, to `pkt`: checks it ([`RxQueue::check_data`]) and appends
    /// the buffer as a fragment, noting errors in `err`. A response
    /// without a posted buffer is noted as [`QueueError::IdNotPending`]; a
    /// buffer that does not fit in `pkt` is re-posted (that cannot happen
    /// for the first fragment; a longer chain than any valid packet is
    /// flagged by the caller). Only a failed re-post is returned as `Err`.
    fn add_frag(
        &mut self,
        pkt: &mut RxPacket<T>,
        idx: u32,
        rsp: &RxResponse,
        buf: Option<RxBuf<T>>,
        err: &mut PacketErrors,
    ) -> Result<(), QueueError> {
        if let Err(e) = Self::check_data(idx, rsp) {
            err.note(e);
        }
        match buf {
            Some(b) => {
                let frag = RxFrag {
                    token: b.token,
                    grant: b.grant,
                    offset: rsp.offset,
                    len: rsp.status.max(0) as u16,
                };
                if pkt.push(frag).is_err() {
                    // Never leak a buffer.
                    self.recycle(b)?;
                }
            }
            None => err.note(QueueError::IdNotPending { id: idx as u16 }),
        }
        Ok(())
    }

    /// Reads one packet starting at `rsp_cons`. The outer `Result` carries
    /// fatal errors (protocol violations), the inner one the backend's own
    /// per-packet error status; either way the packet's buffers have been
    /// recycled.
    #[allow(clippy::type_complexity)]
    fn read_packet(&mut self) -> Result<Result<RxPacket<T>, QueueError>, QueueError> {
        let Some((idx0, first, buf0)) = self.take() else {
            return Ok(Err(QueueError::Truncated { slots: 0 }));
        };
        let mut err = PacketErrors::default();
        let mut pkt = RxPacket::empty(first.flags);

        // Extra-info slots come right after the first response.
        if first.flags & NETRXF_EXTRA_INFO != 0 {
            let mut count: u32 = 0;
            loop {
                if self.ring.pending_responses() == 0 {
                    err.note(QueueError::Truncated { slots: 1 + count });
                    break;
                }
                let Some((_, rsp, buf)) = self.take() else {
                    break;
                };
                count += 1;
                if let Some(b) = buf {
                    self.recycle(b)?;
                }
                let extra = ExtraInfo::from_rx_response(&rsp);
                let t = extra.extra_type;
                if t == XEN_NETIF_EXTRA_TYPE_NONE || t >= XEN_NETIF_EXTRA_TYPE_MAX {
                    err.note(QueueError::BadExtraType { extra_type: t });
                } else if count as usize > MAX_RX_EXTRAS {
                    err.note(QueueError::TooManyExtras { count });
                } else if let Some(e) = pkt.extras.get_mut(usize::from(t) - 1) {
                    if e.is_some() {
                        err.note(QueueError::DuplicateExtra { extra_type: t });
                    } else {
                        *e = Some(extra);
                    }
                }
                if !extra.has_more() {
                    break;
                }
            }
            if let Some(g) = pkt.gso() {
                if g.size == 0
                    || (g.gso_type != XEN_NETIF_GSO_TYPE_TCPV4
                        && g.gso_type != XEN_NETIF_GSO_TYPE_TCPV6)
                {
                    err.note(QueueError::BadGso {
                        size: g.size,
                        gso_type: g.gso_type,
                    });
                }
            }
        }

        // First data fragment.
        self.add_frag(&mut pkt, idx0, &first, buf0, &mut err)?;

        // Following fragments.
        let mut slots: u32 = 1;
        let mut flags = first.flags;
        while flags & NETRXF_MORE_DATA != 0 {
            if self.ring.pending_responses() == 0 {
                err.note(QueueError::Truncated { slots });
                break;
            }
            let Some((idx, rsp, buf)) = self.take() else {
                break;
            };
            slots += 1;
            flags = rsp.flags;
            self.add_frag(&mut pkt, idx, &rsp, buf, &mut err)?;
        }
        let small_first = first.status >= 0 && (first.status as u32) <= RX_COPY_THRESHOLD;
        let max = XEN_NETIF_NR_SLOTS_MIN + u32::from(small_first);
        if slots > max {
            err.note(QueueError::ChainTooLong { slots, max });
        }
        if pkt.len > MAX_RX_PACKET {
            err.note(QueueError::PacketTooLong {
                len: pkt.len,
                max: MAX_RX_PACKET,
            });
        }

        if err.fatal.is_none() && err.drop.is_none() {
            return Ok(Ok(pkt));
        }
        for i in 0..pkt.nfrags {
            if let Some(Some(f)) = pkt.frags.get(i) {
                self.recycle(RxBuf {
                    token: f.token,
                    grant: f.grant,
                })?;
            }
        }
        match (err.fatal, err.drop) {
            (Some(e), _) => Err(e),
            (None, Some(e)) => Ok(Err(e)),
            (None, None) => Ok(Ok(pkt)),
        }
    }

    /// Consumes RX responses (`xennet_poll`), at most `budget` packets
    /// (delivered or dropped). Each valid packet is passed to `f` as
    /// [`RxEvent::Packet`]; the caller then owns the buffers and must end
    /// the backend's access to each grant and return it to the pool passed
    /// along. Packets the backend reports as failed are passed as
    /// [`RxEvent::Dropped`] after their buffers were re-posted.
    ///
    /// Any protocol violation (see the module's policy) is fatal: it marks
    /// the queue broken and is returned as `Err`.
    ///
    /// Call [`RxQueue::fill`] afterwards to replenish the ring, and
    /// [`RxQueue::final_check`] when less than `budget` work was done.
    pub(crate) fn poll<F>(&mut self, budget: usize, mut f: F) -> Result<RxPoll, QueueError>
    where
        F: FnMut(RxEvent<T>, &mut GrantPool<RX_RING_SIZE>),
    {
        if self.broken {
            return Err(QueueError::Broken);
        }
        if let Err(e) = self.ring.unconsumed_responses() {
            self.broken = true;
            return Err(e.into());
        }
        let mut stats = RxPoll::default();
        while stats.work() < budget && self.ring.pending_responses() > 0 {
            match self.read_packet() {
                Ok(Ok(pkt)) => {
                    stats.packets += 1;
                    f(RxEvent::Packet(pkt), &mut self.grants);
                }
                Ok(Err(e)) => {
                    stats.dropped += 1;
                    f(RxEvent::Dropped(e), &mut self.grants);
                }
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Ok(stats)
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES` on the RX ring: returns whether more
    /// responses arrived (the caller should poll again).
    pub(crate) fn final_check(&mut self) -> Result<bool, QueueError> {
        if self.broken {
            return Err(QueueError::Broken);
        }
        self.ring.final_check_for_responses().map_err(|e| {
            self.broken = true;
            e.into()
        })
    }

    /// Takes back every posted buffer (teardown, `xennet_release_rx_bufs`),
    /// calling `f(token, grant, pool)` for each. Returns how many. The ring
    /// must no longer be used by the backend.
    pub(crate) fn release_all<F>(&mut self, mut f: F) -> usize
    where
        F: FnMut(T, Grant, &mut GrantPool<RX_RING_SIZE>),
    {
        let mut n = 0;
        for b in self.bufs.iter_mut() {
            if let Some(buf) = b.take() {
                f(buf.token, buf.grant, &mut self.grants);
                n += 1;
            }
        }
        n
    }
}

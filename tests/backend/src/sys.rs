// SPDX-License-Identifier: GPL-2.0

//! The dom0 devices the backend uses, by their system calls: the grant
//! device (`/dev/xen/gntdev`: mapping the frontend's ring pages, copying
//! packet data to and from its grants), the event channel device
//! (`/dev/xen/evtchn`) and a TAP device (`/dev/net/tun`) that gives the
//! packets to dom0's network stack.

use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: c_long,
    ) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const MAP_FAILED: *mut c_void = !0usize as *mut c_void;
const O_NONBLOCK: i32 = 0o4000;

/// `_IOC(_IOC_NONE, ty, nr, size)`.
const fn ioc_none(ty: u8, nr: u8, size: usize) -> c_ulong {
    ((size as c_ulong) << 16) | ((ty as c_ulong) << 8) | nr as c_ulong
}

/// One `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

/// Waits until one of `fds` is readable or `timeout_ms` passed; returns
/// which were readable.
pub(crate) fn poll_readable<const N: usize>(fds: [RawFd; N], timeout_ms: i32) -> [bool; N] {
    const POLLIN: i16 = 1;
    let mut p = fds.map(|fd| PollFd {
        fd,
        events: POLLIN,
        revents: 0,
    });
    // SAFETY: `p` is an array of `N` initialised `pollfd`s that lives across
    // the call.
    let n = unsafe { poll(p.as_mut_ptr(), N as c_ulong, timeout_ms) };
    if n <= 0 {
        return [false; N];
    }
    p.map(|f| f.revents != 0)
}

fn check(rc: c_int, what: &str) -> io::Result<c_int> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(rc)
    }
}

// --- grant device -------------------------------------------------------------

#[repr(C)]
struct MapGrantRef {
    count: u32,
    pad: u32,
    index: u64,
    domid: u32,
    gref: u32,
}

#[repr(C)]
struct UnmapGrantRef {
    index: u64,
    count: u32,
    pad: u32,
}

/// `struct gntdev_grant_copy_segment`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct CopySegment {
    source: [u64; 1],
    dest: [u64; 1],
    len: u16,
    flags: u16,
    status: i16,
    _pad: u16,
}

#[repr(C)]
struct GrantCopy {
    count: u32,
    segments: *mut CopySegment,
}

const IOCTL_GNTDEV_MAP_GRANT_REF: c_ulong = ioc_none(b'G', 0, size_of::<MapGrantRef>());
const IOCTL_GNTDEV_UNMAP_GRANT_REF: c_ulong = ioc_none(b'G', 1, size_of::<UnmapGrantRef>());
const IOCTL_GNTDEV_GRANT_COPY: c_ulong = ioc_none(b'G', 8, size_of::<GrantCopy>());
const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
const GNTCOPY_DEST_GREF: u16 = 1 << 1;

const _: () = assert!(size_of::<MapGrantRef>() == 24);
const _: () = assert!(size_of::<CopySegment>() == 24);
const _: () = assert!(size_of::<GrantCopy>() == 16);

fn foreign(gref: u32, offset: u16, domid: u16) -> [u64; 1] {
    [gref as u64 | ((offset as u64) << 32) | ((domid as u64) << 48)]
}

impl CopySegment {
    /// Copies `len` bytes from the frontend's grant to `dst`.
    pub(crate) fn from_grant(domid: u16, gref: u32, offset: u16, dst: &mut [u8]) -> Self {
        CopySegment {
            source: foreign(gref, offset, domid),
            dest: [dst.as_mut_ptr() as u64],
            len: dst.len() as u16,
            flags: GNTCOPY_SOURCE_GREF,
            status: 0,
            _pad: 0,
        }
    }

    /// Copies `src` into the frontend's grant.
    pub(crate) fn to_grant(domid: u16, gref: u32, offset: u16, src: &[u8]) -> Self {
        CopySegment {
            source: [src.as_ptr() as u64],
            dest: foreign(gref, offset, domid),
            len: src.len() as u16,
            flags: GNTCOPY_DEST_GREF,
            status: 0,
            _pad: 0,
        }
    }

    /// The hypervisor's status of this segment (`GNTST_*`, 0: okay).
    pub(crate) fn status(&self) -> i16 {
        self.status
    }
}

/// A page of the frontend mapped into this process.
pub(crate) struct MappedPage {
    addr: NonNull<u8>,
    index: u64,
}

impl MappedPage {
    /// The page's address here.
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.addr
    }
}

/// `/dev/xen/gntdev`.
pub(crate) struct Gntdev {
    file: File,
}

impl Gntdev {
    pub(crate) fn open() -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/gntdev")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/xen/gntdev: {e}")))?;
        Ok(Gntdev { file })
    }

    /// Maps the frontend's grant `gref` (a shared ring page).
    pub(crate) fn map(&self, domid: u16, gref: u32) -> io::Result<MappedPage> {
        let mut m = MapGrantRef {
            count: 1,
            pad: 0,
            index: 0,
            domid: domid as u32,
            gref,
        };
        // SAFETY: the request's size is encoded in the number and `m` is a
        // live `struct ioctl_gntdev_map_grant_ref` with one reference.
        let rc = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_GNTDEV_MAP_GRANT_REF, &mut m) };
        check(rc, "IOCTL_GNTDEV_MAP_GRANT_REF")?;
        // SAFETY: maps the page the ioctl prepared at `index` (one page); no
        // Rust reference to the mapping is ever created (rings use volatile
        // accesses through the pointer).
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                4096,
                PROT_READ | PROT_WRITE,
                MAP_SHARED,
                self.file.as_raw_fd(),
                m.index as c_long,
            )
        };
        if p == MAP_FAILED {
            let e = io::Error::last_os_error();
            self.unmap_index(m.index);
            return Err(io::Error::new(
                e.kind(),
                format!("mmap of grant {gref}: {e}"),
            ));
        }
        Ok(MappedPage {
            addr: NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?,
            index: m.index,
        })
    }

    fn unmap_index(&self, index: u64) {
        let mut u = UnmapGrantRef {
            index,
            count: 1,
            pad: 0,
        };
        // SAFETY: `u` is a live `struct ioctl_gntdev_unmap_grant_ref`.
        let _ = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_GNTDEV_UNMAP_GRANT_REF, &mut u) };
    }

    /// Unmaps a page mapped by [`Gntdev::map`]: the frontend may end its
    /// access afterwards.
    pub(crate) fn unmap(&self, page: MappedPage) {
        // SAFETY: the mapping was made by `map` and is not used after this
        // (`page` is consumed; the rings built on it are gone).
        unsafe { munmap(page.addr.as_ptr().cast(), 4096) };
        self.unmap_index(page.index);
    }

    /// Performs the grant copies; each segment's status tells its result.
    pub(crate) fn copy(&self, segs: &mut [CopySegment]) -> io::Result<()> {
        if segs.is_empty() {
            return Ok(());
        }
        let mut c = GrantCopy {
            count: segs.len() as u32,
            segments: segs.as_mut_ptr(),
        };
        // SAFETY: `c` points to `count` live segments whose local buffers
        // outlive the call (the callers' slices).
        let rc = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_GNTDEV_GRANT_COPY, &mut c) };
        check(rc, "IOCTL_GNTDEV_GRANT_COPY")?;
        Ok(())
    }
}

// --- event channels -------------------------------------------------------------

const IOCTL_EVTCHN_BIND_INTERDOMAIN: c_ulong = ioc_none(b'E', 1, 8);
const IOCTL_EVTCHN_UNBIND: c_ulong = ioc_none(b'E', 3, 4);
const IOCTL_EVTCHN_NOTIFY: c_ulong = ioc_none(b'E', 4, 4);

/// `/dev/xen/evtchn` with one interdomain channel bound.
pub(crate) struct Evtchn {
    file: File,
    port: u32,
}

impl Evtchn {
    /// Binds to the frontend's unbound port `remote_port` of `domid`.
    pub(crate) fn bind(domid: u16, remote_port: u32) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags_nonblock()
            .open("/dev/xen/evtchn")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/xen/evtchn: {e}")))?;
        let mut b = [domid as u32, remote_port];
        // SAFETY: `b` is a live `struct ioctl_evtchn_bind_interdomain`.
        let rc = unsafe {
            ioctl(
                file.as_raw_fd(),
                IOCTL_EVTCHN_BIND_INTERDOMAIN,
                b.as_mut_ptr(),
            )
        };
        let port = check(rc, "IOCTL_EVTCHN_BIND_INTERDOMAIN")? as u32;
        // Drain anything pending and unmask.
        let mut buf = [0u8; 64];
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        file.write_all(&port.to_ne_bytes())?;
        Ok(Evtchn { file, port })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Notifies the frontend.
    pub(crate) fn notify(&self) {
        let mut p = self.port;
        // SAFETY: `p` is a live `struct ioctl_evtchn_notify`.
        let _ = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_EVTCHN_NOTIFY, &mut p) };
    }

    /// Consumes pending events (and unmasks the port); returns whether
    /// there were any.
    pub(crate) fn take_events(&mut self) -> bool {
        let mut buf = [0u8; 64];
        let mut any = false;
        while let Ok(n) = self.file.read(&mut buf) {
            if n == 0 {
                break;
            }
            any = true;
        }
        if any {
            let _ = self.file.write_all(&self.port.to_ne_bytes());
        }
        any
    }
}

impl Drop for Evtchn {
    fn drop(&mut self) {
        let mut p = self.port;
        // SAFETY: `p` is a live `struct ioctl_evtchn_unbind`.
        let _ = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_EVTCHN_UNBIND, &mut p) };
    }
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(O_NONBLOCK)
    }
}

// --- TAP ------------------------------------------------------------------------

const TUNSETIFF: c_ulong = 0x4004_54ca;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;

/// A TAP interface of dom0: frames written to it enter dom0's stack as if
/// received; frames dom0 sends through it are read here.
pub(crate) struct Tap {
    file: File,
}

impl Tap {
    pub(crate) fn open(name: &str) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags_nonblock()
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        let mut ifr = [0u8; 40];
        let n = name.len().min(15);
        ifr[..n].copy_from_slice(&name.as_bytes()[..n]);
        ifr[16..18].copy_from_slice(&(IFF_TAP | IFF_NO_PI).to_ne_bytes());
        // SAFETY: `ifr` is a live, zero-padded `struct ifreq` of 40 bytes.
        let rc = unsafe { ioctl(file.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) };
        check(rc, "TUNSETIFF")?;
        Ok(Tap { file })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads one frame, if one is waiting.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        match self.file.read(buf) {
            Ok(n) if n > 0 => Some(n),
            _ => None,
        }
    }

    /// Hands one frame to dom0's stack.
    pub(crate) fn send(&mut self, frame: &[u8]) {
        let _ = self.file.write(frame);
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A XenStore client over xenstored's socket (`io/xs_wire.h`): read, write,
//! remove, directory, permissions. No watches: the backend polls the few
//! nodes it follows.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

const XS_READ: u32 = 2;
const XS_WRITE: u32 = 11;
const XS_RM: u32 = 13;
const XS_SET_PERMS: u32 = 14;
const XS_ERROR: u32 = 16;

/// A connection to xenstored.
pub(crate) struct Xs {
    sock: UnixStream,
    req_id: u32,
}

impl Xs {
    pub(crate) fn open() -> io::Result<Self> {
        let mut last = None;
        for p in ["/run/xenstored/socket", "/var/run/xenstored/socket"] {
            match UnixStream::connect(p) {
                Ok(sock) => return Ok(Xs { sock, req_id: 0 }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no xenstored socket")))
    }

    fn request(&mut self, ty: u32, payload: &[u8]) -> io::Result<Vec<u8>> {
        self.req_id = self.req_id.wrapping_add(1);
        let mut msg = Vec::with_capacity(16 + payload.len());
        for v in [ty, self.req_id, 0, payload.len() as u32] {
            msg.extend_from_slice(&v.to_le_bytes());
        }
        msg.extend_from_slice(payload);
        self.sock.write_all(&msg)?;
        loop {
            let mut hdr = [0u8; 16];
            self.sock.read_exact(&mut hdr)?;
            let word = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
            let (rty, rid, len) = (word(0), word(4), word(12) as usize);
            let mut body = vec![0u8; len];
            self.sock.read_exact(&mut body)?;
            if rid != self.req_id {
                continue;
            }
            if rty == XS_ERROR {
                let e = String::from_utf8_lossy(&body)
                    .trim_end_matches('\0')
                    .to_string();
                let kind = if e == "ENOENT" {
                    io::ErrorKind::NotFound
                } else {
                    io::ErrorKind::Other
                };
                return Err(io::Error::new(kind, format!("xenstore: {e}")));
            }
            return Ok(body);
        }
    }

    fn path(p: &str) -> Vec<u8> {
        let mut v = p.as_bytes().to_vec();
        v.push(0);
        v
    }

    /// The node's value; `None` if it does not exist.
    pub(crate) fn read(&mut self, path: &str) -> io::Result<Option<String>> {
        match self.request(XS_READ, &Self::path(path)) {
            Ok(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The node's value as a number; `None` if absent or not a number.
    pub(crate) fn read_u32(&mut self, path: &str) -> io::Result<Option<u32>> {
        Ok(self.read(path)?.and_then(|v| v.trim().parse().ok()))
    }

    pub(crate) fn write(&mut self, path: &str, value: &str) -> io::Result<()> {
        let mut p = Self::path(path);
        p.extend_from_slice(value.as_bytes());
        self.request(XS_WRITE, &p).map(|_| ())
    }

    pub(crate) fn rm(&mut self, path: &str) -> io::Result<()> {
        match self.request(XS_RM, &Self::path(path)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Sets permissions, e.g. `["n0", "r5"]`: owner dom0, domain 5 may read.
    pub(crate) fn set_perms(&mut self, path: &str, perms: &[&str]) -> io::Result<()> {
        let mut p = Self::path(path);
        for q in perms {
            p.extend_from_slice(q.as_bytes());
            p.push(0);
        }
        self.request(XS_SET_PERMS, &p).map(|_| ())
    }
}

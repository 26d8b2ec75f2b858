// SPDX-License-Identifier: GPL-2.0

//! Completes the TCP/UDP checksum of a frame the frontend sent with
//! `NETTXF_csum_blank` (it left the checksum to the backend, as it may when
//! the backend does not say `feature-no-csum-offload`), so that dom0's stack,
//! behind the TAP device, accepts it.

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Fills in the L4 checksum of an Ethernet frame carrying TCP or UDP over
/// IPv4 or IPv6 (no IPv6 extension headers). Returns whether it did.
pub(crate) fn complete(frame: &mut [u8]) -> bool {
    if frame.len() < 14 {
        return false;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let (l4, proto, pseudo) = match ethertype {
        0x0800 => {
            let ip = &frame[14..];
            if ip.len() < 20 || ip[0] >> 4 != 4 {
                return false;
            }
            let ihl = (ip[0] & 0xf) as usize * 4;
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            if ihl < 20 || total < ihl || total > ip.len() {
                return false;
            }
            let proto = ip[9];
            let len = (total - ihl) as u32;
            let acc = sum16(&ip[12..20], 0) + proto as u32 + len;
            (14 + ihl..14 + total, proto, acc)
        }
        0x86dd => {
            let ip = &frame[14..];
            if ip.len() < 40 {
                return false;
            }
            let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            if 40 + plen > ip.len() {
                return false;
            }
            let proto = ip[6];
            let acc = sum16(&ip[8..40], 0) + proto as u32 + plen as u32;
            (54..54 + plen, proto, acc)
        }
        _ => return false,
    };
    let off = match proto {
        6 => 16,
        17 => 6,
        _ => return false,
    };
    if l4.len() < off + 2 {
        return false;
    }
    let seg = &mut frame[l4];
    seg[off] = 0;
    seg[off + 1] = 0;
    let mut c = fold(sum16(seg, pseudo));
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one's complement sum over the pseudo-header and the segment of a
    /// correctly checksummed IPv4 datagram is 0xffff (RFC 1071).
    fn verifies_v4(frame: &[u8]) -> bool {
        let ip = &frame[14..34];
        let seg = &frame[34..];
        let mut acc = sum16(&ip[12..20], 0) + ip[9] as u32 + seg.len() as u32;
        acc = sum16(seg, acc);
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc == 0xffff
    }

    fn v4_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            proto,
            0,
            0,
        ]);
        f.extend_from_slice(&[10, 0, 2, 2, 10, 0, 2, 1]);
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn udp_and_tcp_over_ipv4() {
        let mut udp = vec![0x04, 0xd2, 0x16, 0x2e, 0, 13, 0xaa, 0xbb];
        udp.extend_from_slice(b"hello");
        let mut f = v4_frame(17, &udp);
        assert!(complete(&mut f));
        assert!(verifies_v4(&f));
        let mut tcp = vec![0u8; 20];
        tcp[12] = 0x50;
        tcp.extend_from_slice(b"odd length payload!");
        let mut f = v4_frame(6, &tcp);
        assert!(complete(&mut f));
        assert!(verifies_v4(&f));
    }

    #[test]
    fn refuses_what_it_cannot_parse() {
        assert!(!complete(&mut [0u8; 10]));
        let mut icmp = v4_frame(1, &[8, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!complete(&mut icmp));
        let mut short = v4_frame(17, &[0, 1, 2]);
        assert!(!complete(&mut short));
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `xpn-backend`: a userspace Xen netif backend for the lab's dom0.
//!
//! It serves one vif of an HVM domU that the kernel's xen-netback does not
//! own (see `vif.rs`): it creates the device in XenStore, follows the
//! XenBus handshake, maps the frontend's TX and RX rings through
//! `/dev/xen/gntdev`, answers through an event channel, and moves the
//! packets to and from a TAP device in dom0. The rings and the wire format
//! are the driver's own kernel-independent modules (`rust/netif.rs`,
//! `rust/ring.rs`, `rust/back_ring.rs`), compiled here for userspace.
//!
//! In `honest` mode it follows the protocol. In a hostile mode it follows
//! it too until armed (the guest pings the backend's address with 1234
//! bytes of payload), then misbehaves in one way, so the test sees the
//! frontend work first and then face the attack.
//!
//! Usage: xpn-backend --domid D --devid N --mac MAC --tap NAME
//!                    [--mode MODE] [--stop FILE]
//!        xpn-backend --list-modes

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../rust/netif.rs"]
mod netif;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../rust/ring.rs"]
mod ring;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../rust/back_ring.rs"]
mod back_ring;

mod csum;
mod sys;
mod vif;
mod xs;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: xpn-backend --domid D --devid N --mac MAC --tap NAME [--mode MODE] [--stop FILE]\n       xpn-backend --list-modes"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list-modes") {
        for &(name, m) in vif::MODES {
            println!("{name}\t{}", m.describe());
        }
        return ExitCode::SUCCESS;
    }
    let mut domid = None;
    let mut devid = None;
    let mut mac = None;
    let mut tap = None;
    let mut mode = vif::Mode::Honest;
    let mut stop = String::from("/run/xpn-backend.stop");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(v) = it.next() else {
            return usage();
        };
        match a.as_str() {
            "--domid" => domid = v.parse().ok(),
            "--devid" => devid = v.parse().ok(),
            "--mac" => mac = Some(v.clone()),
            "--tap" => tap = Some(v.clone()),
            "--mode" => match vif::Mode::parse(v) {
                Some(m) => mode = m,
                None => {
                    eprintln!("xpn-backend: unknown mode {v} (--list-modes)");
                    return ExitCode::from(2);
                }
            },
            "--stop" => stop = v.clone(),
            _ => return usage(),
        }
    }
    let (Some(domid), Some(devid), Some(mac), Some(tap)) = (domid, devid, mac, tap) else {
        return usage();
    };
    let cfg = vif::Config {
        domid,
        devid,
        mac,
        tap,
        mode,
        stop_file: stop,
    };
    let mut v = match vif::Vif::new(cfg) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("xpn-backend: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = v.create() {
        eprintln!("xpn-backend: creating the vif: {e}");
        v.destroy();
        return ExitCode::FAILURE;
    }
    let rc = match v.serve() {
        Ok(end) => {
            println!("xpn-backend: serving ended: {end}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xpn-backend: {e}");
            ExitCode::FAILURE
        }
    };
    v.destroy();
    rc
}

// SPDX-License-Identifier: GPL-2.0

//! xen_pv_net: a Xen paravirtual network frontend for HVM and PVH guests.
//!
//! The device logic (rings, ids, validation, negotiation decisions) lives in
//! kernel-independent modules that the host test crate also compiles and
//! tests; the other modules are the kernel glue, one per path of the driver
//! (see Documentation/xen_pv_net.rst, "Structure").

use kernel::prelude::*;

// Kernel-independent modules, shared with the host test crate (tests/host).
mod detect;
mod grant;
mod negotiate;
mod netif;
mod queue;
mod ring;
mod rx_queue;
mod stats;
mod tx_queue;

// Kernel glue.
mod ethtool;
mod gnttab;
mod held;
mod netdev;
mod netqueue;
mod rx;
mod sys;
mod tx;
mod xenbus;

module! {
    type: XenPvNet,
    name: "xen_pv_net",
    authors: ["The xen_pv_net developers"],
    description: "Xen paravirtual network frontend in Rust",
    license: "GPL",
    // udev and modprobe find the module for a vif (uevent MODALIAS=xen:vif).
    alias: ["xen:vif"],
    params: {
        max_queues: u32 {
            default: 0,
            description: "Most queues per vif (0: one per online CPU; at most 8)",
        },
        trusted: u32 {
            default: 0,
            description: "1: grant the backend the pages of transmitted packets themselves, unless the device's XenStore node trusted is 0; 0 (default): copy every transmitted packet into pages that hold nothing else",
        },
    },
}

/// The `trusted` module parameter.
fn trusted_param() -> bool {
    module_parameters::trusted.value() != 0
}

/// The `max_queues` module parameter.
fn max_queues_param() -> u32 {
    module_parameters::max_queues.value()
}

struct XenPvNet {
    /// Unregistered (every device removed) when the module unloads.
    driver: Option<xenbus::Registration>,
}

impl Drop for XenPvNet {
    fn drop(&mut self) {
        drop(self.driver.take());
        held::check_at_unload();
    }
}

impl kernel::Module for XenPvNet {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if let Err(m) = sys::check_layout() {
            match m.c {
                Some(c) => pr_err!(
                    "refusing to load: layout of {} differs between Rust ({}) and C ({})\n",
                    m.name,
                    m.rust,
                    c
                ),
                None => pr_err!("refusing to load: C layout table lacks {}\n", m.name),
            }
            return Err(EINVAL);
        }
        let base = detect::xen_cpuid_base(cpuid);
        // SAFETY: `xpn_xen_domain_type` only reads a kernel variable.
        let domain = detect::DomainType::from_raw(unsafe { sys::xpn_xen_domain_type() });
        if let Err(why) = detect::decide(base, domain) {
            pr_err!("{}\n", why.message());
            return Err(ENODEV);
        }
        let driver = xenbus::Registration::new()?;
        pr_info!("Xen PV network frontend registered for xenbus device type vif\n");
        Ok(XenPvNet {
            driver: Some(driver),
        })
    }
}

fn cpuid(leaf: u32) -> [u32; 4] {
    // SAFETY: CPUID is available on every x86_64 CPU and has no side effects.
    let r = unsafe { core::arch::x86_64::__cpuid(leaf) };
    [r.eax, r.ebx, r.ecx, r.edx]
}

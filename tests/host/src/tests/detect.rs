// SPDX-License-Identifier: GPL-2.0

//! Xen detection: CPUID signature scan and the load decision.

use crate::detect::{decide, xen_cpuid_base, DomainType, NotHere};

/// A fake CPU whose hypervisor leaves hold `sig` at `base` (max leaf `max`).
fn cpu(base: u32, sig: &[u8; 12], max: u32) -> impl Fn(u32) -> [u32; 4] {
    let w = |i: usize| u32::from_le_bytes([sig[i], sig[i + 1], sig[i + 2], sig[i + 3]]);
    let (b, c, d) = (w(0), w(4), w(8));
    move |leaf| {
        if leaf == base {
            [max, b, c, d]
        } else {
            [0; 4]
        }
    }
}

#[test]
fn finds_xen_at_first_leaf() {
    assert_eq!(
        xen_cpuid_base(cpu(0x4000_0000, b"XenVMMXenVMM", 0x4000_0005)),
        Some(0x4000_0000)
    );
}

#[test]
fn finds_xen_behind_viridian() {
    // Xen with Viridian enabled moves its leaves to 0x40000100.
    assert_eq!(
        xen_cpuid_base(cpu(0x4000_0100, b"XenVMMXenVMM", 0x4000_0105)),
        Some(0x4000_0100)
    );
}

#[test]
fn rejects_other_hypervisors_and_bare_metal() {
    assert_eq!(
        xen_cpuid_base(cpu(0x4000_0000, b"KVMKVMKVM\0\0\0", 0x4000_0001)),
        None
    );
    assert_eq!(
        xen_cpuid_base(cpu(0x4000_0000, b"TCGTCGTCGTCG", 0x4000_0001)),
        None
    );
    assert_eq!(xen_cpuid_base(|_| [0; 4]), None);
}

#[test]
fn rejects_xen_signature_with_too_few_leaves() {
    assert_eq!(
        xen_cpuid_base(cpu(0x4000_0000, b"XenVMMXenVMM", 0x4000_0001)),
        None
    );
}

#[test]
fn decision() {
    let xen = Some(0x4000_0000);
    assert_eq!(decide(xen, DomainType::Hvm), Ok(()));
    assert_eq!(decide(None, DomainType::Native), Err(NotHere::NoXenCpuid));
    assert_eq!(decide(None, DomainType::Hvm), Err(NotHere::NoXenCpuid));
    assert_eq!(
        decide(xen, DomainType::Native),
        Err(NotHere::KernelNotXenGuest)
    );
    assert_eq!(decide(xen, DomainType::Pv), Err(NotHere::PvGuest));
    assert_eq!(
        decide(xen, DomainType::from_raw(7)),
        Err(NotHere::UnknownDomainType(7))
    );
    assert_eq!(DomainType::from_raw(2), DomainType::Hvm);
    assert!(NotHere::NoXenCpuid.message().contains("not running on Xen"));
}

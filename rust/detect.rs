// SPDX-License-Identifier: GPL-2.0

//! Detecting Xen from inside the guest: the hypervisor CPUID leaves and the
//! kernel's own view of the domain type. Kernel-independent.

/// The CPUID leaves hypervisors use, scanned like Linux's `xen_cpuid_base()`.
pub(crate) const CPUID_HV_FIRST: u32 = 0x4000_0000;
/// One past the last leaf scanned.
pub(crate) const CPUID_HV_END: u32 = 0x4001_0000;
/// Step between candidate leaves.
pub(crate) const CPUID_HV_STEP: u32 = 0x100;

/// "XenVMMXenVMM" as it appears in EBX, ECX, EDX.
const XEN_SIGNATURE: [u32; 3] = [0x566e_6558, 0x65584d4d, 0x4d4d566e];

/// The kernel's `enum xen_domain_type`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DomainType {
    /// Not a Xen guest, as far as the kernel knows.
    Native,
    /// A PV guest.
    Pv,
    /// An HVM or PVH guest.
    Hvm,
    /// A value this driver does not know.
    Unknown(i32),
}

impl DomainType {
    /// Converts the C enum's value.
    pub(crate) fn from_raw(v: i32) -> Self {
        match v {
            0 => Self::Native,
            1 => Self::Pv,
            2 => Self::Hvm,
            v => Self::Unknown(v),
        }
    }
}

/// Why this driver does not run here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum NotHere {
    /// No Xen hypervisor CPUID leaves.
    NoXenCpuid,
    /// Xen is there but the kernel did not set itself up as a Xen guest.
    KernelNotXenGuest,
    /// A PV guest: the in-tree xen-netfront is the driver for that.
    PvGuest,
    /// The kernel reports a domain type we do not know.
    UnknownDomainType(i32),
}

impl NotHere {
    /// One line saying why.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            Self::NoXenCpuid => "not running on Xen (no Xen hypervisor CPUID leaves)",
            Self::KernelNotXenGuest => {
                "Xen hypervisor found but the kernel is not running as a Xen guest (xen_nopv?)"
            }
            Self::PvGuest => "Xen PV guests are not supported, only HVM and PVH guests",
            Self::UnknownDomainType(_) => "unknown Xen domain type reported by the kernel",
        }
    }
}

/// Finds the Xen CPUID base leaf, given a way to execute CPUID.
pub(crate) fn xen_cpuid_base(cpuid: impl Fn(u32) -> [u32; 4]) -> Option<u32> {
    let mut leaf = CPUID_HV_FIRST;
    while leaf < CPUID_HV_END {
        let [eax, ebx, ecx, edx] = cpuid(leaf);
        if [ebx, ecx, edx] == XEN_SIGNATURE && eax.wrapping_sub(leaf) >= 2 {
            return Some(leaf);
        }
        leaf += CPUID_HV_STEP;
    }
    None
}

/// Decides whether the driver runs: Xen must be visible through CPUID and
/// the kernel must be an HVM or PVH Xen guest.
pub(crate) fn decide(cpuid_base: Option<u32>, domain: DomainType) -> Result<(), NotHere> {
    if cpuid_base.is_none() {
        return Err(NotHere::NoXenCpuid);
    }
    match domain {
        DomainType::Hvm => Ok(()),
        DomainType::Native => Err(NotHere::KernelNotXenGuest),
        DomainType::Pv => Err(NotHere::PvGuest),
        DomainType::Unknown(v) => Err(NotHere::UnknownDomainType(v)),
    }
}

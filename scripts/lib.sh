# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the xen_pv_net scripts. Source it; do not run it.
#
# Everything the scripts build is cached under $XPN_CACHE. Each cached step
# writes a stamp holding a digest of its inputs; a step whose stamp matches
# is a no-op, so a second run of any script does nothing it already did.

set -euo pipefail

XPN_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
XPN_CACHE=${XPN_CACHE:-/var/cache/xen_pv_net}
XPN_MIRROR=${XPN_MIRROR:-http://deb.debian.org/debian}
# The toolchain and lab root: Debian trixie, isolated from the host's libc.
XPN_ROOT=$XPN_CACHE/trixie
# Where the project source is visible inside the root while a command runs.
XPN_SRC_IN_ROOT=/xpn/src

# The target kernel lives in one place: scripts/kernel.env. It names the
# Debian suite serving the kernel and the flavour; the version is resolved
# from the archive at run time (never hard-coded).
# shellcheck source=kernel.env
. "$XPN_TOP/scripts/kernel.env"

xpn_log() { printf '[xpn %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
xpn_die() { printf '[xpn] error: %s\n' "$*" >&2; exit 1; }

xpn_need_root() {
	[ "$(id -u)" = 0 ] || xpn_die "this step needs root (debootstrap, chroot)"
}

# xpn_stamp_ok NAME DIGEST: true if step NAME already ran with inputs DIGEST.
xpn_stamp_ok() {
	[ -f "$XPN_CACHE/stamps/$1" ] && [ "$(cat "$XPN_CACHE/stamps/$1")" = "$2" ]
}
xpn_stamp_set() {
	mkdir -p "$XPN_CACHE/stamps"
	printf '%s\n' "$2" >"$XPN_CACHE/stamps/$1"
}
xpn_digest() { cat "$@" | sha256sum | cut -c1-16; }

# xpn_chroot CMD...: run CMD inside the trixie root, with /proc, /sys, /dev
# and the project source ($XPN_TOP at $XPN_SRC_IN_ROOT) mounted in a private
# mount namespace, so nothing stays mounted when the command ends.
xpn_chroot() {
	[ -x "$XPN_ROOT/bin/sh" ] || xpn_die "toolchain root missing: run scripts/toolchain.sh"
	mkdir -p "$XPN_ROOT$XPN_SRC_IN_ROOT"
	unshare --mount --propagation private -- /bin/sh -c '
		set -e
		r=$1; src=$2; top=$3; shift 3
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		mount --bind "$top" "$r$src"
		cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
		exec chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive "$@"
	' xpn-chroot "$XPN_ROOT" "$XPN_SRC_IN_ROOT" "$XPN_TOP" "$@"
}

# The kernel release Debian's archive currently serves for $XPN_KSUITE,
# e.g. 7.3.4+deb13-amd64: read from the linux-headers-$flavour metapackage.
xpn_kernel_release() {
	local dep
	dep=$(xpn_chroot apt-cache -q show -o APT::Default-Release="$XPN_KSUITE" \
		"linux-headers-$XPN_KFLAVOUR" 2>/dev/null |
		awk -v s="$XPN_KSUITE" '/^Version:/{v=$2} /^Depends:/{d=$0} /^$/{if(v!="")print v" "d; v=""}' |
		sort -V -k1,1 | tail -n1 |
		grep -o "linux-headers-[^ ,]*-$XPN_KFLAVOUR" | head -n1)
	[ -n "$dep" ] || xpn_die "cannot resolve linux-headers-$XPN_KFLAVOUR in $XPN_KSUITE"
	echo "${dep#linux-headers-}"
}

# xpn_host_crates: fetches the host crate's dev-dependencies (pinned in
# tests/host/Cargo.lock) from crates.io into the toolchain root's cargo home,
# once; builds then run with --offline. The host's CA bundle is handed to
# cargo: the toolchain root has only Debian's, and this network's TLS proxy
# signs with a CA that only the host's bundle has.
xpn_host_crates() {
	local ca=/etc/ssl/certs/ca-certificates.crt cainfo=
	if xpn_chroot env CARGO_HOME=/var/tmp/xpn-cargo \
		cargo fetch --offline --locked --manifest-path "$XPN_SRC_IN_ROOT/tests/host/Cargo.toml" >/dev/null 2>&1; then
		return 0
	fi
	if [ -f "$ca" ]; then
		cp "$ca" "$XPN_ROOT/var/tmp/xpn-host-ca.crt"
		cainfo=/var/tmp/xpn-host-ca.crt
	fi
	xpn_chroot env CARGO_HOME=/var/tmp/xpn-cargo ${cainfo:+CARGO_HTTP_CAINFO=$cainfo} \
		cargo fetch --locked --manifest-path "$XPN_SRC_IN_ROOT/tests/host/Cargo.toml" ||
		xpn_die "cannot fetch the host tests' crates from crates.io"
}

# xpn_domu_death LOG: true (printing which) if the lab boot in serial LOG
# ended with the domU dying in one of the two ways nested TCG has killed it
# with the in-tree driver alone (results/lab-stability.md), the guest kernel
# reporting nothing before: a silent triple fault; or its interrupt entry
# reading a garbage `current` from the per-CPU area (a pattern such as
# 0xcccc..., or 0xaaaa... with page poisoning) and recursing into "BUG:
# ENTRY_TRAMPOLINE stack guard page was hit" in error_entry or
# irqentry_enter. Only reports use this; the suite retries only what
# xpn_emulator_death recognises.
# xpn_emulator_death LOG: true (printing which) if the lab boot in serial LOG
# ended with a triple fault of the domU whose saved vCPU state, as Xen
# dumps it, is Xen's own: code segment e008 (Xen's hypervisor code
# selector, which no HVM guest can load) and a RIP in Xen's text, the page
# fault at that RIP itself (CR2 = RIP). Nested TCG's world switch handed the
# guest the host's state; the guest kernel reported nothing before. Seen
# with xen-netfront and with our driver alike, under sustained traffic
# (results/lab-load-deaths.md): a boot that ends so is the emulation's, and
# the suite boots again (scripts/test.sh).
#
# Or a triple fault in the guest kernel (cs 0010) delivering a double fault
# whose IDT gate the CPU could not read (CR2 = that gate in the IDT's fixed
# alias, fffffe0000000080), when dom0 then read that gate and the page
# fault's (vectors 8 and 14) intact through the guest's own page tables
# from its saved CR3 (dom0-init's death_dump): the tables the CPU walks
# map a valid IDT, so the failed walk was the emulation's, not the work of
# memory the guest overwrote. Seen with xen-netfront too under traffic
# (results/lab-load-deaths.md), and in lifecycle boots of ours with the
# guest kernel checking freed memory and reporting nothing
# (tests/lab/fixtures/death-idt-df-intact.log, 2026-12-03). A guest whose
# tables lost the mapping, or whose gates are garbage, is not the lab's.
xpn_emulator_death() {
	if grep -a -v 'module verification failed' "$1" |
		grep -aqE '\[domU\].*(WARNING:|BUG:|Oops|general protection|Kernel panic|xen_pv_net.*([Bb]roken|[Ee]rror|[Ff]ailed))'; then
		return 1
	fi
	xpn_emulator_state "$1"
}
# xpn_emulator_state LOG: the same test of the dumped state alone, for boots
# whose guest reports errors by design (the hostile-backend scenario, in
# which the driver disables vifs): a guest WARNING is judged by that
# scenario itself.
xpn_emulator_state() {
	local state rip
	grep -aEq '\(XEN\) d[1-9][0-9]*v[0-9]+ Triple fault' "$1" || return 1
	state=$(grep -a -A16 'Dumping Dom[1-9][0-9]* vcpu' "$1" || true)
	if echo "$state" | grep -aqE '\(XEN\) ds: .* cs: 0010' &&
		echo "$state" | grep -aq 'cr2: fffffe0000000080'; then
		xpn_idt_gate_ok "$1" fffffe0000000080 && xpn_idt_gate_ok "$1" fffffe00000000e0 || return 1
		echo "triple fault delivering #DF in the guest kernel (rip $(echo "$state" | grep -a -m1 -o 'RIP: *0010:\[<[0-9a-f]*>\]' | grep -o '[0-9a-f]\{16\}')), its IDT gates intact in its own page tables"
		return 0
	fi
	echo "$state" | grep -aqE '\(XEN\) ds: .* cs: e008' || return 1
	rip=$(echo "$state" | grep -a -m1 -o 'RIP: *e008:\[<[0-9a-f]*>\]' | grep -o 'ffff82d0[0-9a-f]*' || true)
	[ -n "$rip" ] || return 1
	echo "$state" | grep -aq "cr2: $rip" || return 1
	echo "triple fault with Xen's own state in the domU (cs e008, rip $rip)"
}

# xpn_idt_gate_ok LOG ADDR: dom0's death dump in LOG read a present 64-bit
# interrupt gate of the kernel (type 8e, an IST index 0-7, selector 0010,
# the handler's upper half ffffffff) at ADDR through the guest's tables.
xpn_idt_gate_ok() {
	grep -a "\[death\] IDT (guest tables): *$2: " "$1" | head -n1 |
		grep -aqE ": *$2: [0-9a-f]{4}8e0[0-7]0010[0-9a-f]{4} 00000000ffffffff *\$"
}

xpn_domu_death() {
	local first
	first=$(grep -a -v 'module verification failed' "$1" | grep -a -m1 -E '\[domU\].*(WARNING:|BUG:|Oops|general protection|Kernel panic|xen_pv_net.*([Bb]roken|[Ee]rror|[Ff]ailed))' |
		sed -E 's/^\[ *[0-9]+s\] \[domU\] (\[ *[0-9.]+\] )?//' || true)
	if [ -z "$first" ] && grep -aEq '\(XEN\) d[1-9][0-9]*v[0-9]+ Triple fault' "$1"; then
		echo "silent triple fault of the domU"
		return 0
	fi
	case $first in
	"BUG: ENTRY_TRAMPOLINE stack guard page was hit"*)
		grep -aEq '\[domU\].*RIP: 0010:(error_entry|irqentry_enter)\+' "$1" || return 1
		echo "entry stack overflow in the interrupt entry (RAX $(grep -a -m1 -o 'RAX: [0-9a-f]*' "$1" | cut -c6-))"
		return 0
		;;
	esac
	return 1
}

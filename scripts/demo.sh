#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job: build everything (toolchain root, Rust artifacts for Debian's
# stock kernel, xen_pv_net with DKMS), boot the Xen lab, load xen_pv_net in
# the HVM guest and show traffic over its vif next to the emulated e1000.
#
# Usage: scripts/demo.sh
. "$(dirname "$0")/lib.sh"
xpn_need_root
"$XPN_TOP/scripts/toolchain.sh" >/dev/null
"$XPN_TOP/scripts/kernel-rust.sh"
ko=$("$XPN_TOP/scripts/dkms.sh")
xpn_log "xen_pv_net built and installed by DKMS: $ko (in $XPN_ROOT)"
"$XPN_TOP/scripts/lab.sh" prepare
log=$XPN_TOP/results/tmp/demo-$(date +%Y%m%d-%H%M%S).log
rc=0
XPN_MODULE=$XPN_ROOT$ko XPN_LAB_LOG=$log \
	"$XPN_TOP/scripts/lab.sh" run "$XPN_TOP/scripts/lab/demo-guest.sh" || rc=$?
# The guest's table, whether or not the console was streamed.
echo
sed -n 's/^\[ *[0-9]*s\] \[domU\] \(|.*\)$/\1/p' "$log"
echo "(ping: average RTT of 10; guest->dom0, dom0->guest: iperf3 TCP for 3 s, Mbit/s;"
echo " Xen and the guest run under QEMU TCG: compare the rows, not with hardware)"
exit $rc

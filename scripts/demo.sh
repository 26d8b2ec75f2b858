#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job: build everything (toolchain root, Rust artifacts for Debian's
# stock kernel, xen_pv_net with DKMS), boot the Xen lab, load xen_pv_net in
# the HVM guest and show traffic over its vif next to the emulated e1000.
#
# It shows the stages as they pass, with the time since the start; what the
# builds and the emulated machines print goes to the log file it names.
#
# Usage: scripts/demo.sh [--verbose]
#   --verbose  stream the builds' output and the raw console as well
. "$(dirname "$0")/lib.sh"
xpn_need_root
verbose=0
case ${1:-} in
--verbose) verbose=1 ;;
"") ;;
*) xpn_die "usage: scripts/demo.sh [--verbose]" ;;
esac

t0=$SECONDS
stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$XPN_TOP/results/tmp"
log=$XPN_TOP/results/tmp/demo-$stamp.log
serial=$XPN_TOP/results/tmp/demo-$stamp.serial.log
: >"$log"
stage() { printf '[%3d:%02d] %s\n' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "$*"; }
# step TEXT CMD...: one build stage; its output goes to the log (and to the
# terminal with --verbose); on failure the end of it is shown.
step() {
	local text=$1 rc=0 out
	shift
	stage "$text ..."
	out=$(mktemp)
	if [ "$verbose" = 1 ]; then
		"$@" 2> >(tee -a "$log" >&2) | tee "$out" || rc=$?
	else
		"$@" 2>>"$log" >"$out" || rc=$?
	fi
	cat "$out" >>"$log"
	if [ "$rc" != 0 ]; then
		stage "FAILED: $text (exit $rc); the end of $log:"
		tail -n 20 "$log" | sed 's/^/    /'
		rm -f "$out"
		exit "$rc"
	fi
	STEP_OUT=$(cat "$out")
	rm -f "$out"
}

stage "log: $log"
step "toolchain root (Debian trixie, the kernel's rustc, bindgen, gcc-14)" "$XPN_TOP/scripts/toolchain.sh"
krel=$STEP_OUT
step "Rust artifacts for Debian's $krel headers (verified against Module.symvers)" "$XPN_TOP/scripts/kernel-rust.sh"
step "xen_pv_net built and installed by DKMS" "$XPN_TOP/scripts/dkms.sh"
ko=$STEP_OUT
stage "module: $ko"
step "lab images (Xen 4.20, dom0, HVM domU initramfs)" "$XPN_TOP/scripts/lab.sh" prepare

# The lab run in the background; its console goes to $serial, and the
# stages are read from it as they pass.
stage "booting Xen + dom0 under QEMU TCG (console: $serial)"
: >"$serial"
XPN_MODULE=$XPN_ROOT$ko XPN_LAB_LOG=$serial XPN_LAB_QUIET=1 \
	"$XPN_TOP/scripts/lab.sh" run "$XPN_TOP/scripts/lab/demo-guest.sh" >>"$log" 2>&1 &
lab=$!
shown=0
while :; do
	running=1
	kill -0 "$lab" 2>/dev/null || running=0
	n=$(wc -l <"$serial")
	if [ "$n" -gt "$shown" ]; then
		tail -n +$((shown + 1)) "$serial" | head -n $((n - shown)) | while IFS= read -r l; do
			[ "$verbose" = 1 ] && printf '| %s\n' "$l"
			case $l in
			*"[lab] stage: dom0 ready"*) stage "dom0 up: toolstack, xen-netback, bridge, iperf3 server" ;;
			*"[lab] stage: domU created"*) stage "HVM guest created" ;;
			*"[lab] stage: FAILED"*) stage "lab: ${l#*stage: }" ;;
			*"[domU] [guest] up:"*) stage "guest kernel up (${l#*up: })" ;;
			*"[domU] [guest] xen_pv_net .text"*) stage "xen_pv_net loaded in the guest" ;;
			*"[domU] [guest] vif:"*) stage "interfaces up: ${l#*vif: }" ;;
			*"[domU] [guest] measured "*) stage "${l#*measured }" ;;
			*"[domU] FAIL:"*) stage "guest: ${l#*\[domU\] }" ;;
			esac
		done
		shown=$n
	fi
	[ "$running" = 1 ] || break
	sleep 1
done
rc=0
wait "$lab" || rc=$?
# The guest's table.
echo
sed -n 's/^\[ *[0-9]*s\] \[domU\] \(|.*\)$/\1/p' "$serial"
echo "(ping: average RTT of 10; guest->dom0, dom0->guest: iperf3 TCP for 3 s, Mbit/s;"
echo " Xen and the guest run under QEMU TCG: compare the rows, not with hardware)"
if [ "$rc" = 0 ]; then
	stage "done"
else
	stage "FAILED (lab exit $rc); console: $serial, log: $log"
fi
exit $rc

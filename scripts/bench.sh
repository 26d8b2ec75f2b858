#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark: xen_pv_net vs Linux's xen-netfront vs the emulated e1000, in one
# boot of the Xen lab (same HVM guest, interleaved rounds), each PV driver
# also in its other trust mode (ours trusted=1: zero-copy TX; xen-netfront
# trusted=0: bounce buffers). Writes
# results/DATE/bench.{md,json,png} and the serial log. A benchmark reports,
# it does not judge numbers; it fails if a NIC cannot carry traffic.
#
# Rounds go on until ours/C is known to +-XPN_BENCH_CI percent (95%
# confidence) for TCP both ways and UDP packets/s, between
# XPN_BENCH_MIN_ROUNDS and XPN_BENCH_MAX_ROUNDS rounds (see
# scripts/lab/bench-guest.sh); bench-report.py computes the intervals by
# bootstrap over the rounds and says which differences are significant.
#
# Usage: scripts/bench.sh   (XPN_BENCH_MIN_ROUNDS=8 XPN_BENCH_MAX_ROUNDS=24
#                            XPN_BENCH_CI=10 XPN_BENCH_SECS=4 by default)
. "$(dirname "$0")/lib.sh"
xpn_need_root
"$XPN_TOP/scripts/toolchain.sh" >/dev/null
"$XPN_TOP/scripts/kernel-rust.sh"
ko=$("$XPN_TOP/scripts/dkms.sh")
"$XPN_TOP/scripts/lab.sh" prepare
# matplotlib for the chart, in the toolchain root (not on the host).
xpn_chroot sh -c 'python3 -c "import matplotlib" 2>/dev/null ||
	apt-get -q -y install python3-matplotlib >/dev/null' || xpn_die "cannot install python3-matplotlib"

out=$XPN_TOP/results/$(date +%Y-%m-%d)
mkdir -p "$out"
log=$out/bench-serial.log
krel=$("$XPN_TOP/scripts/toolchain.sh")
# The guest script, with the knobs set at its top.
guest=$(mktemp /tmp/xpn-bench-guest.XXXXXX)
trap 'rm -f "$guest"' EXIT
{
	for k in MIN_ROUNDS MAX_ROUNDS CI SECS PINGS; do
		v=$(eval echo "\${XPN_BENCH_$k:-}")
		case $v in
		'') ;;
		*[!0-9]*) xpn_die "XPN_BENCH_$k takes a number ($v)" ;;
		*) echo "XPN_BENCH_$k=$v" ;;
		esac
	done
	cat "$XPN_TOP/scripts/lab/bench-guest.sh"
} >"$guest"
report_args=()
if ! XPN_MODULE=$XPN_ROOT$ko XPN_LAB_LOG=$log XPN_LAB_TIMEOUT=${XPN_LAB_TIMEOUT:-3600} \
	"$XPN_TOP/scripts/lab.sh" run "$guest" "$XPN_TOP/scripts/lab/bench-dom0.sh"; then
	# A domU that died without a guest error first (xpn_domu_death) after
	# at least the minimum of rounds: report on the complete rounds and
	# say so. Anything else is a failed benchmark.
	done_rounds=$(sed -n 's/.*\[guest\] after round \([0-9]*\):.*/\1/p' "$log" | tail -n1)
	if why=$(xpn_domu_death "$log") && [ "${done_rounds:-0}" -ge "${XPN_BENCH_MIN_ROUNDS:-8}" ]; then
		xpn_log "the domU died ($why) after $done_rounds complete rounds: reporting on those"
		report_args=("$done_rounds" "The domU died ($why) in round $((done_rounds + 1)); this report covers the $done_rounds complete rounds before it.")
	else
		xpn_die "the benchmark run failed (a NIC did not carry traffic?), see $log"
	fi
fi
xen=$(sed -n 's/.*Xen version \([0-9][0-9.]*\).*/\1/p' "$log" | head -n1)
vcpus=$(sed -n 's/.*XPN-BENCH-ROUNDS [0-9]* vcpus=\([0-9]*\).*/\1/p; s/.*\[guest\] vCPUs: \([0-9]*\);.*/\1/p' "$log" | head -n1)
desc="QEMU TCG (no KVM) on $(nproc) host cores, Xen ${xen:-?}, HVM guest with ${vcpus:-?} vCPUs, kernel $krel, $(date +%Y-%m-%d)"
cp "$XPN_TOP/scripts/bench-report.py" "$XPN_ROOT/tmp/bench-report.py"
mkdir -p "$XPN_ROOT/tmp/bench-out"
cp "$log" "$XPN_ROOT/tmp/bench-out/serial.log"
xpn_chroot python3 /tmp/bench-report.py /tmp/bench-out/serial.log /tmp/bench-out "$desc" "${report_args[@]}" ||
	xpn_die "bench-report failed"
cp "$XPN_ROOT"/tmp/bench-out/bench.{md,json,png} "$out/"
xpn_log "results in $out"

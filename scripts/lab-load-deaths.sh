#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Does the lab's domU die under sustained traffic with either PV driver?
# Boots the lab again and again, alternating xen_pv_net and the in-tree
# xen-netfront, each boot one driver under traffic both ways for SECS
# seconds (scripts/lab/load-guest.sh, guest memory debugging on), with no
# retries, and records how each boot ended: passed, a triple fault with
# Xen's own state in the domU (xpn_emulator_death in scripts/lib.sh), a
# triple fault in the guest kernel's interrupt entry (CR2 at the IDT's #DF
# entry), another death, or a failure.
#
# Every boot appends one row to results/lab-load-deaths.tsv;
# results/lab-load-deaths.md is made anew from all rows.
#
# Usage: scripts/lab-load-deaths.sh [--boots N] [--secs S]
#   N boots per driver (default 3), S seconds of traffic (default 480).
#   The lab's machine settings (scripts/lab.sh: XPN_LAB_DOM0_VCPUS,
#   XPN_LAB_XEN_ARGS) apply; each row records Xen's options, and the report
#   compares the boots per driver, QEMU and options (rows before the column
#   came: the lab's Xen options then, dom0 with 2 vCPUs, unpinned).
#   --record DRIVER LOG RC: record an existing boot log (internal; the
#   QEMU version in XPN_LOAD_QEMU if not the installed one).
. "$(dirname "$0")/lib.sh"
. "$XPN_TOP/scripts/lab-lib.sh"
xpn_need_root

tsv=$XPN_TOP/results/lab-load-deaths.tsv
md=$XPN_TOP/results/lab-load-deaths.md
boots=3
secs=480
record_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--boots) boots=$2; shift ;;
	--secs) secs=$2; shift ;;
	--record) record_args=("$2" "$3" "$4"); shift 3 ;;
	*) xpn_die "unknown argument $1" ;;
	esac
	shift
done

# record DRIVER LOG RC: classify one boot and append its row.
record() {
	local drv=$1 log=$2 rc=$3 qemu outcome loaded detail
	qemu=${XPN_LOAD_QEMU:-$(xpn_chroot qemu-system-x86_64 --version | sed -n "1s/^QEMU emulator version \([^ ]*\).*/\1/p")}
	# Seconds of traffic the domU lived through (its last progress line).
	loaded=$(grep -a -o '\[guest\] load: [0-9]* s' "$log" | tail -n 1 | grep -o '[0-9]*' || true)
	detail=
	if [ "$rc" = 0 ]; then
		outcome=pass
	elif detail=$(xpn_emulator_death "$log"); then
		outcome=emulator-state
	elif grep -aEq '\(XEN\) d[1-9][0-9]*v[0-9]+ Triple fault' "$log"; then
		outcome=triple-fault
		grep -a -A16 'Dumping Dom[1-9][0-9]* vcpu' "$log" | grep -aq 'cr2: fffffe0000000080' &&
			outcome=triple-fault-idt-df
		detail=$(grep -a -A16 'Dumping Dom[1-9][0-9]* vcpu' "$log" | grep -a -m1 -o 'RIP: .*' | tr -s ' ' || true)
		if xpn_domu_death "$log" >/dev/null; then :; else outcome=$outcome-after-guest-error; fi
	else
		outcome=fail-rc$rc
		detail=$(grep -a -m1 -E 'FAILED|\[guest\] FAIL' "$log" | sed -E 's/^\[ *[0-9]+s\] //' | cut -c1-120 || true)
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${XPN_LOAD_DATE:-$(date +%F)}" "$drv" "$qemu" "$outcome" \
		"${loaded:-0}" "$(echo "${detail:--}" | tr '\t' ' ')" "$(xpn_lab_xen_args)" >>"$tsv"
	xpn_log "load $drv (QEMU $qemu, Xen options $(xpn_lab_xen_args)): $outcome after ${loaded:-0} s of traffic; log $log"
}

report() {
	python3 - "$tsv" "$md" <<'PY'
import collections, statistics, sys
tsv, md = sys.argv[1:3]
rows = collections.defaultdict(list)
for line in open(tsv):
    if line.startswith("#") or not line.strip():
        continue
    # (Rows before the Xen options column have six fields.)
    date, drv, qemu, outcome, loaded, detail, xen = (line.rstrip("\n").split("\t") + ["-"])[:7]
    rows[(drv, qemu, xen)].append((date, outcome, int(loaded), detail))
forms = ["emulator-state", "triple-fault-idt-df", "other"]
out = ["# Lab deaths under sustained traffic, per driver", "",
       "Made by `scripts/lab-load-deaths.sh` from `results/lab-load-deaths.tsv` (one row per boot).",
       "Each boot loads one PV driver (2 queues) and runs iperf3 -P 2 both ways at once and a",
       "fast ping for up to 480 s (`scripts/lab/load-guest.sh`), with the guest kernel's memory",
       "debugging on and no retries; the drivers alternate boot by boot. Lab: Xen 4.20 under",
       "QEMU TCG on this project's machine (2 host cores), domU with 1 vCPU.", "",
       "Forms of death: `emulator-state`: a triple fault whose saved domU state is Xen's own",
       "(code segment e008, which no HVM guest can load, and a RIP in Xen's text that is also",
       "the faulting address): the emulated world switch gave the guest the host's state.",
       "`triple-fault-idt-df`: a triple fault in the guest kernel (code segment 0010) while",
       "delivering a double fault, its IDT entry unreadable (CR2 fffffe0000000080). Neither",
       "came after any message of the guest kernel.", "",
       "| driver | QEMU | Xen options | boots | passed | died | emulator-state | triple-fault-idt-df | other deaths | median s of traffic survived (deaths) | dates |",
       "|---|---|---|---|---|---|---|---|---|---|---|"]
for (drv, qemu, xen), r in sorted(rows.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
    died = [x for x in r if x[1] != "pass" and not x[1].startswith("fail")]
    e = sum(1 for x in died if x[1] == "emulator-state")
    i = sum(1 for x in died if x[1] == "triple-fault-idt-df")
    o = len(died) - e - i
    p = sum(1 for x in r if x[1] == "pass")
    surv = f"{statistics.median(x[2] for x in died):.0f}" if died else "-"
    dates = sorted({x[0] for x in r})
    out.append(f"| {drv} | {qemu} | {'none (dom0: 2 vCPUs)' if xen == '-' else '`' + xen + '`'} | {len(r)} | {p} | {len(died)} | {e} | {i} | {o} | {surv} | "
               f"{dates[0]}{' to ' + dates[-1] if len(dates) > 1 else ''} |")
out.append("")
open(md, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
}

[ -f "$tsv" ] || printf '# date\tdriver\tqemu\toutcome\ttraffic_s\tdetail\txen_args\n' >"$tsv"
if [ "${#record_args[@]}" -gt 0 ]; then
	record "${record_args[@]}"
	report >/dev/null
	exit 0
fi
"$XPN_TOP/scripts/lab.sh" prepare >/dev/null
logdir=$XPN_TOP/results/tmp/load-deaths-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logdir"
for i in $(seq 1 "$boots"); do
	for drv in xen_pv_net xen-netfront; do
		g=$logdir/guest-$drv.sh
		{
			printf 'XPN_LOAD_DRV=%s\nXPN_LOAD_SECS=%s\n' "$drv" "$secs"
			cat "$XPN_TOP/scripts/lab/load-guest.sh"
		} >"$g"
		log=$logdir/$drv-$i.log
		rc=0
		XPN_LAB_GUEST_DEBUG=1 XPN_LAB_QUIET=1 XPN_LAB_TIMEOUT=$((secs + 600)) XPN_LAB_LOG=$log \
			"$XPN_TOP/scripts/lab.sh" run "$g" "$XPN_TOP/tests/lab/xen-lifecycle.dom0" >/dev/null 2>&1 || rc=$?
		record "$drv" "$log" "$rc"
	done
done
report

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Measures how often the lab's emulation kills the HVM domU, per machine
# configuration: boots the lab again and again with a short stress
# scenario that uses only the in-tree xen-netfront (scripts/lab/stability-
# guest.sh and -dom0.sh: traffic on 4 queues, detach/attach, two xl save +
# xl restore), with no retries, and records each boot's outcome and times.
#
# Every boot appends one row to results/lab-stability.tsv (kept, so that
# measurements of several runs add up); results/lab-stability.md is made
# anew from all rows each time.
#
# Usage: scripts/lab-stability.sh [--boots N] [CONFIG...]
#   CONFIG names from the table below (default: all), N boots each
#   (default 10). scripts/lab-stability.sh --report only rewrites the .md.
. "$(dirname "$0")/lib.sh"
xpn_need_root

# name|QEMU -accel|QEMU -cpu|Xen options|domU settings (see scripts/lab.sh)
# domU-2-vcpus was the lab until 2026-12-02 ("default" in the first rows);
# domU-1-vcpu is the lab since. The domU's vCPUs are explicit everywhere, so
# that rows of either time compare.
CONFIGS="
domU-2-vcpus||qemu64,+svm,+npt||vcpus=2
tcg-single|tcg,thread=single|qemu64,+svm,+npt||vcpus=2
shadow-paging||qemu64,+svm,+npt||hap=0:vcpus=2
domU-1-vcpu||qemu64,+svm,+npt||vcpus=1
sched-credit||qemu64,+svm,+npt|sched=credit|vcpus=1
dom0-1-vcpu-pinned||qemu64,+svm,+npt|dom0_max_vcpus=1 dom0_vcpus_pin|vcpus=1
cpu-max||max||vcpus=1
"

tsv=$XPN_TOP/results/lab-stability.tsv
md=$XPN_TOP/results/lab-stability.md
boots=10
report_only=0
want=()
while [ $# -gt 0 ]; do
	case $1 in
	--boots) boots=$2; shift ;;
	--report) report_only=1 ;;
	-*) xpn_die "unknown option $1" ;;
	*) want+=("$1") ;;
	esac
	shift
done

config_line() { echo "$CONFIGS" | grep "^$1|" || xpn_die "no configuration $1"; }

report() {
	python3 - "$tsv" "$md" "$CONFIGS" <<'PY'
import statistics, sys, collections
tsv, md, configs = sys.argv[1:4]
desc = {}
order = []
for line in configs.strip().splitlines():
    name, accel, cpu, xen, domu = line.split("|")
    order.append(name)
    parts = [f"-cpu {cpu}"]
    if accel: parts.append(f"-accel {accel}")
    if xen: parts.append(f"Xen: {xen}")
    if domu: parts.append(f"domU: {domu.replace(':', ', ')}")
    desc[name] = "; ".join(parts)
rows = collections.defaultdict(list)
try:
    with open(tsv) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            date, name, outcome, boot_s, run_s, detail = line.rstrip("\n").split("\t")
            rows[name].append((date, outcome, boot_s, run_s, detail))
except FileNotFoundError:
    pass
DEATHS = ("triple-fault", "triple-fault-after-guest-error", "guest-panic", "hang", "died")
def upper95(d, n):
    """One-sided 95% upper bound of a death rate seen d times in n boots
    (Clopper-Pearson, by bisection on the binomial distribution)."""
    from math import comb
    if d >= n:
        return 1.0
    lo, hi = d / n, 1.0
    for _ in range(60):
        p = (lo + hi) / 2
        cdf = sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(d + 1))
        if cdf > 0.05:
            lo = p
        else:
            hi = p
    return hi
def med(xs):
    xs = [float(x) for x in xs if x not in ("", "-")]
    return f"{statistics.median(xs):.0f}" if xs else "-"
out = ["# Lab stability: how often the emulation kills the domU", "",
       "Made by `scripts/lab-stability.sh` from `results/lab-stability.tsv` (one row per boot).",
       "Each boot runs a short stress scenario with the in-tree `xen-netfront` only",
       "(`scripts/lab/stability-guest.sh`, `-dom0.sh`: iperf3 -P 4 both ways on 4 queues,",
       "`xl network-detach`/`-attach`, two `xl save` + `xl restore` under a TCP flow), with",
       "no retries. A death is the domU's end before its result: a silent triple fault,",
       "a triple fault after its kernel reported an error (`triple-fault-after-guest-error`:",
       "such as xen-netfront's own WARN in its resume), a guest kernel panic, or a hung",
       "machine; a failure is any other failed step (`not-created`: Xen refused the",
       "domU's settings). Lab: Xen 4.20 under QEMU TCG on this project's machine",
       "(2 host cores); boot = seconds from QEMU start to the domU's /init,",
       "run = wall seconds of the whole boot.", "",
       "A failure is no death: the domU lived on (most failures are the in-tree",
       "xen-netfront's own WARN in `netfront_resume`). The upper bound is the",
       "one-sided 95% Clopper-Pearson bound of the death rate.", "",
       "| configuration | settings | boots | deaths | death rate | 95% upper bound | failures | median boot s | median run s | dates |",
       "|---|---|---|---|---|---|---|---|---|---|"]
best = None
for name in order + sorted(set(rows) - set(order)):
    r = rows.get(name, [])
    if not r:
        continue
    # Boots whose domU Xen refused to create ran nothing: no death rate.
    n = sum(1 for x in r if x[1] != "not-created")
    d = sum(1 for x in r if x[1] in DEATHS)
    fl = sum(1 for x in r if x[1] not in DEATHS and x[1] != "pass")
    dates = sorted({x[0] for x in r})
    rate = f"{100.0 * d / n:.0f}% | {100.0 * upper95(d, n):.0f}%" if n else "- | -"
    out.append(f"| {name} | {desc.get(name, '?')} | {len(r)} | {d} | {rate} | {fl} | "
               f"{med(x[2] for x in r)} | {med(x[3] for x in r)} | {dates[0]}{' to ' + dates[-1] if len(dates) > 1 else ''} |")
    if not n:
        continue
    key = (d / n, statistics.median(float(x[3]) for x in r))
    if n >= 20 and (best is None or key < best[0]):
        best = (key, name)
out.append("")
if best:
    out.append(f"Chosen configuration: **{best[1]}** (the lowest death rate among those with at least 20 boots, then the shortest run); the lab runs it (`scripts/lab/domU-hvm.cfg`, `scripts/lab.sh`).")
else:
    out.append("Chosen configuration: none yet (no configuration has 20 boots).")
out.append("")
out.append("Deaths and failures, boot by boot:")
out.append("")
for name in order + sorted(set(rows) - set(order)):
    for date, outcome, boot_s, run_s, detail in rows.get(name, []):
        if outcome != "pass":
            out.append(f"- {date} {name}: {outcome} after {run_s} s: {detail}")
open(md, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
}

if [ "$report_only" = 1 ]; then
	report
	exit 0
fi
[ "${#want[@]}" -gt 0 ] || mapfile -t want < <(echo "$CONFIGS" | grep . | cut -d'|' -f1)
[ -f "$tsv" ] || printf '# date\tconfiguration\toutcome\tboot_s\trun_s\tdetail\n' >"$tsv"
"$XPN_TOP/scripts/lab.sh" prepare >/dev/null
logdir=$XPN_TOP/results/tmp/stability-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logdir"
# record NAME LOG RC RUN_S: classify one boot and append its row.
record() {
	local name=$1 log=$2 rc=$3 run_s=$4 boot_s detail outcome
	boot_s=$(grep -a -m1 -o '^\[ *[0-9]*s\] \[domU\] \[guest\] up:' "$log" | grep -o '[0-9]*' | head -n1 || true)
	detail=$(grep -a -E '\(XEN\) d[1-9][0-9]*v[0-9]+ Triple fault|FAILED|\[guest\] FAIL' "$log" |
		head -n1 | sed -E 's/^\[ *[0-9]+s\] //' | tr '\t' ' ' | cut -c1-160 || true)
	# What the guest kernel reported (first line), if anything.
	guest_err=$(grep -a -m1 -E '\[domU\].*(Kernel panic|Oops|BUG:|general protection|WARNING:)' "$log" |
		sed -E 's/^\[ *[0-9]+s\] \[domU\] (\[ *[0-9.]+\] )?//' | tr '\t' ' ' | cut -c1-120 || true)
	if [ "$rc" = 0 ]; then
		outcome=pass
	elif grep -aEq '\(XEN\) d[1-9][0-9]*v[0-9]+ Triple fault' "$log"; then
		outcome=triple-fault
		[ -z "$guest_err" ] || outcome=triple-fault-after-guest-error
	elif grep -aq '\[domU\].*Kernel panic' "$log"; then
		outcome=guest-panic
	elif [ "$rc" = 124 ]; then
		outcome=hang
	elif [ "$rc" = 250 ]; then
		outcome=died
	elif [ "$rc" = 204 ]; then
		outcome=not-created
	else
		outcome=fail-rc$rc
	fi
	[ -z "$guest_err" ] || detail="${detail:+$detail; }guest: $guest_err"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${XPN_STABILITY_DATE:-$(date +%F)}" "$name" "$outcome" "${boot_s:--}" "$run_s" \
		"${detail:-rc $rc}" >>"$tsv"
	xpn_log "stability $name: $outcome (${run_s}s; log $log)"
}

if [ -n "${XPN_STABILITY_RECORD:-}" ]; then
	# Internal: record an existing boot log (NAME LOG RC RUN_S; the date of
	# the boot in XPN_STABILITY_DATE).
	# shellcheck disable=SC2086
	record $XPN_STABILITY_RECORD
	report >/dev/null
	exit 0
fi

for name in "${want[@]}"; do
	IFS='|' read -r _ accel cpu xen domu <<<"$(config_line "$name")"
	for i in $(seq 1 "$boots"); do
		log=$logdir/$name-$i.log
		t0=$SECONDS
		rc=0
		XPN_LAB_QUIET=1 XPN_LAB_LOG=$log XPN_LAB_TIMEOUT=1200 \
			XPN_LAB_ACCEL=$accel XPN_LAB_CPU=$cpu XPN_LAB_XEN_ARGS=$xen XPN_LAB_DOMU=$domu \
			"$XPN_TOP/scripts/lab.sh" run "$XPN_TOP/scripts/lab/stability-guest.sh" \
			"$XPN_TOP/scripts/lab/stability-dom0.sh" >"$log.out" 2>&1 || rc=$?
		record "$name" "$log" "$rc" $((SECONDS - t0))
	done
done
report

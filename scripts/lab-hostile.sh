#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The PV frontend against a hostile backend, in the lab: the userspace
# backend tests/backend (scripts/backend.sh) serves a vif per mode from
# dom0 (tests/lab/xen-hostile.dom0) to the guest scenario
# tests/lab/xen-hostile.sh, first with xen_pv_net, then with the in-tree
# xen-netfront, in the same lab. A guest that dies in a mode is recorded as
# a crash of that mode and the next boot goes on with the next mode; a
# boot that the emulation ended (Xen's own state in the domU,
# xpn_emulator_state) repeats the mode, once. After a mode whose vif never
# came or never went (hang, no-vif), the guest ends the boot and the next
# modes get a new one: a stuck xenbus would fail every later vif.
#
# Writes results/hostile.tsv (one row per driver and mode: driver, mode,
# outcome, detail, date of the run) and results/hostile.md (the table), and
# puts the table into README.md between the markers "<!-- hostile-table -->"
# and "<!-- /hostile-table -->". The rows of a driver and mode not run this
# time are kept from the previous results/hostile.tsv, with their date: the suite
# (scripts/test.sh) runs xen_pv_net only, the reference column comes from
# `scripts/lab-hostile.sh --drivers xen-netfront` (its modes hang the
# in-tree driver, each needing a new boot: about 20 minutes more).
#
# Usage: scripts/lab-hostile.sh [--drivers "xen_pv_net xen-netfront"] [--modes "m1 m2 ..."]
#   default: both drivers, every mode (xpn-backend --list-modes).
#        scripts/lab-hostile.sh --report   (the table again from results/hostile.tsv)
# Exit status: 0 if xen_pv_net handled every mode (honest mode carried
# the traffic; no crash, WARN, hang or broken other vif) and unloaded.
. "$(dirname "$0")/lib.sh"
xpn_need_root

drivers="xen_pv_net xen-netfront"
modes=
some_modes=0
report_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--report) report_only=1 ;;
	--drivers) drivers=$2; shift ;;
	--modes) modes=$2; some_modes=1; shift ;;
	*) xpn_die "unknown argument $1" ;;
	esac
	shift
done

report() {
python3 - "$XPN_TOP/results/hostile.tsv" "$XPN_TOP/results/hostile-modes.txt" "$XPN_TOP/results/hostile.md" "$XPN_TOP/README.md" \
	"$XPN_TOP/Documentation/xen_pv_net.rst" \
	"$(date +%F)" "$(xpn_chroot qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([^ ]*\).*/\1/p')" <<'PY'
import sys
tsv, modes_txt, md, readme, doc, date, qemu = sys.argv[1:8]
desc = dict(l.rstrip("\n").split("\t", 1) for l in open(modes_txt) if "\t" in l)
desc["unload"] = "the module unloads after all modes"
res, order, drivers = {}, [], []
dates = {}
for l in open(tsv):
    drv, mode, outcome, detail, day = (l.rstrip("\n").split("\t") + ["", "", "", "", ""])[:5]
    res[(drv, mode)] = (outcome, detail)
    if day: dates.setdefault(drv, set()).add(day)
    if mode not in order: order.append(mode)
    if drv not in drivers: drivers.append(drv)
def cell(o, d, m):
    o = o.replace("|", "/")
    if m == "honest":
        # Its steps, passed or failed.
        steps = "; ".join(p.strip() for p in d.split(";")
                          if any(w in p for w in ("ok", "fail", "no ping", "no carrier")))
        return ("works: " if o == "handled" else "**%s**: " % o) + steps.replace("|", "/")
    if o == "handled":
        if "device broken, disabled: " in d:
            why = d.split("device broken, disabled: ", 1)[1].strip()
            return "handled, vif disabled: " + why[:80].replace("|", "/")
        if "log:" in d:
            line = d.split("log:", 1)[1].strip()
            if ": " in line: line = line.split(": ", 1)[1]
            return "handled: " + line[:70].replace("|", "/")
        import re
        e = re.search(r"rx_errors=([1-9][0-9]*)", d)
        if e: return "handled: dropped and counted (rx_errors %s)" % e.group(1)
        return "handled: nothing seen"
    if m == "unload" and "not reached" in d:
        return "**not reached** (the run ended on a hang)"
    return "**%s**" % o
drivers.sort(key=lambda d: d != "xen_pv_net")
# The modes in the backend's order (a run of some modes keeps the others).
order = [m for m in desc if m in order] + [m for m in order if m not in desc]
def col(d):
    return "%s (%s)" % (d, ", ".join(sorted(dates[d]))) if d in dates else d
lines = ["| mode | what the backend does | " + " | ".join(col(d) for d in drivers) + " |",
         "|---|---|" + "---|" * len(drivers)]
for m in order:
    lines.append("| `%s` | %s | " % (m, desc.get(m, "")) + " | ".join(
        cell(*res[(d, m)], m) if (d, m) in res else "not run" for d in drivers) + " |")
table = "\n".join(lines)
head = ("Made by `scripts/lab-hostile.sh` (table of %s; each column's run date in its heading) (Xen 4.20 under QEMU %s TCG, HVM domU with 1 vCPU, "
        "the guest kernel checking freed memory). Outcomes: handled (the guest stayed alive and "
        "responsive, the normal vif kept working, the hostile vif was removed when the backend "
        "went away; the cell shows the driver's first log line), WARN (a kernel warning or "
        "oops), crash (the domU died), hang (the vif was not removed, or the mode never ended), "
        "other-vif (the normal vif stopped working), no-vif (no interface for the vif, no reason logged), "
        "honest-failed. Details per mode: "
        "`results/hostile.tsv`.") % (date, qemu)
open(md, "w").write("# The PV frontends against a hostile backend\n\n" + head + "\n\n" + table + "\n")
def put(path, a, b, text):
    """Replaces what lies between the markers a and b in path with text."""
    s = open(path).read()
    if a in s and b in s:
        i, j = s.index(a) + len(a), s.index(b)
        open(path, "w").write(s[:i] + text + s[j:])
put(readme, "<!-- hostile-table -->", "<!-- /hostile-table -->", "\n" + head + "\n\n" + table + "\n")
# The same table in Documentation/, as an RST list-table.
def rst(t):
    return t.replace("**", "").replace("`", "``").replace("````", "``")
rows = [["mode", "what the backend does"] + [col(d) for d in drivers]]
for m in order:
    rows.append(["``%s``" % m, desc.get(m, "")] + [
        rst(cell(*res[(d, m)], m)) if (d, m) in res else "not run" for d in drivers])
out = [".. list-table:: The frontends against the hostile backend (Xen 4.20 under QEMU %s TCG, "
       "HVM domU with 1 vCPU; the outcomes as the README explains them)" % qemu,
       "   :header-rows: 1", ""]
for r in rows:
    out.append("   * - " + r[0])
    out.extend("     - " + c for c in r[1:])
put(doc, ".. hostile-table", ".. /hostile-table", "\n\n" + "\n".join(out) + "\n\n")
PY
}
if [ "$report_only" = 1 ]; then
	report
	exit 0
fi

bin=$("$XPN_TOP/scripts/backend.sh")
[ -x "$bin" ] || xpn_die "no backend binary $bin"
[ -n "$modes" ] || modes=$("$bin" --list-modes | cut -f1 | tr '\n' ' ')
"$bin" --list-modes >/dev/null
run=$XPN_TOP/results/tmp/hostile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run"
tsv=$run/hostile.tsv
day=$(date +%F)
: >"$tsv"
# The backend goes to dom0 by the name the dom0 scenario calls.
cp "$bin" "$run/xpn-backend"
"$bin" --list-modes >"$run/modes.txt"

ours_ok=0
for drv in $drivers; do
	set -- $modes
	k=0
	repeated=
	boot=0
	unloaded=
	while [ $# -gt 0 ] && [ $boot -lt 16 ]; do
		boot=$((boot + 1))
		{ echo "start $k"; printf '%s\n' "$@"; } >"$run/hostile-modes"
		log=$run/$drv-boot$boot.serial.log
		xpn_log "hostile: $drv, boot $boot, modes from $k: $*"
		rc=0
		XPN_LAB_GUEST_DEBUG=1 XPN_LAB_QUIET=1 XPN_LAB_LOG=$log \
			XPN_LAB_GUEST_ENV="HOSTILE_DRIVER=$drv HOSTILE_START=$k" \
			XPN_LAB_DOM0_FILES="$run/xpn-backend $run/hostile-modes" \
			"$XPN_TOP/scripts/lab.sh" run "$XPN_TOP/tests/lab/xen-hostile.sh" "$XPN_TOP/tests/lab/xen-hostile.dom0" \
			>"$run/$drv-boot$boot.out" 2>&1 || rc=$?
		# The modes this boot finished.
		while read -r line; do
			kk=$(echo "$line" | sed -n 's/.*XPN-HOSTILE k=\([0-9]*\) .*/\1/p')
			m=$(echo "$line" | sed -n 's/.* mode=\([^ ]*\) .*/\1/p')
			o=$(echo "$line" | sed -n 's/.* outcome=\([^ ]*\) .*/\1/p')
			d=$(echo "$line" | sed -n 's/.* detail=\(.*\)$/\1/p')
			printf '%s\t%s\t%s\t%s\t%s\n' "$drv" "$m" "$o" "$d" "$day" >>"$tsv"
			xpn_log "hostile: $drv $m: $o"
			shift
			k=$((kk + 1))
		done < <(grep -a -o 'XPN-HOSTILE k=.*' "$log" | tr -d '\r')
		if grep -aq '\[guest\] ok: unload' "$log"; then unloaded=yes; fi
		[ "$rc" = 0 ] && break
		[ $# -gt 0 ] || { unloaded=${unloaded:-no}; break; }
		# The guest ended the boot after a mode that may have left its
		# xenbus stuck (already recorded): the next modes get a new boot.
		if grep -aq "XPN-HOSTILE-RESTART k=$k" "$log"; then
			xpn_log "hostile: $drv: a new boot for the modes from $k"
			continue
		fi
		# The boot ended inside mode $k ($1).
		if state=$(xpn_emulator_state "$log") && [ "$repeated" != "$k" ]; then
			xpn_log "hostile: $drv $1: the emulation ended the boot ($state); repeating the mode"
			repeated=$k
			continue
		fi
		if grep -aq "XPN-HOSTILE-START k=$k " "$log"; then
			if grep -aEq '\(XEN\) d[1-9][0-9]*v[0-9]+ Triple fault|the domU ended without a result' "$log"; then
				o=crash
				d=$(grep -a -m1 -E '\[domU\].*(BUG:|Oops|general protection|Kernel panic|WARNING:)' "$log" |
					sed -E 's/^\[ *[0-9]+s\] \[domU\] (\[ *[0-9.]+\] )?//' | cut -c1-100 || true)
				[ -n "$d" ] || d="domU died, no guest message: $(grep -a -m1 -o 'RIP: *[0-9a-f]*:\[<[0-9a-f]*>\]' "$log" || true), $(grep -a -m1 -o 'cr2: [0-9a-f]*' "$log" || true)"
			else
				o=hang
				d="no result for the mode (lab rc $rc)"
			fi
		else
			o=lab-failed
			d="the boot ended before the mode started (lab rc $rc, log $log)"
		fi
		printf '%s\t%s\t%s\t%s\t%s\n' "$drv" "$1" "$o" "$d" "$day" >>"$tsv"
		xpn_log "hostile: $drv $1: $o ($d)"
		shift
		k=$((k + 1))
	done
	printf '%s\t%s\t%s\t%s\t%s\n' "$drv" unload "$([ "$unloaded" = yes ] && echo handled || echo failed)" \
		"module unloaded after the modes: ${unloaded:-not reached}" "$day" >>"$tsv"
done

# This run's rows, then the earlier ones of every driver and mode it did
# not run (with their dates). A run of some modes (--modes) leaves the
# earlier "unload" row (after every mode) as it was, unless its own unload
# failed.
old=$XPN_TOP/results/hostile.tsv
[ -f "$old" ] || : >"$old"
if [ "$some_modes" = 1 ]; then
	awk -F'\t' 'NR == FNR { if ($2 == "unload") had[$1] = 1; next }
		!($2 == "unload" && $3 == "handled" && ($1 in had))' "$old" "$tsv" >"$run/new.tsv"
else
	cp "$tsv" "$run/new.tsv"
fi
{
	cat "$run/new.tsv"
	awk -F'\t' 'NR == FNR { ran[$1 "\t" $2] = 1; next } !(($1 "\t" $2) in ran)' "$run/new.tsv" "$old"
} >"$run/merged.tsv"
cp "$run/merged.tsv" "$XPN_TOP/results/hostile.tsv"
cp "$run/modes.txt" "$XPN_TOP/results/hostile-modes.txt"
report
xpn_log "hostile: table in results/hostile.md; runs in $run"
cat "$XPN_TOP/results/hostile.md"
# Ours must handle every mode; what went wrong is printed last (the suite
# shows a failing test's tail).
bad=$(awk -F'\t' '$1 == "xen_pv_net" && $3 != "handled" {
	printf "xen_pv_net %s: %s: %s\n", $2, $3, $4 }' "$XPN_TOP/results/hostile.tsv")
if [ -z "$bad" ] && grep -q '^xen_pv_net	' "$XPN_TOP/results/hostile.tsv"; then
	ours_ok=1
fi
[ -z "$bad" ] || printf '%s\n' "$bad"
[ "$ours_ok" = 1 ]

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Live migration of a domU running xen_pv_net to the same host, under a TCP
# stream (scripts/lab/migrate-guest.sh with tests/lab/xen-restore.dom0:
# three `xl migrate -s '' DOMU 'xl migrate-receive'`, the checks of the
# save/restore test after them). A documented lab command, not a CI gate:
# under nested TCG the domU itself dies in most migrations, with the in-tree
# xen-netfront too. A death without a guest error first (xpn_domu_death in
# scripts/lib.sh) is retried, up to --boots boots, and reported; any other
# failure is not retried.
#
# Writes results/DATE/migrate.md: per boot its outcome, the migrations
# completed and their times, and whether the stream survived them.
#
# Usage: scripts/lab-migrate.sh [--boots N]   (default 3)
. "$(dirname "$0")/lib.sh"
xpn_need_root
boots=3
while [ $# -gt 0 ]; do
	case $1 in
	--boots) boots=$2; shift ;;
	*) xpn_die "unknown option $1" ;;
	esac
	shift
done
"$XPN_TOP/scripts/lab.sh" prepare >/dev/null
out=$XPN_TOP/results/$(date +%Y-%m-%d)
logdir=$XPN_TOP/results/tmp/migrate-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out" "$logdir"
rows=
verdict=1
for i in $(seq 1 "$boots"); do
	log=$logdir/boot-$i.log
	t0=$SECONDS
	rc=0
	XPN_LAB_QUIET=1 XPN_LAB_LOG=$log XPN_LAB_TIMEOUT=2400 \
		"$XPN_TOP/scripts/lab.sh" run "$XPN_TOP/scripts/lab/migrate-guest.sh" \
		"$XPN_TOP/tests/lab/xen-restore.dom0" >"$log.out" 2>&1 || rc=$?
	run_s=$((SECONDS - t0))
	done_n=$(grep -ac '\[dom0-scenario\] migration [0-9]*: [0-9]* s' "$log" || true)
	times=$(grep -ao '\[dom0-scenario\] migration [0-9]*: [0-9]* s' "$log" | awk '{print $4}' | paste -sd/ -)
	if grep -aq 'ok: the TCP stream opened before the cycles still carries data' "$log"; then
		flow=yes
	elif [ "$done_n" -gt 0 ]; then
		flow=no
	else
		flow=-
	fi
	guest_err=$(grep -a -m1 -E '\[domU\](.*(Kernel panic|Oops|BUG:|general protection|WARNING:)| FAIL:)' "$log" |
		sed -E 's/^\[ *[0-9]+s\] \[domU\] (\[ *[0-9.]+\] )?//' | tr '|' '/' | cut -c1-140 || true)
	if [ "$rc" = 0 ]; then
		outcome=pass
	elif why=$(xpn_domu_death "$log"); then
		outcome="domU died: $why"
	else
		outcome="failed (rc $rc)"
	fi
	xpn_log "migrate boot $i: $outcome; $done_n migrations completed (${times:-none} s), stream survived: $flow; log $log"
	rows+="| $i | $outcome | $done_n of 3 | ${times:--} | $flow | ${guest_err:--} | $run_s |"$'\n'
	case $outcome in
	pass) verdict=0; break ;;
	"domU died"*) ;;
	*) break ;;
	esac
done
{
	echo "# Live migration to the same host, $(date +%Y-%m-%d)"
	echo
	echo "Made by \`scripts/lab-migrate.sh\`: xen_pv_net in an HVM domU ($(grep -E '^vcpus' "$XPN_TOP/scripts/lab/domU-hvm.cfg" | tr -d ' '))"
	echo "under a TCP stream (iperf3 -b 20M) opened before three \`xl migrate -s '' DOMU 'xl migrate-receive'\`;"
	echo "then ping, 16 MiB each way by sha256, the grant references and interrupts held,"
	echo "a clean unload and kernel log. A domU that dies silently (nested TCG) is retried."
	echo
	echo "| boot | outcome | migrations completed | seconds each | stream survived | first guest error | run s |"
	echo "|---|---|---|---|---|---|---|"
	printf '%s' "$rows"
} >"$out/migrate.md"
cat "$out/migrate.md"
exit $verdict

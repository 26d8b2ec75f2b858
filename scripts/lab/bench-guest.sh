# SPDX-License-Identifier: GPL-2.0
# The benchmark's guest side (scripts/bench.sh): in one HVM domU, measure
# NICs in interleaved rounds:
#   xen_pv_net           our vif, default (untrusted backend: TX copied)
#   xen-netfront         the same vif driven by Linux's C driver (default)
#   xen_pv_net-trusted   ours with trusted=1 (zero-copy TX)   } every 2nd
#   xen-netfront-trusted0  the C driver with trusted=0 (bounce) } round
#   e1000                the emulated NIC (context only: every 4th round)
# Round R measures its PV drivers in that order when R is odd and in the
# reverse order when it is even (ABBA: a drift of the emulation over the
# boot falls on all alike). Each measurement prints one machine-readable line:
#   XPN-BENCH round=R driver=D metric=M value=V
# Metrics: tcp_tx, tcp_rx (Mbit/s, iperf3 TCP guest->dom0 / dom0->guest),
# udp_pps (64-byte UDP payloads, unthrottled, packets/s received by dom0),
# udp_sent_pps and udp_lost_pct (what the guest sent, and the share of it
# lost in dom0), host_T_dom0 and host_T_domU for each test T (tcp_tx,
# tcp_rx, udp: the host CPUs each domain kept busy, from Xen's accounting,
# scripts/lab/bench-dom0.sh),
# rtt_avg_ms, rtt_p99_ms (ping, 0.05 s interval), cpu_s_per_gb (guest CPU
# time from /proc/stat per GB moved over the NIC during the TCP runs).
# Rounds go on until the ratio ours/C of each of tcp_tx, tcp_rx and udp_pps
# has a 95% confidence interval (normal approximation on the logarithms,
# with 2.1 standard errors) narrower than +-CI percent, at least MIN and at
# most MAX rounds; the host's report then computes the reported intervals
# by bootstrap. A NIC that cannot carry traffic fails the run.

MIN=${XPN_BENCH_MIN_ROUNDS:-8}
MAX=${XPN_BENCH_MAX_ROUNDS:-24}
CI=${XPN_BENCH_CI:-10}
SECS=${XPN_BENCH_SECS:-4}
PINGS=${XPN_BENCH_PINGS:-60}
VALS=/tmp/bench-values

on_xen || fail "not running as a Xen guest"
module_loaded xen_netfront && fail "xen-netfront already loaded"

emit() {
	echo "XPN-BENCH round=$1 driver=$2 metric=$3 value=$4"
	echo "$2 $3 $4" >>"$VALS"
}

# ci_halfwidths: per headline metric, the half-width (percent) of the
# approximate 95% interval of ours/C so far ("inf" with fewer than 3 rounds
# of a driver): 2.1 relative standard errors of the ratio of the means
# (delta method). Busybox's awk has no math functions: sqrt by Newton.
ci_halfwidths() {
	awk '
	{ k = $1 SUBSEP $2; n[k]++; s[k] += $3; q[k] += $3 * $3 }
	function var(k,  v) {
		v = n[k] > 1 ? (q[k] - s[k] * s[k] / n[k]) / (n[k] - 1) : 0
		return v > 0 ? v : 0
	}
	function root(x,  r, i) {
		if (x <= 0) return 0
		r = x > 1 ? x : 1
		for (i = 0; i < 60; i++) r = (r + x / r) / 2
		return r
	}
	END {
		split("tcp_tx tcp_rx udp_pps", m, " ")
		for (i = 1; i <= 3; i++) {
			a = "xen_pv_net" SUBSEP m[i]; b = "xen-netfront" SUBSEP m[i]
			if (n[a] < 3 || n[b] < 3 || s[a] <= 0 || s[b] <= 0) { printf "%s=inf ", m[i]; continue }
			ma = s[a] / n[a]; mb = s[b] / n[b]
			rse = root(var(a) / n[a] / (ma * ma) + var(b) / n[b] / (mb * mb))
			printf "%s=%.1f ", m[i], 2.1 * rse * 100
		}
	}' "$VALS"
}
# converged: all three half-widths known and below CI percent.
converged() {
	ci_halfwidths | tr ' ' '\n' | awk -F= -v ci="$CI" '
		NF == 2 { k++; if ($2 == "inf" || $2 + 0 >= ci + 0) bad = 1 }
		END { exit (bad || k != 3) }'
}

# cpu_busy: busy jiffies of all CPUs (everything but idle and iowait).
cpu_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
if_bytes() {
	echo $(($(cat "/sys/class/net/$1/statistics/rx_bytes") + $(cat "/sys/class/net/$1/statistics/tx_bytes")))
}

# host_cpu PEER: dom0's uptime and the CPU seconds Xen accounted to dom0
# and to the domU so far (scripts/lab/bench-dom0.sh), or nothing.
host_cpu() { wget -q -T 10 -O - "http://$1/cgi-bin/cpu" 2>/dev/null | tail -n 1; }
# emit_host ROUND DRIVER TEST BEFORE AFTER: the host CPUs dom0 and the domU
# kept busy during TEST (CPU seconds per second, out of the host's CPUs),
# from two host_cpu samples.
emit_host() {
	_v=$(echo "$4 $5" | awk 'NF == 6 && $4 > $1 {
		printf "%.3f %.3f", ($5 - $2) / ($4 - $1), ($6 - $3) / ($4 - $1) }')
	if [ -z "$_v" ]; then
		log "$2 $3: no CPU accounting from dom0"
		return 0
	fi
	set -- "$1" "$2" "$3" $_v
	emit "$1" "$2" "host_$3_dom0" "$4"
	emit "$1" "$2" "host_$3_domU" "$5"
}

# measure ROUND DRIVER IF LOCAL PEER
measure() {
	_r=$1 _d=$2 _if=$3 _ip=$4 _peer=$5
	ping -c 2 -W 5 -I "$_if" "$_peer" >/dev/null 2>&1
	ping_ok "$_peer" 3 "$_if" || fail "$_d: ping $_peer failed"
	_b0=$(if_bytes "$_if")
	_c0=$(cpu_busy)
	_h0=$(host_cpu "$_peer")
	_tx=$(iperf_to "$_peer" "$SECS" -B "$_ip") || fail "$_d: iperf3 TCP guest->dom0 failed"
	_h1=$(host_cpu "$_peer")
	emit_host "$_r" "$_d" tcp_tx "$_h0" "$_h1"
	_h0=$(host_cpu "$_peer")
	_rx=$(iperf_to "$_peer" "$SECS" -B "$_ip" -R) || fail "$_d: iperf3 TCP dom0->guest failed"
	_h1=$(host_cpu "$_peer")
	emit_host "$_r" "$_d" tcp_rx "$_h0" "$_h1"
	_c1=$(cpu_busy)
	_b1=$(if_bytes "$_if")
	[ "${_tx:-0}" -gt 0 ] && [ "${_rx:-0}" -gt 0 ] || fail "$_d: no TCP throughput"
	emit "$_r" "$_d" tcp_tx "$_tx"
	emit "$_r" "$_d" tcp_rx "$_rx"
	# USER_HZ is 100: jiffies/100 = CPU seconds; per 10^9 bytes moved.
	emit "$_r" "$_d" cpu_s_per_gb "$(awk -v c=$((_c1 - _c0)) -v b=$((_b1 - _b0)) \
		'BEGIN { if (b > 0) printf "%.3f", c / 100 / (b / 1e9); else print "nan" }')"

	_h0=$(host_cpu "$_peer")
	_u=$(iperf3 -c "$_peer" -B "$_ip" -u -b 0 -l 64 -t "$SECS" -f m 2>&1) ||
		{ echo "$_u" | sed 's/^/  iperf3: /'; fail "$_d: iperf3 UDP failed"; }
	_h1=$(host_cpu "$_peer")
	emit_host "$_r" "$_d" udp "$_h0" "$_h1"
	echo "$_u" | grep receiver | sed 's/^/  iperf3: /'
	# The receiver's "lost/total" datagrams: total is what the guest sent.
	_lt=$(echo "$_u" | awk '/receiver/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\/[0-9]+$/) { split($i, a, "/"); print a[1], a[2]; exit } }')
	set -- $_lt
	[ $# = 2 ] && [ "$2" -gt "$1" ] || fail "$_d: no UDP packets received"
	emit "$_r" "$_d" udp_pps $((($2 - $1) / SECS))
	emit "$_r" "$_d" udp_sent_pps $(($2 / SECS))
	emit "$_r" "$_d" udp_lost_pct "$(awk -v l="$1" -v t="$2" 'BEGIN { printf "%.1f", 100 * l / t }')"

	_p=$(ping -c "$PINGS" -i 0.05 -W 5 -I "$_if" "$_peer" 2>&1)
	echo "$_p" | tail -n 2 | sed 's/^/  ping: /'
	echo "$_p" | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -n >/tmp/rtt
	_n=$(wc -l </tmp/rtt)
	[ "$_n" -gt 0 ] || fail "$_d: no ping replies"
	emit "$_r" "$_d" rtt_avg_ms "$(awk '{s += $1} END {printf "%.3f", s / NR}' /tmp/rtt)"
	emit "$_r" "$_d" rtt_p99_ms "$(awk -v n="$_n" 'NR == int((n * 99 + 99) / 100) {print; exit}' /tmp/rtt)"
}

# bench_pv ROUND NAME: load the driver NAME stands for, measure, unload.
bench_pv() {
	log "round $1: $2"
	case $2 in
	xen_pv_net) load_xpn || fail "insmod xen_pv_net failed" ;;
	xen_pv_net-trusted) load_xpn trusted=1 || fail "insmod xen_pv_net trusted=1 failed" ;;
	xen-netfront) load_netfront || fail "modprobe xen-netfront failed" ;;
	xen-netfront-trusted0) load_netfront trusted=0 || fail "modprobe xen-netfront trusted=0 failed" ;;
	esac
	case $2 in
	xen_pv_net*) _want=xen_pv_net ;;
	*) _want="vif xen-netfront" ;;
	esac
	_if=$(pv_up "$_want" 60) || fail "no vif bound to $2"
	wait_link "$_if" 30 || fail "$_if: no carrier"
	measure "$1" "$2" "$_if" "$XPN_PV_IP" "$XPN_PV_PEER"
	case $2 in
	xen_pv_net*) rmmod xen_pv_net || fail "rmmod xen_pv_net failed" ;;
	# xenbus pins xen-netfront while it has devices: unbind them first.
	*) xen_unbind vif && rmmod xen_netfront || fail "rmmod xen-netfront failed" ;;
	esac
}

: >"$VALS"
emu=$(emu_up 60) || fail "no e1000 interface"
wait_link "$emu" 30 || fail "$emu: no carrier"
log "vCPUs: $(grep -c ^processor /proc/cpuinfo); rounds: $MIN to $MAX until ours/C is known to +-$CI%"
r=1
while [ $r -le "$MAX" ]; do
	set -- xen_pv_net xen-netfront
	[ $((r % 2)) = 0 ] && set -- "$@" xen_pv_net-trusted xen-netfront-trusted0
	if [ $((r % 2)) = 1 ]; then
		for d in "$@"; do bench_pv $r "$d"; done
	else
		for d in xen-netfront-trusted0 xen_pv_net-trusted xen-netfront xen_pv_net; do bench_pv $r "$d"; done
	fi
	if [ $r = 1 ] || [ $((r % 4)) = 0 ]; then
		log "round $r: e1000"
		measure $r e1000 "$emu" "$XPN_EMU_IP" "$XPN_EMU_PEER"
	fi
	log "after round $r: ours/C 95% interval half-widths (%): $(ci_halfwidths)"
	if [ $r -ge "$MIN" ] && converged; then
		log "the intervals are narrower than +-$CI% after $r rounds"
		break
	fi
	r=$((r + 1))
done
[ $r -le "$MAX" ] || log "after $MAX rounds some interval is still wider than +-$CI%"
echo "XPN-BENCH-ROUNDS $((r > MAX ? MAX : r)) vcpus=$(grep -c ^processor /proc/cpuinfo)"
kernel_log_clean || fail "kernel log not clean"
log "benchmark done"

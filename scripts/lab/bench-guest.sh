# SPDX-License-Identifier: GPL-2.0
# The benchmark's guest side (scripts/bench.sh): in one HVM domU, measure
# three NICs in interleaved rounds:
#   xen_pv_net   our vif
#   xen-netfront the same vif driven by Linux's C driver (ours unloaded)
#   e1000        the emulated NIC
# Each measurement prints one machine-readable line:
#   XPN-BENCH round=R driver=D metric=M value=V
# Metrics: tcp_tx, tcp_rx (Mbit/s, iperf3 TCP guest->dom0 / dom0->guest),
# udp_pps (64-byte UDP payloads, unthrottled, packets/s received by dom0),
# rtt_avg_ms, rtt_p99_ms (ping, 0.05 s interval), cpu_s_per_gb (guest CPU
# time from /proc/stat per GB moved over the NIC during the TCP runs).
# A NIC that cannot carry traffic fails the run.

ROUNDS=${XPN_BENCH_ROUNDS:-3}
SECS=${XPN_BENCH_SECS:-5}
PINGS=${XPN_BENCH_PINGS:-100}

on_xen || fail "not running as a Xen guest"
module_loaded xen_netfront && fail "xen-netfront already loaded"

emit() { echo "XPN-BENCH round=$1 driver=$2 metric=$3 value=$4"; }

# cpu_busy: busy jiffies of all CPUs (everything but idle and iowait).
cpu_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
if_bytes() {
	echo $(($(cat "/sys/class/net/$1/statistics/rx_bytes") + $(cat "/sys/class/net/$1/statistics/tx_bytes")))
}

# measure ROUND DRIVER IF LOCAL PEER
measure() {
	_r=$1 _d=$2 _if=$3 _ip=$4 _peer=$5
	ping -c 2 -W 5 -I "$_if" "$_peer" >/dev/null 2>&1
	ping_ok "$_peer" 3 "$_if" || fail "$_d: ping $_peer failed"
	_b0=$(if_bytes "$_if")
	_c0=$(cpu_busy)
	_tx=$(iperf_to "$_peer" "$SECS" -B "$_ip") || fail "$_d: iperf3 TCP guest->dom0 failed"
	_rx=$(iperf_to "$_peer" "$SECS" -B "$_ip" -R) || fail "$_d: iperf3 TCP dom0->guest failed"
	_c1=$(cpu_busy)
	_b1=$(if_bytes "$_if")
	[ "${_tx:-0}" -gt 0 ] && [ "${_rx:-0}" -gt 0 ] || fail "$_d: no TCP throughput"
	emit "$_r" "$_d" tcp_tx "$_tx"
	emit "$_r" "$_d" tcp_rx "$_rx"
	# USER_HZ is 100: jiffies/100 = CPU seconds; per 10^9 bytes moved.
	emit "$_r" "$_d" cpu_s_per_gb "$(awk -v c=$((_c1 - _c0)) -v b=$((_b1 - _b0)) \
		'BEGIN { if (b > 0) printf "%.3f", c / 100 / (b / 1e9); else print "nan" }')"

	_u=$(iperf3 -c "$_peer" -B "$_ip" -u -b 0 -l 64 -t "$SECS" -f m 2>&1) ||
		{ echo "$_u" | sed 's/^/  iperf3: /'; fail "$_d: iperf3 UDP failed"; }
	echo "$_u" | grep receiver | sed 's/^/  iperf3: /'
	emit "$_r" "$_d" udp_pps "$(echo "$_u" | awk -v s="$SECS" '/receiver/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\/[0-9]+$/) { split($i, a, "/"); printf "%d", (a[2] - a[1]) / s; exit } }')"

	_p=$(ping -c "$PINGS" -i 0.05 -W 5 -I "$_if" "$_peer" 2>&1)
	echo "$_p" | tail -n 2 | sed 's/^/  ping: /'
	echo "$_p" | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -n >/tmp/rtt
	_n=$(wc -l </tmp/rtt)
	[ "$_n" -gt 0 ] || fail "$_d: no ping replies"
	emit "$_r" "$_d" rtt_avg_ms "$(awk '{s += $1} END {printf "%.3f", s / NR}' /tmp/rtt)"
	emit "$_r" "$_d" rtt_p99_ms "$(awk -v n="$_n" 'NR == int((n * 99 + 99) / 100) {print; exit}' /tmp/rtt)"
}

emu=$(emu_up 60) || fail "no e1000 interface"
wait_link "$emu" 30 || fail "$emu: no carrier"
r=1
while [ $r -le "$ROUNDS" ]; do
	log "round $r: xen_pv_net"
	load_xpn || fail "insmod xen_pv_net failed"
	pv=$(pv_up xen_pv_net 60) || fail "no vif bound to xen_pv_net"
	wait_link "$pv" 30 || fail "$pv: no carrier"
	measure $r xen_pv_net "$pv" "$XPN_PV_IP" "$XPN_PV_PEER"
	rmmod xen_pv_net || fail "rmmod xen_pv_net failed"

	log "round $r: xen-netfront"
	load_netfront || fail "modprobe xen-netfront failed"
	nf=$(pv_up "vif xen-netfront" 60) || fail "no vif bound to xen-netfront"
	wait_link "$nf" 30 || fail "$nf: no carrier"
	measure $r xen-netfront "$nf" "$XPN_PV_IP" "$XPN_PV_PEER"
	# xenbus pins xen-netfront while it has devices: unbind them first.
	xen_unbind vif && rmmod xen_netfront || fail "rmmod xen-netfront failed"

	log "round $r: e1000"
	measure $r e1000 "$emu" "$XPN_EMU_IP" "$XPN_EMU_PEER"
	r=$((r + 1))
done
kernel_log_clean || fail "kernel log not clean"
log "benchmark done"

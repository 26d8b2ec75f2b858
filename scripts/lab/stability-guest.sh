# SPDX-License-Identifier: GPL-2.0
# Guest side of the lab stability measurement (scripts/lab-stability.sh),
# paired with stability-dom0.sh. It uses only the in-tree xen-netfront, so
# that a death of the domU measures the emulated lab, not our driver:
#   - iperf3 -P 4 both ways over 4 queues;
#   - xl network-detach / network-attach, then traffic again;
#   - two xl save + xl restore cycles under a TCP flow, a ping after each;
#   - no WARN/BUG/oops in the kernel log.

log "stability: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
check "modprobe xen-netfront max_queues=4" load_netfront max_queues=4
pv=$(pv_up vif 60) || fail "no PV interface bound to xen-netfront"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
log "queues: $(ls -d /sys/class/net/"$pv"/queues/tx-* | wc -l)"

# flows: iperf3 -P 4 each way must move data.
flows() {
	_a=$(iperf_to "$XPN_PV_PEER" 5 -B "$XPN_PV_IP" -P 4) && [ "${_a:-0}" -gt 0 ] || return 1
	_b=$(iperf_to "$XPN_PV_PEER" 5 -B "$XPN_PV_IP" -P 4 -R) && [ "${_b:-0}" -gt 0 ] || return 1
	echo "  iperf3 -P 4: $_a Mbit/s guest->dom0, $_b Mbit/s dom0->guest" >&2
}
check "traffic on 4 queues both ways" flows

# Requests to dom0 go over the vif: dom0 polls this web server.
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
detach_attach vif
check "ping dom0 over the re-attached $pv" ping_ok "$XPN_PV_PEER" 5 "$pv"
check "traffic on the re-attached vif" flows

# Save and restore under a TCP flow (dom0 does both when asked; the flow's
# own fate is not this measurement's business).
iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -t 900 -P 2 >/tmp/iperf-long.log 2>&1 &
flow=$!
sleep 3
for i in 1 2; do
	touch "/tmp/www/save-$i.req"
	wait_http "http://$XPN_PV_PEER/restored-$i" 600 || fail "dom0 never restored us (cycle $i)"
	ping_ok "$XPN_PV_PEER" 3 "$pv" || ping_ok "$XPN_PV_PEER" 3 "$pv" ||
		fail "no traffic after restore $i"
	log "ok: save + restore cycle $i"
done
kill $flow 2>/dev/null
wait $flow 2>/dev/null
check "kernel log clean" kernel_log_clean
log "stability scenario passed"

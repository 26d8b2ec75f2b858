# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/lab-load-deaths.sh: one PV driver ($XPN_LOAD_DRV,
# xen_pv_net or xen-netfront, 2 queues) under sustained traffic both ways
# for $XPN_LOAD_SECS seconds (iperf3 -P 2 to dom0 and -P 2 -R from dom0 at
# once, and a ping every 0.2 s), nothing else; the dom0 side is
# tests/lab/xen-lifecycle.dom0 (its servers on ports 5202 and 5203).
log "load: $XPN_LOAD_DRV for $XPN_LOAD_SECS s, $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
if [ "$XPN_LOAD_DRV" = xen_pv_net ]; then
	check "insmod $XPN_KO max_queues=2" load_xpn max_queues=2
	pv=$(pv_up xen_pv_net 60) || fail "no PV interface bound to xen_pv_net"
else
	check "modprobe xen-netfront max_queues=2" load_netfront max_queues=2
	pv=$(pv_up "vif xen-netfront" 60) || fail "no PV interface bound to xen-netfront"
fi
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
wait_http "http://$XPN_PV_PEER/servers.ready" 300 || fail "dom0 never started its iperf3 servers"
iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -p 5202 -t "$XPN_LOAD_SECS" -P 2 >/tmp/tx.log 2>&1 &
tx=$!
iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -p 5203 -t "$XPN_LOAD_SECS" -P 2 -R >/tmp/rx.log 2>&1 &
rx=$!
ping -q -i 0.2 -w "$XPN_LOAD_SECS" "$XPN_PV_PEER" >/tmp/ping.log 2>&1 &
t=0
while [ $t -lt "$XPN_LOAD_SECS" ]; do
	sleep 30
	t=$((t + 30))
	alive() { kill -0 "$1" 2>/dev/null && echo y || echo n; }
	log "load: $t s, tx alive $(alive $tx), rx alive $(alive $rx)"
done
wait $tx
wait $rx
log "tx: $(grep -E 'receiver' /tmp/tx.log | tail -n 1)"
log "rx: $(grep -E 'receiver' /tmp/rx.log | tail -n 1)"
touch /tmp/www/detach.done
check "kernel log clean" kernel_log_clean
log "load passed"

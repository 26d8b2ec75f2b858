# SPDX-License-Identifier: GPL-2.0
# xpn-lab: guest-debug (the guest kernel checks freed memory: scripts/lab.sh XPN_LAB_GUEST_DEBUG)
# Lab guest scenario: xen_pv_net's data path against the real xen-netback.
# Pairs with xen-datapath.dom0 (64 MiB transfer files, both ways).
#   - the vif comes up bound to xen_pv_net with an IP, carrier on;
#   - its interrupts are named as xen-netfront's: vif<devid>-q<N>-tx and
#     -rx for each queue (split event channels, as xen-netback offers);
#   - 100 pings to dom0 with 0% loss;
#   - iperf3 TCP guest->dom0 and dom0->guest (-R), UDP, all complete;
#   - a 64 MiB random file each way arrives with the same sha256;
#   - no WARN/BUG/oops/"broken" line in the kernel log.

log "datapath: $(uname -r)"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO" load_xpn
pv=$(pv_up xen_pv_net 60) || fail "no interface with MAC $XPN_PV_MAC bound to xen_pv_net"
log "PV interface: $pv (driver $(iface_driver "$pv"))"
wait_link "$pv" 30 || fail "$pv: no carrier"
ip addr show dev "$pv" | grep -q "inet $XPN_PV_IP/" || fail "$pv has no address"
devid=$(basename "$(readlink "/sys/class/net/$pv/device")")
devid=${devid#vif-}
nq=$(ls -d "/sys/class/net/$pv/queues/tx-"* | wc -l)
q=0
while [ $q -lt "$nq" ]; do
	for dir in tx rx; do
		grep -q " vif$devid-q$q-$dir\$" /proc/interrupts ||
			fail "no interrupt named vif$devid-q$q-$dir: $(grep -o ' vif[^ ]*$' /proc/interrupts | tr '\n' ' ')"
	done
	q=$((q + 1))
done
log "ok: interrupts vif$devid-q0..$((nq - 1))-tx/-rx"

check "ping dom0 100 times, 0% loss" ping_n "$XPN_PV_PEER" 100 "$pv"

tcp=$(iperf_to "$XPN_PV_PEER" 5 -B "$XPN_PV_IP") || fail "iperf3 TCP guest->dom0 failed"
[ "${tcp:-0}" -gt 0 ] || fail "iperf3 TCP guest->dom0: no throughput"
log "ok: iperf3 TCP guest->dom0: $tcp Mbit/s"
tcpr=$(iperf_to "$XPN_PV_PEER" 5 -B "$XPN_PV_IP" -R) || fail "iperf3 TCP dom0->guest failed"
[ "${tcpr:-0}" -gt 0 ] || fail "iperf3 TCP dom0->guest: no throughput"
log "ok: iperf3 TCP dom0->guest: $tcpr Mbit/s"
udp=$(iperf_to "$XPN_PV_PEER" 3 -B "$XPN_PV_IP" -u -b 50M) || fail "iperf3 UDP failed"
log "ok: iperf3 UDP guest->dom0 completed: $udp Mbit/s"

# dom0 -> guest: dom0 publishes down.bin and its sha256.
wait_http "http://$XPN_PV_PEER/down.ready" 300 || fail "dom0 never published down.bin"
http_get "http://$XPN_PV_PEER/down.bin" /tmp/down.bin || fail "wget down.bin failed"
want=$(wget -q -O - "http://$XPN_PV_PEER/down.sha") || fail "wget down.sha failed"
got=$(sha256sum /tmp/down.bin | cut -d' ' -f1)
log "down.bin: $(wc -c </tmp/down.bin) bytes, sha256 $got (dom0: $want)"
[ -n "$want" ] && [ "$got" = "$want" ] || fail "64 MiB dom0->guest: sha256 differs"
log "ok: 64 MiB dom0->guest intact"
rm -f /tmp/down.bin

# guest -> dom0: we serve up.bin, dom0 fetches it over the vif and
# publishes the sha256 it computed.
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/up.bin bs=1M count=64 2>/dev/null
mine=$(sha256sum /tmp/www/up.bin | cut -d' ' -f1)
busybox httpd -p 8080 -h /tmp/www
touch /tmp/www/up.ready
wait_http "http://$XPN_PV_PEER/up.sha" 300 || fail "dom0 never published up.sha"
theirs=$(wget -q -O - "http://$XPN_PV_PEER/up.sha")
log "up.bin sha256 $mine (dom0: $theirs)"
[ "$mine" = "$theirs" ] || fail "64 MiB guest->dom0: sha256 differs"
log "ok: 64 MiB guest->dom0 intact"

log "interface counters: $(cat /sys/class/net/$pv/statistics/rx_packets) rx, $(cat /sys/class/net/$pv/statistics/tx_packets) tx packets"
check "kernel log clean" kernel_log_clean
log "datapath passed"

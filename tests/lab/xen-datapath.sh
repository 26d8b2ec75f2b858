# SPDX-License-Identifier: GPL-2.0
# xpn-lab: guest-debug (the guest kernel checks freed memory: scripts/lab.sh XPN_LAB_GUEST_DEBUG)
# Lab guest scenario: loading xen_pv_net, then its data path against the
# real xen-netback, then the lab's own emulated network, in one boot.
# Pairs with xen-datapath.dom0 (64 MiB transfer files, both ways).
#   - with xen-netfront loaded, insmod fails with EBUSY and says why;
#   - xen_pv_net.ko loads, registers its xenbus frontend, its vif comes up;
#   - unbinding and binding the device work; rmmod with the interface up;
#   - loaded again: the vif comes up bound to xen_pv_net with an IP,
#     carrier on;
#   - its interrupts are named as xen-netfront's: vif<devid>-q<N>-tx and
#     -rx for each queue (split event channels, as xen-netback offers);
#   - 100 pings to dom0 with 0% loss;
#   - iperf3 TCP guest->dom0 and dom0->guest (-R), UDP, all complete;
#   - a 64 MiB random file each way arrives with the same sha256;
#   - the lab network carries traffic: e1000 10.0.1.2 -> dom0 10.0.1.1,
#     ping, a 4 MiB HTTP download (checksummed) and a 3 s iperf3 dom0 ->
#     guest (guest -> dom0 is reported, not checked: see below);
#   - no WARN/BUG/oops/"broken" line in the kernel log.

log "datapath: $(uname -r)"
on_xen || fail "not running as a Xen guest"
module_loaded xen_netfront && fail "xen-netfront is loaded: it would own the vif devices"

# Probing the emulated e1000 takes a minute under TCG (every register access
# is a round trip through Xen and dom0's device model): start it now.
modprobe e1000 &

# With the C driver owning vif, we must refuse with a message that says so.
check "modprobe xen-netfront" load_netfront
out=$(insmod "$XPN_KO" 2>&1) && fail "insmod succeeded while xen-netfront owns vif"
log "insmod said: $out"
case $out in *"busy"*) ;; *) fail "insmod did not fail with EBUSY" ;; esac
check "dmesg names the conflict" sh -c "dmesg | grep -q 'xen_pv_net: xenbus device type vif is already driven by another driver (xen-netfront loaded?)'"
check "unload xen-netfront" sh -c '. /lab/lib-guest.sh; xen_unbind vif && rmmod xen_netfront'

check "insmod $XPN_KO" load_xpn
check "xen_pv_net listed in /proc/modules" module_loaded xen_pv_net
check "frontend registered (dmesg)" \
	sh -c "dmesg | grep -q 'xen_pv_net: Xen PV network frontend registered'"
pv=$(pv_up xen_pv_net 60) || fail "no interface with MAC $XPN_PV_MAC bound to xen_pv_net"
wait_link "$pv" 30 || fail "$pv: no carrier"
log "xen_pv_net kernel messages:"
xpn_dmesg | sed 's/^/  /'
list_ifaces
check "kernel log clean after load" kernel_log_clean

# Unbinding the device removes the interface; binding brings it back.
check "unbind vif-0" sh -c 'echo vif-0 >/sys/bus/xen/drivers/xen_pv_net/unbind'
iface_by_mac "$XPN_PV_MAC" xen_pv_net >/dev/null && fail "interface still there after unbind"
check "bind vif-0" sh -c 'echo vif-0 >/sys/bus/xen/drivers/xen_pv_net/bind'
pv=$(pv_up xen_pv_net 60) || fail "no interface after bind"
wait_link "$pv" 30 || fail "$pv: no carrier after bind"
check "ping dom0 after rebind" ping_ok "$XPN_PV_PEER" 3 "$pv"

# rmmod with the interface up.
check "rmmod xen_pv_net with $pv up" rmmod xen_pv_net
check "xen_pv_net gone from /proc/modules" sh -c '! grep -q "^xen_pv_net " /proc/modules'
check "kernel log clean after unload" kernel_log_clean

# Loaded again, for the data path.
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
# The lab itself: the emulated e1000 on xenbr0, to dom0.
wait
ifc=$(emu_up) || fail "no e1000 interface (MAC $XPN_EMU_MAC)"
log "e1000 is $ifc"
wait_link "$ifc" 20 || fail "$ifc: no carrier"
check "ping $XPN_EMU_PEER over $ifc" ping_ok "$XPN_EMU_PEER" 5 "$ifc"
http_get "http://$XPN_EMU_PEER/blob-4M.sha256" /tmp/blob.sha256 || fail "wget of blob-4M.sha256"
http_get "http://$XPN_EMU_PEER/blob-4M" /tmp/blob || fail "wget of blob-4M"
[ "$(sha256sum /tmp/blob | cut -d' ' -f1)" = "$(cat /tmp/blob.sha256)" ] ||
	fail "blob-4M corrupted in transit"
log "ok: 4 MiB over HTTP from dom0 intact"
# iperf3 dom0 -> guest (-R) is the verdict. The other direction is only
# reported: bulk TCP from the guest's emulated e1000 to dom0 has been seen
# to stall completely in this nested-TCG lab (ping and small requests pass).
rate=$(iperf_exact "$XPN_EMU_PEER" 3 -R) || fail "iperf3 -R from $XPN_EMU_PEER failed"
rate_ge "$rate" 0.01 || fail "iperf3 -R reported no throughput"
log "ok: e1000 iperf3 dom0 -> guest: $rate Mbit/s"
if up=$(iperf_exact "$XPN_EMU_PEER" 3) && [ -n "$up" ]; then
	log "info: e1000 iperf3 guest -> dom0: $up Mbit/s"
else
	log "info: e1000 iperf3 guest -> dom0 failed (known lab issue, not checked)"
fi
check "kernel log clean at the end" kernel_log_clean

log "datapath passed"

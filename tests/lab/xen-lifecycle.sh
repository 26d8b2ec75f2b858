# SPDX-License-Identifier: GPL-2.0
# xpn-lab: guest-debug (the guest kernel checks freed memory: scripts/lab.sh XPN_LAB_GUEST_DEBUG)
# Lab guest scenario: xen_pv_net's lifecycle against the real xen-netback.
# Pairs with xen-lifecycle.dom0 (xl network-detach / network-attach).
#   - 20 cycles of rmmod/insmod with traffic flowing during rmmod, and a
#     working interface after each insmod;
#   - `xl network-detach` removes the interface cleanly, `xl network-attach`
#     brings a working one back, with the module loaded throughout;
#   - no WARN/BUG/oops/"broken" line in the kernel log.

log "lifecycle: $(uname -r)"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO" load_xpn
pv=$(pv_up xen_pv_net 60) || fail "no PV interface bound to xen_pv_net"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"

i=1
while [ $i -le 20 ]; do
	# Traffic in flight while the module goes away: a bulk download and
	# a fast ping.
	wget -q -O /dev/null "http://$XPN_PV_PEER/bulk.bin" 2>/dev/null &
	w=$!
	ping -q -i 0.05 "$XPN_PV_PEER" >/dev/null 2>&1 &
	p=$!
	sleep 1
	rmmod xen_pv_net || fail "cycle $i: rmmod with traffic flowing failed"
	kill $w $p 2>/dev/null
	wait $w $p 2>/dev/null
	iface_by_mac "$XPN_PV_MAC" xen_pv_net >/dev/null && fail "cycle $i: interface still there after rmmod"
	load_xpn || fail "cycle $i: insmod failed"
	pv=$(pv_up xen_pv_net 60) || fail "cycle $i: no interface after insmod"
	wait_link "$pv" 30 || fail "cycle $i: no carrier"
	# Under TCG the first exchange after a reconnect can take a few
	# seconds (ARP, bridge): up to three tries, then it must work.
	ping_ok "$XPN_PV_PEER" 2 "$pv" || ping_ok "$XPN_PV_PEER" 2 "$pv" ||
		ping_ok "$XPN_PV_PEER" 2 "$pv" || fail "cycle $i: no traffic after reload"
	log "ok: reload cycle $i"
	i=$((i + 1))
done
check "kernel log clean after 20 reload cycles" kernel_log_clean

# Detach and attach: we ask dom0 over the vif itself, then watch it go away
# and a new one arrive.
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
detach_attach xen_pv_net
check "ping dom0 over the re-attached $pv" ping_ok "$XPN_PV_PEER" 5 "$pv"
check "module stayed loaded" module_loaded xen_pv_net
check "kernel log clean" kernel_log_clean
log "lifecycle passed"

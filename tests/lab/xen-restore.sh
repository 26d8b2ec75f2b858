# SPDX-License-Identifier: GPL-2.0
# xpn-lab: guest-debug (the guest kernel checks freed memory: scripts/lab.sh XPN_LAB_GUEST_DEBUG)
# Lab guest scenario: xen_pv_net across xl save + xl restore (the xenbus
# resume path a migration takes too). Pairs with xen-restore.dom0.
#   - three save + restore cycles while a TCP stream (iperf3, opened before
#     the first cycle) runs; after each, traffic within seconds;
#   - the stream opened before the cycles still carries data after them;
#   - a 16 MiB file each way, checked by sha256;
#   - the grant references and interrupts the driver holds are the same
#     after the cycles as before;
#   - the module unloads without an accounting error; the kernel log stays
#     clean.
# The in-tree xen-netfront through the same steps is a separate, reported
# run (scripts/lab/restore-reference.sh): it is the reference, not a gate.
CYCLES=${XPN_RESTORE_CYCLES:-3}

log "restore: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO" load_xpn
pv=$(pv_up xen_pv_net 60) || fail "no PV interface bound to xen_pv_net"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www

before=$(driver_holds "$pv")
log "before the cycles: $before"

restore_cycles "$pv" "$CYCLES"
pv=$(iface_by_mac "$XPN_PV_MAC" xen_pv_net) || fail "no interface after the cycles"
after=$(driver_holds "$pv")
log "after the cycles: $after"
[ "$after" = "$before" ] || fail "the driver holds other resources after the cycles ($after, before: $before)"
sha_both_ways
ethtool -S "$pv" | grep -E 'q0_(interrupts|spurious|rx_packets|tx_packets|pages|grant)' | sed 's/^/  /'
check "unload xen_pv_net" unload_xpn
accounting_ok || fail "accounting error at unload"
check "kernel log clean" kernel_log_clean
log "restore passed"

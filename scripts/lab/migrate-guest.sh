# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/lab-migrate.sh: xen_pv_net across three live
# migrations to the same host (xl migrate, done by tests/lab/xen-restore.dom0
# when asked), with the checks of tests/lab/xen-restore.sh: a TCP stream
# opened before the first migration still carries data after the last,
# traffic within seconds after each, the same grant references and
# interrupts held, 16 MiB each way by sha256, a clean unload and log.
CYCLES=3

log "migrate: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO" load_xpn
pv=$(pv_up xen_pv_net 60) || fail "no PV interface bound to xen_pv_net"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
before=$(driver_holds "$pv")
log "before the migrations: $before"
restore_cycles "$pv" "$CYCLES" migrate
pv=$(iface_by_mac "$XPN_PV_MAC" xen_pv_net) || fail "no interface after the migrations"
after=$(driver_holds "$pv")
log "after the migrations: $after"
[ "$after" = "$before" ] || fail "the driver holds other resources after the migrations ($after, before: $before)"
sha_both_ways
check "unload xen_pv_net" unload_xpn
accounting_ok || fail "accounting error at unload"
check "kernel log clean" kernel_log_clean
log "migrate passed"

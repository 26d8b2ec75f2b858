# SPDX-License-Identifier: GPL-2.0
# xpn-lab: guest-debug (the guest kernel checks freed memory: scripts/lab.sh XPN_LAB_GUEST_DEBUG)
# Lab guest scenario: xen_pv_net torn down under load, against the real
# xen-netback. Pairs with xen-lifecycle.dom0 (extra iperf3 servers, xl
# network-detach / network-attach). With TX saturated by iperf3 each time:
#   - CYCLES x ethtool -L (2 -> 1 -> 2 ... queues) across one TCP flow opened
#     before the first, which must still carry data after the last; the
#     grant references and interrupts held are the same after as before;
#   - CYCLES x rmmod (with a download and a fast ping too) then insmod: each
#     unload without an accounting error, a working interface after each
#     load;
#   - CYCLES x xl network-detach + network-attach with the module loaded:
#     the interface goes away and a working one comes back, holding what
#     the first one held;
#   - no WARN/BUG/oops/"broken" line in the kernel log (the guest kernel
#     poisons and checks freed memory).
# LIFECYCLE_CYCLES (set by scripts/test.sh: 2 in the suite, whose time is
# bounded; XPN_LIFECYCLE_CYCLES=20 for the full series, about 30 minutes).
# Even, so that the -L series ends at 2 queues, where it started.
CYCLES=${LIFECYCLE_CYCLES:-20}
CYCLES=$(((CYCLES + 1) / 2 * 2))
# As many detaches (the lab with dom0's two vCPUs did not survive the
# minutes of load 20 take, README; it kept one until 2026-12-04).
DETACHES=$CYCLES

log "lifecycle: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs, $CYCLES -L changes and reloads, $DETACHES detaches"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO max_queues=2" load_xpn max_queues=2
pv=$(pv_up xen_pv_net 60) || fail "no PV interface bound to xen_pv_net"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
teardown_under_load xen_pv_net "$CYCLES" "$DETACHES"
check "module stayed loaded" module_loaded xen_pv_net
check "unload xen_pv_net" unload_xpn
accounting_ok || fail "accounting error at the last unload"
check "kernel log clean" kernel_log_clean
log "lifecycle passed"

# SPDX-License-Identifier: GPL-2.0
# The reference for tests/lab/xen-restore.sh: the in-tree xen-netfront
# through the same steps (three xl save + xl restore cycles under a TCP
# stream, the stream afterwards, 16 MiB each way by sha256, unload, a clean
# kernel log), with the same dom0 side. A report, not a gate: run by hand,
#   scripts/lab.sh run scripts/lab/restore-reference.sh tests/lab/xen-restore.dom0
# and its outcome is cited in the README.
log "restore reference: xen-netfront, $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
check "modprobe xen-netfront" load_netfront
pv=$(pv_up vif 60) || fail "no PV interface bound to xen-netfront"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
irqs() { grep -c -- '-q[0-9]*-[rt]x\|-q[0-9]* *$' /proc/interrupts; }
before=$(irqs)
restore_cycles "$pv" 3
pv=$(iface_by_mac "$XPN_PV_MAC" vif) || fail "no interface after the cycles"
after=$(irqs)
log "interrupts: $before before the cycles, $after after"
sha_both_ways
xen_unbind vif && rmmod xen_netfront || fail "unloading xen-netfront failed"
check "kernel log clean" kernel_log_clean
log "restore reference passed"

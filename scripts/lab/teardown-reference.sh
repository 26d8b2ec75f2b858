# SPDX-License-Identifier: GPL-2.0
# The reference for tests/lab/xen-lifecycle.sh: the in-tree xen-netfront
# through the same teardowns under saturated TX (20 unbind + rmmod/modprobe
# and 20 xl network-detach/-attach; it has no ethtool -L), with the same
# dom0 side. A report, not a gate: run by hand,
#   XPN_LAB_GUEST_DEBUG=1 scripts/lab.sh run scripts/lab/teardown-reference.sh tests/lab/xen-lifecycle.dom0
log "teardown reference: xen-netfront, $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
check "modprobe xen-netfront max_queues=2" load_netfront max_queues=2
pv=$(pv_up "vif xen-netfront" 60) || fail "no PV interface bound to xen-netfront"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
teardown_under_load xen-netfront 20 20
_td_log "the detaches"
log "teardown reference done"

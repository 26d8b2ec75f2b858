# SPDX-License-Identifier: GPL-2.0
# Lab guest scenario (scripts/lab.sh run-native): the domU kernel under plain
# QEMU, no Xen. busybox sh; /lab/lib-guest.sh is already sourced.
#   - insmod xen_pv_net.ko fails with ENODEV ("No such device");
#   - the kernel log has exactly one xen_pv_net message (besides the taint
#     notice of an out-of-tree module), saying "not running on Xen";
#   - the kernel log stays clean.

log "smoke-native: $(uname -r)"
on_xen && fail "this scenario expects no Xen"

out=$(insmod "$XPN_KO" 2>&1) && fail "insmod succeeded without Xen"
log "insmod said: $out"
case $out in
*"No such device"*) log "ok: insmod failed with ENODEV" ;;
*) fail "insmod failed, but not with ENODEV" ;;
esac
module_loaded xen_pv_net && fail "xen_pv_net listed in /proc/modules"

msgs=$(xpn_dmesg | grep -v -e 'taints kernel' -e 'module verification failed')
echo "$msgs" | sed 's/^/  dmesg: /'
n=$(echo "$msgs" | grep -c .)
[ "$n" -eq 1 ] || fail "expected exactly one xen_pv_net message, got $n"
echo "$msgs" | grep -q 'not running on Xen' || fail "the xen_pv_net message does not say 'not running on Xen'"
log "ok: one xen_pv_net message: not running on Xen"
check "kernel log clean" kernel_log_clean

# Not part of the verdict: the e1000 on QEMU's user network.
if ifc=$(emu_up 10) && wait_link "$ifc" 10 && ping_ok "$XPN_EMU_PEER" 2 "$ifc"; then
	log "info: e1000 ($ifc) pings the QEMU user-net gateway"
else
	log "info: no ping over the e1000 on QEMU user networking (not checked)"
fi
log "smoke-native passed"

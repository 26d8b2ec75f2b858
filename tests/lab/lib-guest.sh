# SPDX-License-Identifier: GPL-2.0
# Helpers for lab guest scenarios (busybox sh). The domU's /init sources
# this file (as /lab/lib-guest.sh) before it sources the scenario, so a
# scenario just calls the functions; its exit status is the lab's result.
#
# The lab's network (scripts/lab/dom0-init, scripts/lab/domU-hvm.cfg):
#   PV vif   MAC 00:16:3e:00:00:10  guest 10.0.0.2/24  dom0 10.0.0.1
#   e1000    MAC 00:16:3e:00:00:20  guest 10.0.1.2/24  dom0 10.0.1.1
# The e1000 has a PV twin in XenStore (same MAC, devid 1), so a PV frontend
# is probed for it as well: always pick interfaces by MAC *and* driver.
# dom0 runs `iperf3 -s` and a web server on port 80 serving /srv/www, which
# holds blob-4M (random) and blob-4M.sha256.
# Under `lab.sh run-native` (plain QEMU, no Xen) the e1000 sits on QEMU's
# user network, whose gateway 10.0.1.1 answers ping (no iperf3 there).

XPN_KO=/lib/modules/xen_pv_net.ko
XPN_PV_MAC=00:16:3e:00:00:10
XPN_EMU_MAC=00:16:3e:00:00:20
XPN_PV_IP=10.0.0.2
XPN_PV_PEER=10.0.0.1
XPN_EMU_IP=10.0.1.2
XPN_EMU_PEER=10.0.1.1
# Driver names a PV vif interface can show: ours, or the C xen-netfront
# (whose xenbus driver is called "vif").
XPN_PV_DRIVERS="xen_pv_net vif xen-netfront"

log() { echo "[guest] $*"; }
# fail MSG: print "FAIL: MSG" and end the scenario with status 1.
fail() {
	echo "FAIL: $*"
	echo "last kernel messages:"
	dmesg | tail -n 25 | sed 's/^/  dmesg: /'
	for _d in /sys/class/net/*; do
		[ -e "$_d/device/driver" ] || continue
		echo "  ${_d##*/}: driver=$(basename "$(readlink "$_d/device/driver")") operstate=$(cat "$_d/operstate") carrier=$(cat "$_d/carrier" 2>/dev/null) rx=$(cat "$_d/statistics/rx_packets") tx=$(cat "$_d/statistics/tx_packets") rx_err=$(cat "$_d/statistics/rx_errors") tx_drop=$(cat "$_d/statistics/tx_dropped")"
	done
	exit 1
}
# check DESC CMD...: run CMD; log "ok: DESC" or fail with DESC.
check() {
	_desc=$1
	shift
	if "$@"; then log "ok: $_desc"; else fail "$_desc"; fi
}

# on_xen: true when running as a Xen guest.
on_xen() { [ "$(cat /sys/hypervisor/type 2>/dev/null)" = xen ]; }

# --- modules ---------------------------------------------------------------

# The module tools are kmod's, not busybox's: busybox's insmod retries a
# failed finit_module with init_module, running a failing module's init
# twice. Debian's busybox sh runs its own applets before searching PATH, so
# the full paths (symlinks to /usr/bin/kmod) are needed.
insmod() { /sbin/insmod "$@"; }
rmmod() { /sbin/rmmod "$@"; }
modprobe() { /sbin/modprobe "$@"; }
lsmod() { /sbin/lsmod "$@"; }
modinfo() { /sbin/modinfo "$@"; }

# module_loaded NAME: true if NAME is in /proc/modules.
module_loaded() { grep -q "^$1 " /proc/modules; }
# load_xpn: insmod our module (args are module parameters).
load_xpn() { insmod "$XPN_KO" "$@"; }
# load_netfront: load Debian's C xen-netfront (only one vif driver at a time).
load_netfront() { modprobe xen-netfront "$@"; }
# xen_unbind DRIVER: unbind every xenbus device bound to DRIVER (the name
# under /sys/bus/xen/drivers: xen_pv_net, or vif for xen-netfront). The xenbus
# core holds a reference on a frontend's module for each bound device, so a
# frontend module can only be removed once its devices are unbound.
xen_unbind() {
	for _dev in /sys/bus/xen/drivers/"$1"/*; do
		[ -L "$_dev" ] && [ -e "$_dev/nodename" ] || continue
		log "unbinding ${_dev##*/} from $1"
		echo "${_dev##*/}" >"/sys/bus/xen/drivers/$1/unbind" || return 1
	done
}
# unload_xpn: unbind our devices and remove the module.
unload_xpn() { xen_unbind xen_pv_net && rmmod xen_pv_net; }

# xpn_dmesg: the kernel log lines of our module.
xpn_dmesg() { dmesg | grep 'xen_pv_net'; }

# kernel_log_clean: check the kernel log; prints the offending lines and
# returns 1 if it shows a warning, bug, oops or splat from anywhere, or a
# xen_pv_net line saying something is broken, failed or an error (the
# out-of-tree/unsigned taint notices excepted).
kernel_log_clean() {
	_bad=$(dmesg | grep -v -e 'module verification failed' -e 'taints kernel' |
		grep -E 'WARNING:|BUG:|Oops|Call Trace:|general protection|kernel panic|xen_pv_net.*([Bb]roken|[Ff]ailed|[Ee]rror)')
	[ -z "$_bad" ] && return 0
	echo "kernel log is not clean:"
	echo "$_bad" | sed 's/^/  dmesg: /'
	return 1
}

# --- interfaces ------------------------------------------------------------

# iface_driver IF: the driver bound to IF's device (sysfs), or "none".
iface_driver() {
	if [ -e "/sys/class/net/$1/device/driver" ]; then
		basename "$(readlink "/sys/class/net/$1/device/driver")"
	else
		echo none
	fi
}

# iface_by_mac MAC [DRIVERS]: print the interface(s) with MAC, optionally only
# those whose driver is one of the space-separated DRIVERS. Returns 1 if none.
iface_by_mac() {
	_mac=$(echo "$1" | tr 'A-F' 'a-f')
	_found=1
	for _d in /sys/class/net/*; do
		[ "$(cat "$_d/address" 2>/dev/null)" = "$_mac" ] || continue
		_if=${_d##*/}
		if [ -n "${2:-}" ]; then
			case " $2 " in *" $(iface_driver "$_if") "*) ;; *) continue ;; esac
		fi
		echo "$_if"
		_found=0
	done
	return $_found
}

# wait_for_iface MAC DRIVERS TIMEOUT: wait up to TIMEOUT seconds for an
# interface with MAC bound to one of DRIVERS; print its name (first one).
wait_for_iface() {
	_n=0
	while [ "$_n" -lt "$3" ]; do
		_if=$(iface_by_mac "$1" "$2" | head -n1)
		[ -n "$_if" ] && { echo "$_if"; return 0; }
		sleep 1
		_n=$((_n + 1))
	done
	echo "no interface with MAC $1 and driver in [$2] after $3 s" >&2
	return 1
}

# list_ifaces: log every interface with MAC, driver, state.
list_ifaces() {
	for _d in /sys/class/net/*; do
		_if=${_d##*/}
		log "iface $_if mac=$(cat "$_d/address") driver=$(iface_driver "$_if") state=$(cat "$_d/operstate")"
	done
}

# iface_up IF ADDR/PREFIX: give IF the address and bring it up.
iface_up() {
	ip addr flush dev "$1"
	ip addr add "$2" dev "$1"
	ip link set "$1" up
}

# pv_up [DRIVERS] [TIMEOUT]: find the PV vif (by MAC and driver), bring it up
# as 10.0.0.2/24; print its name.
pv_up() {
	_if=$(wait_for_iface "$XPN_PV_MAC" "${1:-$XPN_PV_DRIVERS}" "${2:-30}") || return 1
	iface_up "$_if" "$XPN_PV_IP/24" >&2
	echo "$_if"
}

# emu_up [TIMEOUT]: load e1000, find the emulated NIC, bring it up as
# 10.0.1.2/24; print its name.
emu_up() {
	module_loaded e1000 || modprobe e1000 >&2
	_if=$(wait_for_iface "$XPN_EMU_MAC" e1000 "${1:-30}") || return 1
	iface_up "$_if" "$XPN_EMU_IP/24" >&2
	echo "$_if"
}

# --- traffic ---------------------------------------------------------------

# wait_link IF TIMEOUT: wait for IF's carrier.
wait_link() {
	_n=0
	while [ "$_n" -lt "$2" ]; do
		[ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = 1 ] && return 0
		sleep 1
		_n=$((_n + 1))
	done
	return 1
}

# ping_ok PEER [COUNT] [IF]: ping PEER (through IF if given), log the
# summary; true if all COUNT (default 3) replies arrive. A first unchecked
# ping resolves ARP.
ping_ok() {
	_c=${2:-3}
	ping -c 1 -W 5 ${3:+-I "$3"} "$1" >/dev/null 2>&1
	_out=$(ping -c "$_c" -W 3 ${3:+-I "$3"} "$1" 2>&1)
	echo "$_out" | tail -n 2 | sed 's/^/  ping: /' >&2
	echo "$_out" | grep -q "$_c packets transmitted, $_c packets received"
}

# iperf_exact PEER SECONDS [iperf3 args...]: run an iperf3 client to PEER,
# log its summary; print the receiver's rate in Mbit/s as iperf3 prints it
# (decimal, e.g. 0.59) on stdout. Compare such rates with rate_ge.
iperf_exact() {
	_peer=$1
	_secs=$2
	shift 2
	_out=$(iperf3 -c "$_peer" -t "$_secs" -f m "$@" 2>&1) || {
		echo "$_out" | sed 's/^/  iperf3: /' >&2
		return 1
	}
	echo "$_out" | grep -E 'sender|receiver' | sed 's/^/  iperf3: /' >&2
	echo "$_out" | awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i+1) == "Mbits/sec") { print $i; exit } }'
}

# iperf_to PEER SECONDS [iperf3 args...]: the same, rate as an integer
# (truncated: below 1 Mbit/s prints 0).
iperf_to() {
	_r=$(iperf_exact "$@") || return 1
	echo "${_r%%.*}"
}

# rate_ge RATE MIN: true if the decimal RATE (Mbit/s) is at least MIN.
rate_ge() { awk -v r="${1:-0}" -v m="$2" 'BEGIN { exit !(r + 0 >= m + 0) }'; }

# http_get URL OUT: fetch URL (dom0's busybox httpd) into OUT.
http_get() { wget -q -O "$2" "$1"; }

# ping_n PEER COUNT [IF]: COUNT pings 0.2 s apart; true on 0% loss.
ping_n() {
	ping -c 1 -W 5 ${3:+-I "$3"} "$1" >/dev/null 2>&1
	_out=$(ping -c "$2" -i 0.2 -W 5 ${3:+-I "$3"} "$1" 2>&1)
	echo "$_out" | tail -n 2 | sed 's/^/  ping: /' >&2
	echo "$_out" | grep -q "$2 packets transmitted, $2 packets received"
}

# wait_http URL TIMEOUT: wait until URL can be fetched.
wait_http() {
	_n=0
	while [ "$_n" -lt "$2" ]; do
		wget -q -O /dev/null "$1" 2>/dev/null && return 0
		sleep 1
		_n=$((_n + 1))
	done
	return 1
}

# detach_attach DRIVER: ask dom0 for xl network-detach + network-attach of
# the PV vif (dom0 polls detach.req from the guest's web server on port
# 8080, which the scenario serves from /tmp/www), wait for the interface
# bound to DRIVER to go away and come back with carrier; sets pv to the new
# interface's name.
detach_attach() {
	touch /tmp/www/detach.req
	_n=0
	while iface_by_mac "$XPN_PV_MAC" "$1" >/dev/null; do
		_n=$((_n + 1))
		[ $_n -le 180 ] || fail "the vif did not go away after xl network-detach"
		sleep 1
	done
	log "ok: interface removed by xl network-detach"
	pv=$(pv_up "$1" 180) || fail "no interface after xl network-attach"
	wait_link "$pv" 30 || fail "$pv: no carrier after attach"
}

# --- save / restore ----------------------------------------------------------

# restore_cycles IF N: N xl save + xl restore cycles (dom0 does them when
# the guest serves /tmp/www/save-K.req; it announces restored-K on its web
# server) while a rate-limited iperf3 stream opened before the first cycle
# runs; after each cycle traffic must flow again within seconds, and after
# the last the stream must still carry data. Needs busybox httpd on 8080
# serving /tmp/www.
restore_cycles() {
	iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -t 1800 -b 20M -i 1 --forceflush \
		>/tmp/long-flow.log 2>&1 &
	_flow=$!
	sleep 5
	_k=1
	while [ "$_k" -le "$2" ]; do
		touch "/tmp/www/save-$_k.req"
		wait_http "http://$XPN_PV_PEER/restored-$_k" 600 || fail "dom0 never restored us (cycle $_k)"
		ping_ok "$XPN_PV_PEER" 3 "$1" || ping_ok "$XPN_PV_PEER" 3 "$1" ||
			ping_ok "$XPN_PV_PEER" 3 "$1" || fail "no traffic after restore $_k"
		log "ok: save + restore cycle $_k"
		_k=$((_k + 1))
	done
	_n0=$(flow_lines)
	sleep 15
	_n1=$(flow_lines)
	if ! kill -0 "$_flow" 2>/dev/null; then
		tail -n 5 /tmp/long-flow.log | sed 's/^/  iperf3: /'
		fail "the TCP stream opened before the cycles ended"
	fi
	kill -INT "$_flow" 2>/dev/null
	wait "$_flow" 2>/dev/null
	tail -n 4 /tmp/long-flow.log | sed 's/^/  iperf3: /'
	[ "$_n1" -ge $((_n0 + 5)) ] ||
		fail "the TCP stream opened before the cycles carried no data after them ($_n0 -> $_n1 seconds with data)"
	log "ok: the TCP stream opened before the cycles still carries data ($_n0 -> $_n1 seconds with data)"
}

# flow_lines: seconds of the long iperf3 stream that carried data.
flow_lines() {
	grep -E '^\[ *[0-9]+\] +[0-9.]+-[0-9.]+ +sec' /tmp/long-flow.log |
		grep -vc ' 0.00 Bytes'
}

# sha_both_ways: a 16 MiB file each way over the PV vif, checked by sha256
# (dom0 publishes down.bin + down.sha, and fetches up.bin from the guest's
# web server on 8080 when up.ready appears, publishing up.sha).
sha_both_ways() {
	wait_http "http://$XPN_PV_PEER/down.ready" 300 || fail "dom0 never published down.bin"
	http_get "http://$XPN_PV_PEER/down.bin" /tmp/down.bin || fail "wget down.bin failed"
	_want=$(wget -q -O - "http://$XPN_PV_PEER/down.sha")
	_got=$(sha256sum /tmp/down.bin | cut -d' ' -f1)
	rm -f /tmp/down.bin
	[ -n "$_want" ] && [ "$_got" = "$_want" ] || fail "dom0->guest: sha256 differs ($_got, dom0: $_want)"
	log "ok: 16 MiB dom0->guest intact"
	dd if=/dev/urandom of=/tmp/www/up.bin bs=1M count=16 2>/dev/null
	_mine=$(sha256sum /tmp/www/up.bin | cut -d' ' -f1)
	touch /tmp/www/up.ready
	wait_http "http://$XPN_PV_PEER/up.sha" 300 || fail "dom0 never published up.sha"
	_theirs=$(wget -q -O - "http://$XPN_PV_PEER/up.sha")
	[ "$_mine" = "$_theirs" ] || fail "guest->dom0: sha256 differs ($_mine, dom0: $_theirs)"
	log "ok: 16 MiB guest->dom0 intact"
}

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
# load_xpn: insmod our module (args are module parameters) and log where
# its code lies, so that a RIP in a crash report (e.g. Xen's of a triple
# fault) can be placed in the module.
load_xpn() {
	insmod "$XPN_KO" "$@" || return 1
	log "xen_pv_net .text at $(cat /sys/module/xen_pv_net/sections/.text 2>/dev/null)"
}
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

# detach_attach DRIVER [K]: ask dom0 for xl network-detach + network-attach of
# the PV vif (dom0 polls detach.req, or detach-K.req, from the guest's web server on port
# 8080, which the scenario serves from /tmp/www), wait for the interface
# bound to DRIVER to go away and come back with carrier; sets pv to the new
# interface's name.
detach_attach() {
	touch "/tmp/www/detach${2:+-$2}.req"
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

# driver_holds IF: the grant references our driver holds for IF (the
# per-queue ethtool -S gauges) and its interrupts; equal for equal queue
# counts unless something leaked.
driver_holds() {
	echo "grant refs $(ethtool -S "$1" | awk '/_grant_refs:/ {s += $2} END {print s + 0}'), interrupts $(grep -c -- ' vif[0-9]*-q[0-9]' /proc/interrupts)"
}

# accounting_ok: no unload so far found pages or grant references of ours
# unaccounted for.
accounting_ok() { ! dmesg | grep -q 'xen_pv_net.*accounting error'; }

# --- save / restore ----------------------------------------------------------

# restore_cycles IF N [KIND]: N xl save + xl restore cycles, or with KIND
# "migrate" N live migrations to the same host (dom0 does them when the
# guest serves /tmp/www/save-K.req or migrate-K.req; it announces
# restored-K on its web server) while a rate-limited iperf3 stream opened
# before the first cycle runs; after each cycle traffic must flow again
# within seconds, and after the last the stream must still carry data.
# Needs busybox httpd on 8080 serving /tmp/www.
restore_cycles() {
	_kind=${3:-save}
	iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -t 1800 -b 20M -i 1 --forceflush \
		>/tmp/long-flow.log 2>&1 &
	_flow=$!
	sleep 5
	_k=1
	while [ "$_k" -le "$2" ]; do
		touch "/tmp/www/$_kind-$_k.req"
		wait_http "http://$XPN_PV_PEER/restored-$_k" 600 || fail "dom0 never restored us (cycle $_k)"
		ping_ok "$XPN_PV_PEER" 3 "$1" || ping_ok "$XPN_PV_PEER" 3 "$1" ||
			ping_ok "$XPN_PV_PEER" 3 "$1" || fail "no traffic after $_kind $_k"
		log "ok: $_kind cycle $_k"
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

# --- teardown under load -----------------------------------------------------

# teardown_under_load DRIVER CYCLES DETACHES: with the vif up on DRIVER
# (xen_pv_net, loaded with max_queues=2, or xen-netfront) and TX saturated
# by iperf3 each time: CYCLES x ethtool -L (2 -> 1 -> 2 ... queues) across a
# TCP flow opened before, which must still carry data after; CYCLES x
# unload + load (a download and a fast ping running too); DETACHES x xl
# network-detach + network-attach (dom0: tests/lab/xen-lifecycle.dom0,
# until the guest serves detach.done). What the driver holds
# (grant references and interrupts; for xen-netfront its interrupts) must be
# the same after each series as before; our unloads must be accounted for.
# Sets pv to the vif's name at the end.
teardown_under_load() {
	_cycles=$2
	_detaches=$3
	case $1 in
	xen_pv_net)
		_drvs=xen_pv_net
		_td_load() { load_xpn max_queues=2; }
		_td_unload() { rmmod xen_pv_net; }
		_td_holds() { driver_holds "$1"; }
		_td_accounted() { accounting_ok; }
		_td_log() { check "kernel log clean after $1" kernel_log_clean; }
		;;
	*)
		_drvs="vif xen-netfront"
		_td_load() { load_netfront max_queues=2; }
		_td_unload() { xen_unbind vif && rmmod xen_netfront; }
		_td_holds() { echo "interrupts $(grep -c -- '-q[0-9]*-[rt]x' /proc/interrupts)"; }
		_td_accounted() { true; }
		# The reference goes on and reports.
		_td_log() { log "kernel log after $1: $(dmesg | grep -c 'WARNING:') WARNINGs, $(dmesg | grep -c -E 'BUG:|Oops') BUG/Oops lines so far"; }
		;;
	esac
	wait_http "http://$XPN_PV_PEER/servers.ready" 300 || fail "dom0 never started its extra iperf3 servers"

	# saturate K: TCP guest->dom0 with two streams to dom0's extra server for
	# cycle K (ports 5202 and 5203 in turn: a server whose client vanished with
	# the interface drops the test after 3 s without data); prints the pid.
	saturate() {
		iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -p $((5202 + $1 % 2)) -t 120 -P 2 \
			>/tmp/sat.log 2>&1 &
		echo $!
	}

	# saturating PID WHAT: the saturating client must still be running.
	saturating() {
		kill -0 "$1" 2>/dev/null && return 0
		tail -n 3 /tmp/sat.log | sed 's/^/  iperf3: /'
		fail "$2: the saturating iperf3 had ended before the teardown"
	}

	# --- ethtool -L under saturated TX ------------------------------------------
	# (xen-netfront has no ethtool -L.)
	if [ "$1" = xen_pv_net ]; then
		iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -t 1800 -P 2 -i 1 --forceflush \
			>/tmp/long-flow.log 2>&1 &
		flow=$!
		sleep 5
		before=$(_td_holds "$pv")
		log "2 queues, before the changes: $before"
		i=1
		while [ $i -le "$_cycles" ]; do
			n=$((2 - i % 2))
			t0=$(cut -d' ' -f1 /proc/uptime)
			ethtool -L "$pv" combined $n || fail "ethtool -L combined $n (change $i) failed"
			t1=$(cut -d' ' -f1 /proc/uptime)
			[ "$(ethtool -l "$pv" | awk '/^Combined:/ {print $2}' | tail -n 1)" = $n ] ||
				fail "change $i: not $n queues"
			wait_link "$pv" 30 || fail "change $i: no carrier"
			kill -0 "$flow" 2>/dev/null || fail "change $i: the TCP flow ended"
			log "change $i: $n queue(s), link up, flow running (ethtool -L took $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s)"
			sleep 1
			i=$((i + 1))
		done
		ping_ok "$XPN_PV_PEER" 3 "$pv" || ping_ok "$XPN_PV_PEER" 3 "$pv" || fail "no ping after the changes"
		n0=$(flow_lines)
		sleep 10
		n1=$(flow_lines)
		kill -0 "$flow" 2>/dev/null || { tail -n 5 /tmp/long-flow.log | sed 's/^/  iperf3: /'; fail "the TCP flow ended"; }
		kill -INT "$flow" 2>/dev/null
		wait "$flow" 2>/dev/null
		tail -n 3 /tmp/long-flow.log | sed 's/^/  iperf3: /'
		# Two streams: two lines a second.
		[ "$n1" -ge $((n0 + 10)) ] || fail "the TCP flow carried no data after the changes ($n0 -> $n1 stream-seconds)"
		log "ok: $_cycles x ethtool -L under load; the flow opened before still carries data ($n0 -> $n1 stream-seconds)"
		after=$(_td_holds "$pv")
		[ "$after" = "$before" ] || fail "after $_cycles changes the driver holds $after (before: $before)"
		log "ok: the driver holds what it held before ($after)"
		_td_log "ethtool -L"
	fi

	# --- rmmod under saturated TX -----------------------------------------------
	i=1
	while [ $i -le "$_cycles" ]; do
		sat=$(saturate $i)
		wget -q -O /dev/null "http://$XPN_PV_PEER/bulk.bin" 2>/dev/null &
		w=$!
		ping -q -i 0.05 "$XPN_PV_PEER" >/dev/null 2>&1 &
		p=$!
		sleep 3
		saturating "$sat" "rmmod $i"
		_td_unload || fail "cycle $i: unloading under load failed"
		kill -9 $sat 2>/dev/null
		kill $w $p 2>/dev/null
		wait $sat $w $p 2>/dev/null
		_td_accounted || fail "cycle $i: accounting error at unload"
		iface_by_mac "$XPN_PV_MAC" "$_drvs" >/dev/null && fail "cycle $i: interface still there after the unload"
		_td_load || fail "cycle $i: loading failed"
		pv=$(pv_up "$_drvs" 60) || fail "cycle $i: no interface after insmod"
		wait_link "$pv" 30 || fail "cycle $i: no carrier"
		# Under TCG the first exchange after a reconnect can take a few
		# seconds (ARP, bridge): up to three tries, then it must work.
		ping_ok "$XPN_PV_PEER" 2 "$pv" || ping_ok "$XPN_PV_PEER" 2 "$pv" ||
			ping_ok "$XPN_PV_PEER" 2 "$pv" || fail "cycle $i: no traffic after reload"
		i=$((i + 1))
	done
	log "ok: $_cycles x rmmod under load, each unload accounted for"
	_td_log "the reloads"

	# --- xl network-detach under saturated TX -----------------------------------
	before=$(_td_holds "$pv")
	i=1
	while [ $i -le "$_detaches" ]; do
		sat=$(saturate $i)
		sleep 3
		saturating "$sat" "detach $i"
		detach_attach "$_drvs" $i
		kill -9 "$sat" 2>/dev/null
		wait "$sat" 2>/dev/null
		ping_ok "$XPN_PV_PEER" 2 "$pv" || ping_ok "$XPN_PV_PEER" 2 "$pv" ||
			ping_ok "$XPN_PV_PEER" 2 "$pv" || fail "detach $i: no traffic over the re-attached vif"
		i=$((i + 1))
	done
	touch /tmp/www/detach.done
	after=$(_td_holds "$pv")
	[ "$after" = "$before" ] || fail "after $_detaches detaches the driver holds $after (before: $before)"
	log "ok: $_detaches x xl network-detach + attach under load; the new vif holds what the first held ($after)"
}

# SPDX-License-Identifier: GPL-2.0
# Lab guest scenario: two PV vifs driven by xen_pv_net in a Linux bond,
# against the real xen-netback (pairs with xen-bonding.dom0). The vifs are
# devid 0 (MAC 00:16:3e:00:00:10) and the PV twin of the e1000's vif
# (devid 1, MAC 00:16:3e:00:00:20; the e1000 driver stays unloaded, so the
# twin is the only guest NIC with that MAC on dom0's bridge).
#   - balance-rr over both against the first alone, TCP guest->dom0, in
#     alternating rounds: the rates are reported, not judged (the lab is
#     CPU-bound: one vCPU moves the packets of both);
#   - active-backup with miimon 100, devid 0 the primary: xl
#     network-detach of it under a TCP flow and a ping every 0.1 s; the
#     carrier of the vif goes off as its backend closes, the bond fails
#     over, the flow completes and the ping resumes (the longest gap
#     between replies is reported); xl network-attach of a vif with the
#     same MAC: the new interface is enslaved, made primary, carries the
#     bond's traffic;
#   - the bond dissolves, the module unloads with nothing unaccounted, the
#     kernel log stays clean.
BOND=/sys/class/net/bond0/bonding
ROUNDS=2
SECS=8

now() { cut -d' ' -f1 /proc/uptime; }
# bond_make MODE [PRIMARY]: bond0 in MODE (miimon 100) over $a and $b,
# with the PV vif's address.
bond_make() {
	[ -d /sys/class/net/bond0 ] || echo +bond0 >/sys/class/net/bonding_masters || return 1
	ip link set bond0 down
	echo "$1" >"$BOND/mode" || return 1
	echo 100 >"$BOND/miimon" || return 1
	for _s in "$a" "$b"; do
		ip addr flush dev "$_s"
		ip link set "$_s" down
		echo "+$_s" >"$BOND/slaves" || return 1
	done
	[ -z "${2:-}" ] || echo "$2" >"$BOND/primary" || return 1
	ip addr add "$XPN_PV_IP/24" dev bond0
	ip link set bond0 up
	wait_link bond0 30
}
# bond_clear: release every slave, bond0 down without an address.
bond_clear() {
	ip addr flush dev bond0
	for _s in $(cat "$BOND/slaves"); do
		echo "-$_s" >"$BOND/slaves" || return 1
	done
	ip link set bond0 down
}
# slave_mii IF: IF's MII status in the bond ("up" or "down").
slave_mii() {
	awk -v s="$1" '/^Slave Interface:/ { cur = $3 } /^MII Status:/ && cur == s { print $3 }' /proc/net/bonding/bond0
}
# wait_active IF TIMEOUT: wait until IF is the active slave with MII up.
wait_active() {
	_n=0
	while [ "$_n" -lt "$2" ]; do
		[ "$(cat "$BOND/active_slave")" = "$1" ] && [ "$(slave_mii "$1")" = up ] && return 0
		sleep 1
		_n=$((_n + 1))
	done
	cat /proc/net/bonding/bond0 | sed 's/^/  bond0: /' >&2
	return 1
}
mean() { echo "$*" | awk '{ for (i = 1; i <= NF; i++) s += $i; printf "%.0f", s / NF }'; }

log "bonding: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO" load_xpn
a=$(wait_for_iface "$XPN_PV_MAC" xen_pv_net 60) || fail "no vif with $XPN_PV_MAC bound to xen_pv_net"
b=$(wait_for_iface "$XPN_EMU_MAC" xen_pv_net 60) || fail "no vif with $XPN_EMU_MAC (the e1000's PV twin) bound to xen_pv_net"
log "vifs: $a ($XPN_PV_MAC), $b ($XPN_EMU_MAC)"
check "modprobe bonding" modprobe bonding max_bonds=0
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www

# --- balance-rr against one vif ---------------------------------------------
one= rr=
for k in $(seq 1 "$ROUNDS"); do
	iface_up "$a" "$XPN_PV_IP/24"
	wait_link "$a" 30 || fail "$a: no carrier"
	ping_ok "$XPN_PV_PEER" 3 "$a" || fail "ping over $a alone"
	r=$(iperf_to "$XPN_PV_PEER" "$SECS" -B "$XPN_PV_IP") || fail "iperf3 over $a alone"
	one="$one $r"
	ip addr flush dev "$a"
	bond_make balance-rr || fail "bond0 balance-rr over $a and $b"
	ping_ok "$XPN_PV_PEER" 3 bond0 || fail "ping over bond0 (balance-rr)"
	r=$(iperf_to "$XPN_PV_PEER" "$SECS" -B "$XPN_PV_IP") || fail "iperf3 over bond0 (balance-rr)"
	rr="$rr $r"
	log "round $k: TCP guest->dom0 over $a alone ${one##* } Mbit/s, over bond0 balance-rr ${rr##* } Mbit/s (tx packets: $a $(cat /sys/class/net/$a/statistics/tx_packets), $b $(cat /sys/class/net/$b/statistics/tx_packets))"
	bond_clear || fail "releasing the slaves"
done
log "measured balance-rr: TCP guest->dom0 over two vifs $(mean $rr) Mbit/s (rounds:$rr), over one $(mean $one) Mbit/s (rounds:$one)"

# --- active-backup failover -------------------------------------------------
bond_make active-backup "$a" || fail "bond0 active-backup over $a and $b"
check "$a is the active slave, both MII up" wait_active "$a" 30
[ "$(slave_mii "$b")" = up ] || fail "$b: MII down in the bond"
check "ping over bond0 (active-backup)" ping_ok "$XPN_PV_PEER" 3 bond0
iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -t 40 -b 20M -i 1 --forceflush >/tmp/flow.log 2>&1 &
flow=$!
ping -i 0.1 "$XPN_PV_PEER" 2>&1 | while IFS= read -r l; do echo "$(now) $l"; done >/tmp/ping.log &
sleep 5
t_detach=$(now)
touch /tmp/www/detach.req
_n=0
while [ -e "/sys/class/net/$a" ]; do
	_n=$((_n + 1))
	[ $_n -le 180 ] || fail "$a did not go away after xl network-detach"
	sleep 1
done
rm -f /tmp/www/detach.req
log "ok: $a removed by xl network-detach ($(awk -v t="$t_detach" -v n="$(now)" 'BEGIN { printf "%.1f", n - t }') s after the request)"
check "$b took over (active slave, MII up)" wait_active "$b" 10
wait "$flow"
flow_rc=$?
pkill -f "ping -i 0.1" 2>/dev/null
sed 's/^/  iperf3: /' /tmp/flow.log | tail -n 8
[ "$flow_rc" = 0 ] || fail "the TCP flow across the failover failed (iperf3 exit $flow_rc)"
log "ok: the TCP flow across the failover completed"
gap=$(awk -v t="$t_detach" '/seq=/ { if (prev != "" && $1 >= t - 1 && $1 - prev > g) g = $1 - prev; prev = $1 }
	END { printf "%.1f", g }' /tmp/ping.log)
lost=$(awk -v t="$t_detach" '/seq=/ {
		for (i = 2; i <= NF; i++) if ($i ~ /^seq=/) s = substr($i, 5) + 0
		if ($1 >= t - 1 && last != "" && s > last + 1) l += s - last - 1
		last = s
	} END { print l + 0 }' /tmp/ping.log)
replies_after=$(awk -v t="$t_detach" '/seq=/ && $1 > t { n++ } END { print n + 0 }' /tmp/ping.log)
[ "$replies_after" -gt 0 ] || fail "no ping reply after the detach"
log "measured failover: longest gap between ping replies ${gap} s after xl network-detach of the active vif ($lost of the pings every 0.1 s lost, $replies_after replies after it)"
awk -v g="$gap" 'BEGIN { exit !(g + 0 < 10) }' || fail "the failover took ${gap} s (10 s at most)"

# --- the vif comes back and rejoins -----------------------------------------
touch /tmp/www/attach.req
c=
_n=0
while [ -z "$c" ]; do
	for _i in $(iface_by_mac "$XPN_PV_MAC" xen_pv_net); do
		[ "$_i" = "$b" ] || c=$_i
	done
	[ -n "$c" ] && break
	_n=$((_n + 1))
	[ $_n -le 180 ] || fail "no new vif after xl network-attach"
	sleep 1
done
rm -f /tmp/www/attach.req
log "ok: $c appeared after xl network-attach"
ip link set "$c" down
echo "+$c" >"$BOND/slaves" || fail "enslaving $c"
echo "$c" >"$BOND/primary" || fail "making $c the primary"
check "$c rejoined and took over as the primary" wait_active "$c" 30
tx0=$(cat "/sys/class/net/$c/statistics/tx_packets")
check "ping over bond0 through $c" ping_ok "$XPN_PV_PEER" 10 bond0
[ "$(cat "/sys/class/net/$c/statistics/tx_packets")" -ge $((tx0 + 10)) ] ||
	fail "the pings did not leave through $c"
check "$b still a slave with MII up" [ "$(slave_mii "$b")" = up ]
touch /tmp/www/done.req

check "bond0 releases its slaves" bond_clear
check "unload xen_pv_net" unload_xpn
accounting_ok || fail "accounting error at the unload"
check "kernel log clean" kernel_log_clean
log "bonding passed"

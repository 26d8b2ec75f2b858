# SPDX-License-Identifier: GPL-2.0
# xpn-lab: guest-debug (the guest kernel checks freed memory: scripts/lab.sh XPN_LAB_GUEST_DEBUG)
# Lab guest scenario: offloads, jumbo MTU, multi-queue and ethtool against
# the real xen-netback (which offers 4 queues; xen-offload.dom0 removes its
# IPv6 TSO and IPv6 checksum offload). The guest has 2 vCPUs.
#   - ethtool -i / -l / -k / -S; -K refuses what the backend lacks;
#   - iperf3 -P 4 over 4 queues, every queue's counters > 0;
#   - TSO off and on, checksum offload off and on, each with iperf3 both
#     ways and a sha256-checked transfer each way;
#   - MTU 9000 end to end; SG off brings the MTU back to 1500; 65535 with
#     SG, refused without;
#   - ethtool -L combined 1 then 4 under traffic, traffic resumes;
#   - no WARN/BUG/oops/"broken" line in the kernel log.

log "offload: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO max_queues=4" load_xpn max_queues=4
pv=$(pv_up xen_pv_net 60) || fail "no PV interface bound to xen_pv_net"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"

# feat IF NAME: the state (on/off) ethtool -k shows for feature NAME.
feat() { ethtool -k "$1" | awk -v f="$2:" '$1 == f { print $2; exit }'; }
# channels IF: "MAX CURRENT" combined channels from ethtool -l.
channels() { ethtool -l "$1" | awk '/^Combined:/ { printf "%s ", $2 }'; }
# qstat IF QUEUE NAME: one per-queue counter from ethtool -S.
qstat() { ethtool -S "$1" | awk -v k="q$2_$3:" '$1 == k { print $2; exit }'; }
# expect_feat IF NAME STATE
expect_feat() {
	_s=$(feat "$1" "$2")
	[ "$_s" = "$3" ] || { echo "  $2 is '$_s', expected $3" >&2; return 1; }
}
# both_ways SECONDS: iperf3 TCP each way must move data.
both_ways() {
	_a=$(iperf_to "$XPN_PV_PEER" "$1" -B "$XPN_PV_IP") && [ "${_a:-0}" -gt 0 ] || return 1
	_b=$(iperf_to "$XPN_PV_PEER" "$1" -B "$XPN_PV_IP" -R) && [ "${_b:-0}" -gt 0 ] || return 1
	echo "  iperf3: $_a Mbit/s guest->dom0, $_b Mbit/s dom0->guest" >&2
}
# transfer: 16 MiB dom0->guest and 8 MiB guest->dom0, checked by sha256.
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www
xfer_n=0
transfer() {
	rm -f /tmp/down.bin
	http_get "http://$XPN_PV_PEER/down.bin" /tmp/down.bin || { echo "  wget down.bin failed" >&2; return 1; }
	_want=$(wget -q -O - "http://$XPN_PV_PEER/down.sha")
	_got=$(sha256sum /tmp/down.bin | cut -d' ' -f1)
	rm -f /tmp/down.bin
	[ -n "$_want" ] && [ "$_got" = "$_want" ] || { echo "  dom0->guest sha256 $_got, dom0 has $_want" >&2; return 1; }
	xfer_n=$((xfer_n + 1))
	dd if=/dev/urandom of="/tmp/www/up-$xfer_n.bin" bs=1M count=8 2>/dev/null
	_mine=$(sha256sum "/tmp/www/up-$xfer_n.bin" | cut -d' ' -f1)
	touch "/tmp/www/fetch-$xfer_n"
	wait_http "http://$XPN_PV_PEER/up-$xfer_n.sha" 300 || { echo "  dom0 never fetched up-$xfer_n.bin" >&2; return 1; }
	_theirs=$(wget -q -O - "http://$XPN_PV_PEER/up-$xfer_n.sha")
	rm -f "/tmp/www/up-$xfer_n.bin"
	[ "$_mine" = "$_theirs" ] || { echo "  guest->dom0 sha256 $_mine, dom0 got $_theirs" >&2; return 1; }
	echo "  16 MiB down and 8 MiB up intact" >&2
}

# --- ethtool basics ---------------------------------------------------------
ethtool -i "$pv" | sed 's/^/  ethtool -i: /'
check "ethtool -i names the driver" sh -c "ethtool -i $pv | grep -qx 'driver: xen_pv_net'"
check "ethtool shows the link" sh -c "ethtool $pv | grep -q 'Link detected: yes'"
ch=$(channels "$pv")
log "channels (max current): $ch"
[ "$ch" = "4 4 " ] || fail "expected 4 of at most 4 combined channels, got '$ch'"
for f in scatter-gather tcp-segmentation-offload tx-checksum-ipv4; do
	check "$f on" expect_feat "$pv" "$f" on
done
# The backend lacks IPv6 TSO and IPv6 checksum offload.
for f in tx-tcp6-segmentation tx-checksum-ipv6; do
	check "$f off (backend lacks it)" expect_feat "$pv" "$f" off
	ethtool -K "$pv" "$f" on >/tmp/k.out 2>&1
	log "ethtool -K $f on: exit $?, $(tr '\n' ' ' </tmp/k.out)"
	check "ethtool -K $f on refused" expect_feat "$pv" "$f" off
done

# --- multi-queue --------------------------------------------------------------
# iperf3 -P 4 both ways until every queue has carried traffic both ways
# (flows land on queues by hash: a round may miss a queue).
round=0
while :; do
	round=$((round + 1))
	iperf_to "$XPN_PV_PEER" 3 -B "$XPN_PV_IP" -P 4 >/dev/null || fail "iperf3 -P 4 failed"
	iperf_to "$XPN_PV_PEER" 3 -B "$XPN_PV_IP" -P 4 -R >/dev/null || fail "iperf3 -P 4 -R failed"
	missing=
	for q in 0 1 2 3; do
		for c in tx_packets rx_packets interrupts; do
			[ "$(qstat "$pv" $q $c)" -gt 0 ] 2>/dev/null || missing="$missing q${q}_$c"
		done
	done
	[ -z "$missing" ] && break
	[ $round -lt 6 ] || fail "after $round rounds of iperf3 -P 4 these stay 0:$missing"
done
for q in 0 1 2 3; do
	log "queue $q: tx $(qstat "$pv" $q tx_packets) rx $(qstat "$pv" $q rx_packets) packets, $(qstat "$pv" $q interrupts) interrupts, $(qstat "$pv" $q tx_gso_packets) tx GSO, $(qstat "$pv" $q rx_gso_packets) rx GSO"
done
log "ok: all 4 queues carried traffic ($round rounds of iperf3 -P 4)"
gso=0
for q in 0 1 2 3; do gso=$((gso + $(qstat "$pv" $q tx_gso_packets))); done
[ "$gso" -gt 0 ] || fail "TSO on but no GSO packet sent"
log "ok: $gso TSO packets sent"

# --- ethtool -L under traffic ---------------------------------------------------
iperf3 -c "$XPN_PV_PEER" -B "$XPN_PV_IP" -t 15 -f m >/tmp/bg.out 2>&1 &
bg=$!
sleep 3
check "ethtool -L combined 1 under traffic" ethtool -L "$pv" combined 1
ch=$(channels "$pv")
[ "$ch" = "4 1 " ] || fail "after -L combined 1: channels '$ch'"
wait_link "$pv" 30 || fail "no carrier after -L combined 1"
ping_ok "$XPN_PV_PEER" 3 "$pv" || ping_ok "$XPN_PV_PEER" 3 "$pv" || fail "no traffic with 1 queue"
log "ok: 1 queue, traffic resumed"
check "ethtool -L combined 4 under traffic" ethtool -L "$pv" combined 4
ch=$(channels "$pv")
[ "$ch" = "4 4 " ] || fail "after -L combined 4: channels '$ch'"
wait_link "$pv" 30 || fail "no carrier after -L combined 4"
ping_ok "$XPN_PV_PEER" 3 "$pv" || ping_ok "$XPN_PV_PEER" 3 "$pv" || fail "no traffic with 4 queues"
wait $bg
log "background iperf3 across both changes (rc $?): $(grep -E 'receiver|error' /tmp/bg.out | tr -s ' ' | tail -n 1)"
check "iperf3 both ways after -L" both_ways 3
if ethtool -L "$pv" combined 5 2>/dev/null; then fail "ethtool -L combined 5 accepted (backend offers 4)"; fi
log "ok: ethtool -L combined 5 refused"

# --- TSO and checksum offload off and on ----------------------------------------
check "sha256 transfer, all offloads on" transfer
check "ethtool -K tso off" ethtool -K "$pv" tso off
check "tcp-segmentation-offload off" expect_feat "$pv" tcp-segmentation-offload off
check "iperf3 both ways, TSO off" both_ways 3
check "ethtool -K tso on" ethtool -K "$pv" tso on
check "tcp-segmentation-offload on again" expect_feat "$pv" tcp-segmentation-offload on
check "ethtool -K tx off" ethtool -K "$pv" tx off
check "tx-checksum-ipv4 off" expect_feat "$pv" tx-checksum-ipv4 off
check "iperf3 both ways, checksum offload off" both_ways 3
check "sha256 transfer, checksum offload off" transfer
check "ethtool -K tx on" ethtool -K "$pv" tx on
check "tx-checksum-ipv4 on again" expect_feat "$pv" tx-checksum-ipv4 on

# --- MTU ------------------------------------------------------------------------------
wait_http "http://$XPN_PV_PEER/jumbo.ready" 300 || fail "dom0 never set MTU 9000"
check "MTU 9000" ip link set "$pv" mtu 9000
check "ping with an 8972-byte payload" ping -c 3 -W 5 -s 8972 -I "$pv" "$XPN_PV_PEER"
check "iperf3 both ways, MTU 9000" both_ways 3
check "sha256 transfer, MTU 9000" transfer
check "ethtool -K sg off" ethtool -K "$pv" sg off
mtu=$(cat "/sys/class/net/$pv/mtu")
[ "$mtu" = 1500 ] || fail "SG off left MTU $mtu"
log "ok: SG off brought the MTU back to 1500"
if ip link set "$pv" mtu 1501 2>/dev/null; then fail "MTU 1501 accepted without SG"; fi
check "iperf3 both ways, SG off" both_ways 3
check "ethtool -K sg on" ethtool -K "$pv" sg on
check "MTU 65535 with SG" ip link set "$pv" mtu 65535
check "MTU back to 1500" ip link set "$pv" mtu 1500
check "ping after the MTU changes" ping_ok "$XPN_PV_PEER" 3 "$pv"

ethtool -S "$pv" | grep -E 'q[0-9]_(tx_packets|rx_packets|tx_gso|rx_gso|rx_csum|tx_lin|interrupts|spurious)' |
	tr -s ' \t' ' ' | tr '\n' ' ' | sed 's/^/  ethtool -S: /'
echo
check "kernel log clean" kernel_log_clean
log "offload passed"

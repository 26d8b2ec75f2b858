# SPDX-License-Identifier: GPL-2.0
# The main job's guest side (scripts/demo.sh): load xen_pv_net in the HVM
# domU, bring up its vif and the emulated e1000 side by side, and show
# traffic over each: ping and a short iperf3 both ways, as a small table.

on_xen || fail "not running as a Xen guest"
load_xpn || fail "insmod xen_pv_net failed"
pv=$(pv_up xen_pv_net 60) || fail "no vif bound to xen_pv_net"
emu=$(emu_up 60) || fail "no e1000 interface"
wait_link "$pv" 30 || fail "$pv: no carrier"
wait_link "$emu" 30 || fail "$emu: no carrier"
log "vif: $pv (driver $(iface_driver "$pv")), e1000: $emu (driver $(iface_driver "$emu"))"

# measure NAME IF LOCAL PEER: one table row.
measure() {
	ping -c 1 -W 5 -I "$2" "$4" >/dev/null 2>&1
	_p=$(ping -c 10 -i 0.2 -W 5 -I "$2" "$4" 2>&1)
	_loss=$(echo "$_p" | sed -n 's/.* \([0-9.]*%\) packet loss.*/\1/p')
	_rtt=$(echo "$_p" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
	_tx=$(iperf_to "$4" 3 -B "$3") || _tx=FAILED
	_rx=$(iperf_to "$4" 3 -B "$3" -R) || _rx=FAILED
	log "measured $1: ping ${_rtt:-n/a} ms (loss ${_loss:-n/a}), guest->dom0 $_tx Mbit/s, dom0->guest $_rx Mbit/s"
	printf '| %-22s | %-10s | %9s | %8s | %14s | %14s |\n' "$1" "$(iface_driver "$2")" \
		"${_rtt:-n/a}" "${_loss:-n/a}" "$_tx" "$_rx" >>/tmp/table
	[ "$_tx" != FAILED ] && [ "$_rx" != FAILED ] && [ "$_loss" = 0% ]
}

printf '| %-22s | %-10s | %9s | %8s | %14s | %14s |\n' NIC driver "ping ms" loss \
	"guest->dom0" "dom0->guest" >/tmp/table
echo '|------------------------|------------|-----------|----------|----------------|----------------|' >>/tmp/table
ok=0
measure "PV vif (xen_pv_net)" "$pv" "$XPN_PV_IP" "$XPN_PV_PEER" || ok=1
measure "emulated e1000" "$emu" "$XPN_EMU_IP" "$XPN_EMU_PEER" || ok=1
echo
echo "Traffic in the HVM guest (QEMU TCG lab; iperf3 TCP 3 s, Mbit/s; ping: 10 x, average):"
cat /tmp/table
echo
kernel_log_clean || ok=1
[ $ok = 0 ] || fail "a NIC did not carry traffic"
log "demo passed"

# SPDX-License-Identifier: GPL-2.0
# xpn-lab: guest-debug (the guest kernel checks freed memory: scripts/lab.sh XPN_LAB_GUEST_DEBUG)
# Lab guest scenario: the PV frontend against a backend that lies
# (xen-hostile.dom0 serves the vifs from the userspace backend tests/backend).
# HOSTILE_DRIVER (xen_pv_net, default, or xen-netfront) is set by the
# harness, scripts/lab-hostile.sh, with HOSTILE_START (the first mode),
# through scripts/lab.sh XPN_LAB_GUEST_ENV.
#
# For each mode dom0 announces: the vif appears, bound to the driver, comes
# up as 10.0.2.2/24 and pings the backend (10.0.2.1); in honest mode a
# 4 MiB file each way keeps its sha256. Then the guest arms the mode (a ping
# with 1234 bytes of payload), keeps traffic on the vif for a few seconds
# and reports, as one line
#   XPN-HOSTILE k=K mode=MODE driver=DRIVER outcome=OUTCOME detail=...
# what it saw: WARN (a WARNING/BUG/Oops in the kernel log), other-vif (the
# normal vif, served by xen-netback, stopped working), hang (the vif was
# not removed within 60 s once dom0 stopped the backend), no-vif (no
# interface came for the vif, without a reason in the log), honest-failed
# (honest mode did not carry the traffic), or handled. A guest that dies
# reports nothing: the harness sees the mode started without a result.
# After the last mode the module must unload.

drv=${HOSTILE_DRIVER:-xen_pv_net}
# What in the kernel log makes a mode's outcome WARN.
warn_re='WARNING:|BUG:|Oops|Call Trace:|general protection|kernel panic'
case $drv in
xen_pv_net) names=xen_pv_net ;;
xen-netfront) names="vif xen-netfront" ;;
*) fail "unknown HOSTILE_DRIVER $drv" ;;
esac
log "hostile backend: driver $drv"
on_xen || fail "not running as a Xen guest"
if [ "$drv" = xen_pv_net ]; then
	check "insmod $XPN_KO" load_xpn
else
	check "modprobe xen-netfront" load_netfront
fi
pv=$(pv_up "$names" 60) || fail "no normal vif bound to $drv"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over the normal vif $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"
mkdir -p /tmp/www
busybox httpd -p 8080 -h /tmp/www

peer=10.0.2.1
k=${HOSTILE_START:-0}
while :; do
	# The next mode, or the end.
	n=0
	while ! wget -q -O /tmp/mode "http://$XPN_PV_PEER/hostile/mode-$k" 2>/dev/null; do
		wget -q -O /dev/null "http://$XPN_PV_PEER/hostile/all-done" 2>/dev/null && break 2
		n=$((n + 1))
		[ $n -le 180 ] || fail "dom0 announced no mode $k"
		sleep 1
	done
	read -r mode devid mac </tmp/mode
	echo "XPN-HOSTILE-START k=$k mode=$mode driver=$drv"
	mark=$(dmesg | wc -l)
	outcome=handled
	detail=
	# The interface, or the driver's refusal: the xenbus core logs a failed
	# probe ("vif-N: ERR xenbus_dev_probe on device/vif/N"), no need to wait
	# the whole minute then.
	hif=
	n=0
	while [ $n -lt 60 ]; do
		hif=$(iface_by_mac "$mac" "$names" | head -n1)
		[ -z "$hif" ] || break
		if dmesg | grep -q "vif-$devid: .*xenbus_dev_probe on device/vif/$devid\$"; then
			detail="the probe failed ($(dmesg | grep -m1 "vif-$devid: .*xenbus_dev_probe" | sed 's/^\[[ 0-9.]*\] //'));"
			break
		fi
		sleep 1
		n=$((n + 1))
	done
	if [ -z "$hif" ]; then
		detail="${detail:-no interface for the vif}"
	else
		iface_up "$hif" 10.0.2.2/24
		wait_link "$hif" 20 || detail="no carrier;"
		if ping_ok "$peer" 3 "$hif" 2>/dev/null; then
			detail="$detail ping ok before arming;"
		else
			detail="$detail no ping before arming;"
			[ "$mode" != honest ] || outcome=honest-failed
		fi
		if [ "$mode" = honest ]; then
			# 4 MiB each way, checked by sha256. A transfer that did not
			# complete (wget failed, nothing corrupted) is tried once
			# more, and the first try stays in the detail; a complete file
			# with another sha256 fails at once.
			want=$(wget -q -O - "http://$XPN_PV_PEER/blob-4M.sha256")
			for try in 1 2; do
				t0=$(date +%s)
				rc=0
				wget -q -T 60 -O /tmp/down.bin "http://$peer/blob-4M" || rc=$?
				got=$(sha256sum /tmp/down.bin | cut -d' ' -f1)
				if [ "$rc" = 0 ] && [ -n "$want" ] && [ "$got" = "$want" ]; then
					detail="$detail 4 MiB down sha256 ok$([ "$try" = 1 ] || echo " on try 2");"
					break
				fi
				detail="$detail 4 MiB down try $try failed (wget rc $rc after $(($(date +%s) - t0)) s, $(wc -c </tmp/down.bin) bytes);"
				if [ "$rc" = 0 ] || [ "$try" = 2 ]; then
					outcome=honest-failed
					break
				fi
			done
			rm -f /tmp/down.bin
			head -c 4194304 /dev/urandom >"/tmp/www/up-$k.bin"
			upsha=$(sha256sum "/tmp/www/up-$k.bin" | cut -d' ' -f1)
			t0=$(date +%s)
			touch "/tmp/www/up-$k.ready"
			wait_http "http://$XPN_PV_PEER/hostile/up-$k.sha" 150 || true
			theirs=$(wget -q -O - "http://$XPN_PV_PEER/hostile/up-$k.sha")
			note=$(wget -q -O - "http://$XPN_PV_PEER/hostile/up-$k.note" 2>/dev/null)
			[ -z "$note" ] || detail="$detail 4 MiB up: dom0's $note;"
			if [ "$theirs" = "$upsha" ]; then
				detail="$detail 4 MiB up sha256 ok;"
			else
				detail="$detail 4 MiB up failed (dom0 after $(($(date +%s) - t0)) s: ${theirs:-no answer});"
				outcome=honest-failed
			fi
			rm -f "/tmp/www/up-$k.bin"
		else
			# Arm, then traffic both ways for a few seconds.
			ping -c 1 -s 1234 -W 2 -I "$hif" "$peer" >/dev/null 2>&1
			ping -c 25 -i 0.2 -W 1 -I "$hif" "$peer" >/dev/null 2>&1 &
			p=$!
			wget -q -T 10 -O /dev/null "http://$peer/blob-4M" 2>/dev/null &
			w=$!
			sleep 5
			kill $p $w 2>/dev/null
			wait $p $w 2>/dev/null
		fi
		st="carrier=$(cat "/sys/class/net/$hif/carrier" 2>/dev/null) rx_errors=$(cat "/sys/class/net/$hif/statistics/rx_errors" 2>/dev/null) rx_dropped=$(cat "/sys/class/net/$hif/statistics/rx_dropped" 2>/dev/null) tx_errors=$(cat "/sys/class/net/$hif/statistics/tx_errors" 2>/dev/null)"
		detail="$detail $st;"
	fi
	ping_ok "$XPN_PV_PEER" 3 "$pv" 2>/dev/null || ping_ok "$XPN_PV_PEER" 3 "$pv" 2>/dev/null || {
		outcome=other-vif; detail="$detail the normal vif $pv stopped working;"; }
	# What the kernel said meanwhile.
	dmesg | tail -n +$((mark + 1)) >/tmp/mode.dmesg
	sed 's/^/  dmesg: /' /tmp/mode.dmesg | head -n 12
	# (xen-netfront's netdev_* lines name the interface, "net IF: ...".)
	first=$(grep -E "xen_pv_net|xen_netfront|vif|net ${hif:-none}: " /tmp/mode.dmesg | grep -v -e 'renamed from' -e 'link becomes ready' -e 'connected to backend' -e 'forcefully removed' | head -n1 |
		sed 's/^\[[ 0-9.]*\] //')
	[ -n "$first" ] || [ -n "$hif" ] || first=$(dmesg | grep "vif-$devid: " | head -n1 | sed 's/^\[[ 0-9.]*\] //')
	[ -z "$first" ] || detail="$detail log: $first"
	# No interface: the driver refused the vif (expected only for a MAC
	# that is not one, with a line saying so: ours "bad mac", xen-netfront's
	# "parsing device/vif/N/mac"), or could not take it (e.g.
	# the xenbus is stuck in an earlier vif's removal).
	# (The refusal may predate the mode's start: dom0 creates the first vif
	# before the guest is up.)
	if [ -z "$hif" ] && ! { [ "$mode" = bad-mac ] && dmesg | grep -qE "vif-$devid: .*(bad mac|parsing device/vif/$devid/mac)"; }; then
		outcome=no-vif
	fi
	if grep -qE "$warn_re" /tmp/mode.dmesg; then
		outcome=WARN
	fi
	# dom0 stops the backend, which removes the vif.
	touch "/tmp/www/hostile-$k.done"
	n=0
	# (By MAC and device: the next mode's vif may get the same name.)
	while [ -e "/sys/bus/xen/devices/vif-$devid" ] || iface_by_mac "$mac" >/dev/null; do
		n=$((n + 1))
		if [ $n -gt 60 ]; then
			[ "$outcome" != handled ] || outcome=hang
			detail="$detail vif not removed within 60 s;"
			break
		fi
		sleep 1
	done
	wait_http "http://$XPN_PV_PEER/hostile/removed-$k" 120 || fail "dom0 did not finish mode $k"
	# The removal is part of the mode: a warning while the driver tears the
	# vif down counts too.
	dmesg | tail -n +$((mark + 1)) >/tmp/mode.dmesg
	# (A hang or no-vif keeps its outcome, which makes the next modes boot
	# anew, with the warning in its detail.)
	if [ "$outcome" != WARN ] && grep -qE "$warn_re" /tmp/mode.dmesg; then
		detail="$detail at removal: $(grep -m1 -E "$warn_re" /tmp/mode.dmesg | sed 's/^\[[ 0-9.]*\] //');"
		case $outcome in hang | no-vif) ;; *) outcome=WARN ;; esac
	fi
	echo "XPN-HOSTILE k=$k mode=$mode driver=$drv outcome=$outcome detail=$(echo "$detail" | tr -s ' ' | sed 's/^ //')"
	k=$((k + 1))
	# A vif that never came or never went may have left this kernel's
	# xenbus stuck: the next modes get a fresh boot (scripts/lab-hostile.sh).
	case $outcome in
	hang | no-vif)
		echo "XPN-HOSTILE-RESTART k=$k"
		fail "restart after $outcome in $mode"
		;;
	esac
done

# The module unloads (its devices unbound first), and ours found nothing
# unaccounted for.
if [ "$drv" = xen_pv_net ]; then
	check "unload xen_pv_net" unload_xpn
	check "no accounting error at unload" accounting_ok
else
	check "unload xen-netfront" sh -c 'for d in /sys/bus/xen/drivers/vif/vif-*; do [ -e "$d" ] && echo "${d##*/}" >/sys/bus/xen/drivers/vif/unbind; done; /sbin/rmmod xen-netfront'
fi
log "hostile: all modes done"

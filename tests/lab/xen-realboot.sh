# SPDX-License-Identifier: GPL-2.0
# xpn-lab: real-boot (scripts/lab.sh gets the images of scripts/lab-image.sh as the lab machine's disks)
# Lab guest scenario: the driver a Debian user installs, booted for real.
# dom0 (xen-realboot.dom0) boots the Debian trixie system of
# scripts/lab-image.sh (systemd, udev, systemd-networkd, the stock kernel,
# xen-pv-net-dkms installed with apt) as a second domU, then the same system
# after `apt-get purge xen-pv-net-dkms`; this domU (paused by dom0 meanwhile) waits for their
# results (over its own PV vif) and judges them:
#   - installed: udev loaded xen_pv_net (not xen-netfront) for the vif at
#     boot, the distro's DHCP gave it an address, ping and a sha256-checked
#     4 MiB transfer worked, the kernel log is clean;
#   - purged: xen-netfront (xenbus driver "vif") drives the vif again, with
#     DHCP, ping and the transfer working.
# (With dom0's two vCPUs, the lab's setting until 2026-12-04, each real
# domU died in its boot, the emulation's deaths, in all 6 runs of
# 2026-12-03; with one, scripts/lab.sh XPN_LAB_DOM0_VCPUS, both systems
# booted through in each run since.)
log "realboot: $(uname -r)"
on_xen || fail "not running as a Xen guest"
check "insmod $XPN_KO" load_xpn
pv=$(pv_up xen_pv_net 60) || fail "no PV interface bound to xen_pv_net"
wait_link "$pv" 30 || fail "$pv: no carrier"
check "ping dom0 over $pv" ping_ok "$XPN_PV_PEER" 3 "$pv"

# Two boots of a systemd system under nested TCG: minutes each.
n=0
until wget -q -O /dev/null "http://$XPN_PV_PEER/realboot/done" 2>/dev/null; do
	n=$((n + 1))
	[ $n -le 720 ] || fail "dom0 did not finish the real boots in 1800 s"
	if [ $((n % 12)) = 0 ]; then
		_done=
		for _r in installed purged; do
			wget -q -O /dev/null "http://$XPN_PV_PEER/realboot/$_r.result" 2>/dev/null && _done="$_done $_r"
		done
		log "waiting for dom0's real boots ($((n * 5 / 60)) min; done:${_done:- none})"
	fi
	sleep 5
done
for _r in installed purged; do
	wget -q -O - "http://$XPN_PV_PEER/realboot/$_r.log" | sed "s/^/  $_r: /"
done
inst=$(wget -q -O - "http://$XPN_PV_PEER/realboot/installed.result")
purg=$(wget -q -O - "http://$XPN_PV_PEER/realboot/purged.result")
log "installed: $inst"
log "purged: $purg"
case " $inst " in
*" driver=xen_pv_net dhcp=ok ping=ok transfer=ok log=clean "*) log "ok: installed: udev loaded xen_pv_net for the vif; DHCP, ping and the transfer worked; log clean" ;;
*) fail "installed image: expected driver=xen_pv_net dhcp=ok ping=ok transfer=ok log=clean, got: $inst" ;;
esac
wget -q -O - "http://$XPN_PV_PEER/realboot/installed.log" | grep '^vif: .*modules loaded:' | grep -q xen_netfront &&
	fail "installed image: xen-netfront was loaded at boot too (the blacklist did not hold)"
case " $purg " in
*" driver=vif dhcp=ok ping=ok transfer=ok "*) log "ok: purged: xen-netfront drives the vif again; DHCP, ping and the transfer worked" ;;
*) fail "purged image: expected driver=vif (xen-netfront) dhcp=ok ping=ok transfer=ok, got: $purg" ;;
esac
check "kernel log clean" kernel_log_clean
log "realboot passed"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# dom0 side of stability-guest.sh: when the guest asks (files it serves on
# port 8080 over the vif), xl network-detach/-attach of the PV vif, then
# two xl save + xl restore cycles, each announced as /srv/www/restored-N.
set -u
# ask NAME: wait until the guest serves NAME.
ask() {
	for _ in $(seq 1 1800); do
		busybox wget -q -O /dev/null "http://10.0.0.2:8080/$1" 2>/dev/null && return 0
		sleep 1
	done
	echo "the guest never asked for $1"
	exit 1
}
ask detach.req
xl network-detach "$XPN_DOMNAME" 0 || { echo "xl network-detach failed"; exit 1; }
sleep 5
xl network-attach "$XPN_DOMNAME" bridge=xenbr0 mac=00:16:3e:00:00:10 || { echo "xl network-attach failed"; exit 1; }
echo "detached and attached"
for i in 1 2; do
	ask "save-$i.req"
	# The domU is absent from xl list between save and restore.
	touch /run/xpn-domU-away
	t=$SECONDS
	xl save "$XPN_DOMNAME" /tmp/domU.save || { rm -f /run/xpn-domU-away; echo "xl save $i failed"; exit 1; }
	s=$((SECONDS - t))
	xl restore /tmp/domU.save || { rm -f /run/xpn-domU-away /tmp/domU.save; echo "xl restore $i failed"; exit 1; }
	rm -f /tmp/domU.save /run/xpn-domU-away
	echo "save $i: ${s} s, restore $i: $((SECONDS - t - s)) s (domid now $(xl domid "$XPN_DOMNAME"))"
	touch "/srv/www/restored-$i"
done

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build and install xen_pv_net with DKMS (Debian's dkms) against the completed
# headers of the target kernel, inside the toolchain root. Prints the path of
# the installed module (inside the root).
#
# Usage: scripts/dkms.sh
. "$(dirname "$0")/lib.sh"
xpn_need_root
krel=$("$XPN_TOP/scripts/toolchain.sh")
"$XPN_TOP/scripts/kernel-rust.sh" >&2
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$XPN_TOP/dkms.conf")

# DKMS works on a copy in /usr/src/xen_pv_net-$ver; refresh it from the tree.
xpn_chroot bash -euo pipefail -c '
	krel=$1; ver=$2; src=/usr/src/xen_pv_net-$ver
	if dkms status -m xen_pv_net -v "$ver" | grep -q .; then
		dkms remove -q xen_pv_net/"$ver" --all >/dev/null
	fi
	rm -rf "$src"; mkdir -p "$src"
	cd /xpn/src
	# Only what the package needs (the Makefile lists it, as for the Debian
	# package): sources, build files, the PRE_BUILD hook, no build output.
	cp --parents $(make -s dkms-files) "$src"/
	dkms add -q xen_pv_net/"$ver" >&2
	dkms build -q xen_pv_net/"$ver" -k "$krel" >&2 || {
		cat /var/lib/dkms/xen_pv_net/"$ver"/build/make.log >&2 2>/dev/null; exit 1; }
	dkms install -q --force xen_pv_net/"$ver" -k "$krel" >&2
	dkms status -m xen_pv_net -v "$ver" -k "$krel" >&2
' xpn-dkms "$krel" "$ver"
echo "/lib/modules/$krel/updates/dkms/xen_pv_net.ko"

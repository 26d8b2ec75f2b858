#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the Debian package xen-pv-net-dkms (debian/, dh with dh-dkms) in the
# toolchain root, from a copy of the tree, for the target kernel of
# scripts/kernel.env (its headers, source and compilers become the package's
# dependencies). Installs debhelper and dh-dkms into the root if missing.
# Checks first that the version is the same everywhere: dkms.conf's
# PACKAGE_VERSION (the source), debian/changelog, rust/ethtool.rs.
# Prints the path of the .deb (under results/tmp/deb/).
#
# Usage: scripts/deb.sh
. "$(dirname "$0")/lib.sh"
xpn_need_root
krel=$("$XPN_TOP/scripts/toolchain.sh")

ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$XPN_TOP/dkms.conf")
[ -n "$ver" ] || xpn_die "dkms.conf has no PACKAGE_VERSION"
chver=$(sed -n '1s/^xen-pv-net (\([^)]*\)).*/\1/p' "$XPN_TOP/debian/changelog")
[ "$chver" = "$ver" ] ||
	xpn_die "debian/changelog is at version $chver but dkms.conf's PACKAGE_VERSION is $ver: add a changelog entry for $ver"
grep -q "VERSION: &CStr = c\"$ver\";" "$XPN_TOP/rust/ethtool.rs" ||
	xpn_die "rust/ethtool.rs VERSION is not dkms.conf's PACKAGE_VERSION $ver (ethtool -i would report another version)"

pkgs="build-essential debhelper dh-dkms"
# shellcheck disable=SC2086,SC2016 # a list; dpkg-query's format
if [ "$(xpn_chroot dpkg-query -W -f '${db:Status-Abbrev}\n' $pkgs 2>/dev/null | grep -c "^ii")" != 3 ]; then
	xpn_log "installing $pkgs into the root"
	xpn_chroot apt-get -q update >/dev/null 2>&1 || xpn_log "apt-get update failed; using cached lists"
	# shellcheck disable=SC2086
	xpn_chroot apt-get -q -y install $pkgs >"$XPN_CACHE/apt-deb.log" 2>&1 ||
		xpn_die "installing $pkgs failed, see $XPN_CACHE/apt-deb.log"
fi

out=$XPN_TOP/results/tmp/deb
name=xen-pv-net-$ver
rm -rf "$out"
mkdir -p "$out/build/$name"
# The package's files only: the DKMS tree (`make dkms-files`), debian/ and
# the documentation it ships; other work in the tree is never touched.
# shellcheck disable=SC2046 # the list is split into file names
(cd "$XPN_TOP" && cp -r --parents debian Documentation $(make -s dkms-files) "$out/build/$name/")
xpn_log "dpkg-buildpackage -b for kernel $krel (log: $out/build.log)"
# shellcheck disable=SC2016 # expanded by the root's shell
xpn_chroot sh -c 'cd "$1" && XPN_KREL="$2" dpkg-buildpackage -us -uc -b' sh \
	"$XPN_SRC_IN_ROOT/results/tmp/deb/build/$name" "$krel" >"$out/build.log" 2>&1 || {
	tail -n 30 "$out/build.log" >&2
	xpn_die "dpkg-buildpackage failed, see $out/build.log"
}
mv "$out/build/"*.deb "$out/build/"*.buildinfo "$out/build/"*.changes "$out/"
rm -rf "$out/build"
deb=$out/xen-pv-net-dkms_${ver}_all.deb
[ -f "$deb" ] || xpn_die "dpkg-buildpackage made no $deb"
xpn_log "$(basename "$deb"): Depends: $(dpkg-deb -f "$deb" Depends)"
echo "$deb"

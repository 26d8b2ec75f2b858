#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# rustfmt and clippy on the Rust sources, with the kernel's own toolchain:
# clippy on the host crate (the kernel-independent modules) and the lab's
# userspace backend, and on the
# whole module through the kernel build (CLIPPY=1 enables the kernel's
# clippy lints), in a scratch copy of the sources. Any warning fails.
. "$(dirname "$0")/lib.sh"
xpn_need_root
krel=$("$XPN_TOP/scripts/toolchain.sh")
xpn_host_crates
rc=0
xpn_chroot sh -c "rustfmt --edition 2021 --check $XPN_SRC_IN_ROOT/rust/*.rs $XPN_SRC_IN_ROOT/tests/host/src/*.rs $XPN_SRC_IN_ROOT/tests/host/src/tests/*.rs $XPN_SRC_IN_ROOT/tests/backend/src/*.rs" || {
	echo "rustfmt: sources are not formatted (run rustfmt --edition 2021 on them)" >&2; rc=1; }
xpn_chroot env CARGO_TARGET_DIR=/var/tmp/xpn-host-target CARGO_HOME=/var/tmp/xpn-cargo \
	cargo clippy --offline --manifest-path "$XPN_SRC_IN_ROOT/tests/host/Cargo.toml" --all-targets -- -D warnings || rc=1
# The lab's userspace backend (tests/backend), tests included.
xpn_chroot env CARGO_TARGET_DIR=/var/tmp/xpn-backend-target CARGO_HOME=/var/tmp/xpn-cargo \
	cargo clippy --offline --manifest-path "$XPN_SRC_IN_ROOT/tests/backend/Cargo.toml" --all-targets -- -D warnings || rc=1
# ethtool -i reports the DKMS package version.
pkg=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$XPN_TOP/dkms.conf")
grep -q "VERSION: &CStr = c\"$pkg\";" "$XPN_TOP/rust/ethtool.rs" || {
	echo "rust/ethtool.rs VERSION differs from dkms.conf PACKAGE_VERSION $pkg" >&2; rc=1; }
# So does the Debian package (debian/changelog's latest entry).
head -n1 "$XPN_TOP/debian/changelog" | grep -q "^xen-pv-net ($pkg) " || {
	echo "debian/changelog's latest version differs from dkms.conf PACKAGE_VERSION $pkg" >&2; rc=1; }
"$XPN_TOP/scripts/kernel-rust.sh" >/dev/null
xpn_chroot sh -c '
	set -e
	rm -rf /var/tmp/xpn-clippy && mkdir -p /var/tmp/xpn-clippy
	cd "$1" && cp -r Kbuild Makefile helpers.c helpers.h rust /var/tmp/xpn-clippy/
	cd /var/tmp/xpn-clippy && rm -f rust/bindings_generated.rs
	make KDIR="$2" CLIPPY=1 >clippy.log 2>&1 || { cat clippy.log; exit 1; }
	if grep -E "^(warning|error)" -A8 clippy.log; then
		echo "clippy: the kernel build of the module has warnings" >&2
		exit 1
	fi' sh "$XPN_SRC_IN_ROOT" "/usr/src/linux-headers-$krel" || rc=1
exit $rc

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Complete Debian's linux-headers package for out-of-tree Rust modules.
#
# Debian builds its stock kernel with CONFIG_RUST=y but its headers package
# omits what rustc needs to build a module against it: rust/*.rmeta, the
# proc-macro .so files and scripts/target.json. This script rebuilds them
# from Debian's linux-source package with the headers' .config and the very
# same rustc and gcc, installs them into the headers tree, and verifies that
# the Rust symbols they export are exactly the ones in the headers'
# Module.symvers (crate hashes included). A user of that kernel runs it once
# before `dkms install`.
#
# Usage: scripts/kernel-rust.sh [--host]
#   default: complete the headers inside the project's toolchain root
#   --host:  complete /usr/src/linux-headers-$(uname -r) on this machine
#            (which must have the kernel's rustc, gcc, bindgen and
#            linux-source installed)
. "$(dirname "$0")/lib.sh"

# Bumped whenever the set of installed artifacts changes.
XPN_ARTIFACTS_VERSION=v2

if [ "${1:-}" = --host ]; then
	run() { "$@"; }
	krel=$(uname -r)
	root=
else
	xpn_need_root
	krel=$("$XPN_TOP/scripts/toolchain.sh")
	run() { xpn_chroot "$@"; }
	root=$XPN_ROOT
fi

hdr=/usr/src/linux-headers-$krel
[ -f "$root$hdr/.config" ] || xpn_die "$hdr/.config missing: install linux-headers-$krel"
grep -q '^CONFIG_RUST=y' "$root$hdr/.config" ||
	xpn_die "kernel $krel is built without CONFIG_RUST: Rust modules cannot be built for it"
if [ -f "$root$hdr/scripts/target.json" ] && [ -f "$root$hdr/rust/libkernel.rmeta" ] &&
	grep -qx "$XPN_ARTIFACTS_VERSION .*" "$root$hdr/rust/.xpn-verified" 2>/dev/null; then
	xpn_log "rust artifacts for $krel already present and verified"
	exit 0
fi

kmm=$(echo "$krel" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
tarball=/usr/src/linux-source-$kmm.tar.xz
[ -f "$root$tarball" ] || xpn_die "$tarball missing: install linux-source-$kmm"

build=/var/tmp/xpn-ksrc-$krel
xpn_log "rebuilding rust/ for $krel from linux-source-$kmm (make prepare)"
run bash -euo pipefail -c '
	hdr=$1; build=$2; tarball=$3; kmm=$4; ver=$5
	log() { printf "[xpn %(%H:%M:%S)T] %s\n" -1 "$*" >&2; }
	if [ ! -f "$build/Makefile" ]; then
		log "extracting $tarball"
		rm -rf "$build.tmp"; mkdir -p "$build.tmp"
		tar -C "$build.tmp" --strip-components=1 -xJf "$tarball"
		mv "$build.tmp" "$build"
	fi
	cd "$build"
	# The compilers Debian used (CONFIG_CC_VERSION_TEXT names the gcc binary).
	cc=$(sed -n "s/^CONFIG_CC_VERSION_TEXT=\"\([^ ]*\) .*/\1/p" "$hdr/.config")
	command -v openssl >/dev/null || { echo "openssl missing: the config would drift" >&2; exit 1; }
	cp "$hdr/.config" .config
	make -s CC="$cc" HOSTCC="$cc" olddefconfig
	if ! diff -u "$hdr/.config" .config >/tmp/xpn-config.diff; then
		echo "make olddefconfig changed the .config of the headers:" >&2
		head -n 40 /tmp/xpn-config.diff >&2
		exit 1
	fi
	log "make prepare"
	make -s -j"$(nproc)" CC="$cc" HOSTCC="$cc" prepare
	for f in rust/libkernel.rmeta rust/libmacros.so scripts/target.json; do
		[ -e "$f" ] || { echo "make prepare did not produce $f" >&2; exit 1; }
	done
	# Verify: the Rust exports we generated must equal those of the stock
	# kernel (the mangled names carry the crate hashes).
	cat rust/exports_*_generated.h | sed -n "s/.*(\(_R[^)]*\)).*/\1/p" | sort -u >/tmp/xpn-ours.txt
	awk "\$2 ~ /^_R/ {print \$2}" "$hdr/Module.symvers" | sort -u >/tmp/xpn-theirs.txt
	n=$(wc -l </tmp/xpn-theirs.txt)
	if ! cmp -s /tmp/xpn-ours.txt /tmp/xpn-theirs.txt; then
		echo "rebuilt Rust exports differ from $hdr/Module.symvers:" >&2
		diff /tmp/xpn-theirs.txt /tmp/xpn-ours.txt | head -n 20 >&2
		exit 1
	fi
	log "verified: $n Rust exports match Module.symvers"
	mkdir -p "$hdr/rust"
	cp rust/*.rmeta rust/*.so "$hdr/rust/"
	cp scripts/target.json "$hdr/scripts/"
	# rust/Makefile: the module reads the bindgen flag filter from it.
	for f in include/generated/rustc_cfg rust/bindgen_parameters rust/Makefile; do
		[ -e "$hdr/$f" ] || cp "$f" "$hdr/$f"
	done
	echo "$ver $n" >"$hdr/rust/.xpn-verified"
' xpn-prepare "$hdr" "$build" "$tarball" "$kmm" "$XPN_ARTIFACTS_VERSION"
xpn_log "completed $hdr with Rust artifacts"

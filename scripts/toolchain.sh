#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Create (once) the isolated Debian trixie root that holds the kernel
# toolchain (rustc 1.85.1, rust-src, bindgen, gcc-14, make, flex, bison, bc,
# libelf, openssl, dkms) and the target kernel's headers and source, without
# touching the host's libc. Idempotent: a second run is a no-op.
#
# Usage: scripts/toolchain.sh            (prints the kernel release)
. "$(dirname "$0")/lib.sh"
xpn_need_root

TOOL_PKGS="ca-certificates gcc-14 gcc make flex bison bc libelf-dev libssl-dev
openssl python3 cpio xz-utils zstd kmod rustc rust-src rustfmt bindgen
libclang-dev dkms patch file busybox-static qemu-system-x86 debootstrap
cargo rust-clippy"

# The host needs nothing but debootstrap (and util-linux's unshare).
if ! command -v debootstrap >/dev/null; then
	xpn_log "installing debootstrap on the host"
	apt-get -q update >/dev/null && apt-get -q -y install debootstrap >/dev/null ||
		xpn_die "cannot install debootstrap"
fi

digest=$(printf '%s\n' "$XPN_DIST" "$XPN_KSUITE" "$XPN_MIRROR" $TOOL_PKGS | sha256sum | cut -c1-16)

if ! xpn_stamp_ok toolchain-root "$digest"; then
	if [ ! -x "$XPN_ROOT/usr/bin/apt-get" ]; then
		xpn_log "debootstrap $XPN_DIST into $XPN_ROOT"
		rm -rf "$XPN_ROOT.tmp"
		mkdir -p "$XPN_CACHE"
		debootstrap --variant=minbase --include=ca-certificates \
			"$XPN_DIST" "$XPN_ROOT.tmp" "$XPN_MIRROR" >"$XPN_CACHE/debootstrap.log" 2>&1 ||
			xpn_die "debootstrap failed, see $XPN_CACHE/debootstrap.log"
		mv "$XPN_ROOT.tmp" "$XPN_ROOT"
	fi
	cat >"$XPN_ROOT/etc/apt/sources.list" <<-EOF
		deb $XPN_MIRROR $XPN_DIST main
		deb $XPN_MIRROR $XPN_DIST-updates main
		deb $XPN_MIRROR $XPN_KSUITE main
	EOF
	# Only the kernel comes from backports; the compilers stay trixie's.
	cat >"$XPN_ROOT/etc/apt/apt.conf.d/90xpn" <<-EOF
		APT::Install-Recommends "false";
		APT::Default-Release "$XPN_DIST";
		Acquire::Retries "5";
	EOF
	# No daemons start inside the root.
	printf '#!/bin/sh\nexit 101\n' >"$XPN_ROOT/usr/sbin/policy-rc.d"
	chmod +x "$XPN_ROOT/usr/sbin/policy-rc.d"
	xpn_log "installing the toolchain into the root"
	xpn_chroot apt-get -q update >/dev/null
	# shellcheck disable=SC2086
	xpn_chroot apt-get -q -y install $TOOL_PKGS >"$XPN_CACHE/apt-toolchain.log" 2>&1 ||
		xpn_die "apt-get install failed, see $XPN_CACHE/apt-toolchain.log"
	xpn_stamp_set toolchain-root "$digest"
fi

# The target kernel: headers and source of the release the archive serves now.
xpn_chroot apt-get -q update >/dev/null 2>&1 || xpn_log "apt-get update failed; using cached lists"
krel=$(xpn_kernel_release)
kmm=$(echo "$krel" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
if ! xpn_stamp_ok kernel-pkgs "$krel"; then
	xpn_log "installing linux-headers-$krel and linux-source-$kmm from $XPN_KSUITE"
	xpn_chroot apt-get -q -y -t "$XPN_KSUITE" install "linux-headers-$krel" "linux-source-$kmm" \
		>"$XPN_CACHE/apt-kernel.log" 2>&1 ||
		xpn_die "installing the kernel headers/source failed, see $XPN_CACHE/apt-kernel.log"
	xpn_stamp_set kernel-pkgs "$krel"
fi

# The compilers must be the very ones the kernel was built with.
cfg=$XPN_ROOT/usr/src/linux-headers-$krel/.config
[ -f "$cfg" ] || xpn_die "no .config in linux-headers-$krel"
want_rustc=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"/\1/p' "$cfg")
want_cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"/\1/p' "$cfg")
have_rustc=$(xpn_chroot rustc --version)
have_cc=$(xpn_chroot sh -c 'x86_64-linux-gnu-gcc-14 --version | head -n1')
[ "$want_rustc" = "$have_rustc" ] ||
	xpn_die "kernel $krel was built by '$want_rustc' but the root has '$have_rustc'"
[ "$want_cc" = "$have_cc" ] ||
	xpn_die "kernel $krel was built by '$want_cc' but the root has '$have_cc'"
echo "$krel"

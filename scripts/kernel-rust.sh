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
# before `dkms install` (the Debian package xen-pv-net-dkms does it by itself,
# in its DKMS PRE_BUILD hook, scripts/headers-rust.sh, which does the work).
#
# Usage: scripts/kernel-rust.sh [--host]
#   default: complete the headers inside the project's toolchain root
#   --host:  complete /usr/src/linux-headers-$(uname -r) on this machine
#            (which must have the kernel's rustc, gcc, bindgen and
#            linux-source installed)
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --host ]; then
	krel=$(uname -r)
	run() { "$@"; }
	hook=$XPN_TOP/scripts/headers-rust.sh
else
	xpn_need_root
	krel=$("$XPN_TOP/scripts/toolchain.sh")
	run() { xpn_chroot "$@"; }
	hook=$XPN_SRC_IN_ROOT/scripts/headers-rust.sh
fi

# The work is scripts/headers-rust.sh's, which the DKMS package runs as its
# PRE_BUILD hook too; here the unpacked source is kept for the next run.
run bash "$hook" --keep-build --build-dir "/var/tmp/xpn-ksrc-$krel" "$krel"

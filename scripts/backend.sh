#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the lab's userspace netif backend (tests/backend, `xpn-backend`)
# in the toolchain root with the kernel's rustc, for the lab's dom0 (the
# same Debian trixie). Prints the path of the binary (in the root's tree).
#
# Usage: scripts/backend.sh
. "$(dirname "$0")/lib.sh"
xpn_need_root
"$XPN_TOP/scripts/toolchain.sh" >/dev/null
xpn_chroot env CARGO_TARGET_DIR=/var/tmp/xpn-backend-target CARGO_HOME=/var/tmp/xpn-cargo \
	cargo build --offline --release --manifest-path "$XPN_SRC_IN_ROOT/tests/backend/Cargo.toml" >&2 ||
	xpn_die "building tests/backend failed"
echo "$XPN_ROOT/var/tmp/xpn-backend-target/release/xpn-backend"

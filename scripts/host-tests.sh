#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host tests of the kernel-independent modules (tests/host), compiled by the
# kernel's own rustc (1.85.1, in the toolchain root), then rustfmt and
# clippy on the same code.
#
# Usage: scripts/host-tests.sh [cargo test args...]
#   XPN_FUZZ_CASES=N sets the cases of each fuzz property (default 500000;
#   XPN_FUZZ_CASES=5000000 scripts/host-tests.sh fuzz runs 10^7 in all).
. "$(dirname "$0")/lib.sh"
xpn_need_root
"$XPN_TOP/scripts/toolchain.sh" >/dev/null
xpn_host_crates
xpn_chroot env CARGO_TARGET_DIR=/var/tmp/xpn-host-target CARGO_HOME=/var/tmp/xpn-cargo \
	${XPN_FUZZ_CASES:+XPN_FUZZ_CASES=$XPN_FUZZ_CASES} \
	cargo test --offline --manifest-path "$XPN_SRC_IN_ROOT/tests/host/Cargo.toml" "$@"

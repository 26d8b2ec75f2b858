#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# rustfmt and clippy on the Rust sources, with the kernel's own toolchain.
# clippy runs on the host crate (the kernel-independent modules); the kernel
# glue is linted by the kernel build itself (it enables clippy's lints when
# built with CLIPPY=1).
. "$(dirname "$0")/lib.sh"
xpn_need_root
"$XPN_TOP/scripts/toolchain.sh" >/dev/null
rc=0
xpn_chroot sh -c "rustfmt --edition 2021 --check $XPN_SRC_IN_ROOT/rust/*.rs $XPN_SRC_IN_ROOT/tests/host/src/*.rs $XPN_SRC_IN_ROOT/tests/host/tests/*.rs" || {
	echo "rustfmt: sources are not formatted (run rustfmt --edition 2021 on them)" >&2; rc=1; }
xpn_chroot env CARGO_TARGET_DIR=/var/tmp/xpn-host-target CARGO_HOME=/var/tmp/xpn-cargo \
	cargo clippy --offline --manifest-path "$XPN_SRC_IN_ROOT/tests/host/Cargo.toml" --all-targets -- -D warnings || rc=1
exit $rc

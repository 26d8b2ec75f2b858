#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs every test of the project: host tests (cargo test with the kernel's
# rustc), lint, the module build and its error messages, DKMS, and the lab
# tests in real Xen under QEMU. Prints `N passed, N failed` last; exits
# non-zero if anything failed.
#
# Usage: scripts/test.sh [--no-lab] [--only PATTERN]
. "$(dirname "$0")/lib.sh"
xpn_need_root

lab=1
only=
while [ $# -gt 0 ]; do
	case $1 in
	--no-lab) lab=0 ;;
	--only) only=$2; shift ;;
	*) xpn_die "unknown argument $1" ;;
	esac
	shift
done

passed=0
failed=0
failures=()
logdir=$XPN_TOP/results/tmp/test-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logdir"

# run NAME CMD...: one test; its output goes to $logdir/NAME.log and, on
# failure, its tail to the console.
run() {
	local name=$1; shift
	if [ -n "$only" ] && [[ $name != *$only* ]]; then return 0; fi
	local t0=$SECONDS
	xpn_log "test $name: running"
	if "$@" >"$logdir/$name.log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS $name ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "FAIL $name ($((SECONDS - t0)) s), last lines of $logdir/$name.log:"
		tail -n 25 "$logdir/$name.log" | sed 's/^/    /'
	fi
}

krel=$("$XPN_TOP/scripts/toolchain.sh")
"$XPN_TOP/scripts/kernel-rust.sh"
KDIR=/usr/src/linux-headers-$krel

# --- host tests: every cargo test counts as one test -------------------------
host_tests() {
	local out=$logdir/host.log
	if [ -n "$only" ] && [[ host != *$only* ]]; then return 0; fi
	xpn_log "test host: cargo test (kernel's rustc)"
	"$XPN_TOP/scripts/host-tests.sh" >"$out" 2>&1
	local rc=$?
	local p f
	p=$(awk '/^test result:/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) s += $i} END {print s + 0}' "$out")
	f=$(awk '/^test result:/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) s += $i} END {print s + 0}' "$out")
	p=${p:-0}; f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi # did not build
	passed=$((passed + p)); failed=$((failed + f))
	echo "host: $p passed, $f failed (cargo test, $out)"
	[ "$f" = 0 ] || { failures+=(host); grep -E '^test .* FAILED|^error' "$out" | head -n 20; }
}
host_tests

run lint "$XPN_TOP/scripts/lint.sh"

# --- the module build --------------------------------------------------------
build_clean() {
	local w
	xpn_chroot sh -c "cd $XPN_SRC_IN_ROOT && make clean KDIR=$KDIR >/dev/null" || return 1
	[ ! -e "$XPN_TOP/xen_pv_net.ko" ] || { echo "make clean left xen_pv_net.ko"; return 1; }
	xpn_chroot sh -c "cd $XPN_SRC_IN_ROOT && make KDIR=$KDIR" >"$logdir/build.out" 2>&1 || {
		cat "$logdir/build.out"; return 1; }
	cat "$logdir/build.out"
	[ -f "$XPN_TOP/xen_pv_net.ko" ] || { echo "no xen_pv_net.ko"; return 1; }
	w=$(grep -c -E '^(warning|error)' "$logdir/build.out" || true)
	[ "$w" = 0 ] || { echo "the build emitted $w warnings"; return 1; }
}
run build build_clean

# A target without CONFIG_RUST / CONFIG_XEN / the Rust artifacts gets one
# clear line, not compiler errors. Fake build trees hold just the config.
fake_kdir() { # DIR CONFIG-LINES...
	local d=$1; shift
	rm -rf "$d"; mkdir -p "$d/include/config"
	printf '%s\n' "$@" >"$d/include/config/auto.conf"
}
expect_error() { # KDIR PATTERN
	local out
	out=$(make -s -C "$XPN_TOP" KDIR="$1" 2>&1) && { echo "build succeeded against $1"; return 1; }
	echo "$out"
	echo "$out" | grep -q -- "$2" || { echo "expected: $2"; return 1; }
	[ "$(echo "$out" | grep -c 'xen_pv_net:')" = 1 ] || { echo "expected one error line"; return 1; }
}
build_errors() {
	local t=$logdir/fake
	fake_kdir "$t/norust" CONFIG_XEN=y CONFIG_XEN_PVHVM_GUEST=y
	expect_error "$t/norust" "built without CONFIG_RUST=y"
	fake_kdir "$t/noxen" CONFIG_RUST=y
	expect_error "$t/noxen" "built without CONFIG_XEN"
	fake_kdir "$t/nohvm" CONFIG_RUST=y CONFIG_XEN=y
	expect_error "$t/nohvm" "Xen HVM guest support"
	fake_kdir "$t/noartifacts" CONFIG_RUST=y CONFIG_XEN=y CONFIG_XEN_PVHVM_GUEST=y
	expect_error "$t/noartifacts" "Rust build tree of .* is incomplete"
	expect_error "$t/does-not-exist" "no kernel build tree"
}
run build-errors build_errors

# --- DKMS ----------------------------------------------------------------------
dkms_install() {
	local ko
	ko=$("$XPN_TOP/scripts/dkms.sh") || return 1
	[ -f "$XPN_ROOT$ko" ] || { echo "dkms did not install $ko"; return 1; }
	xpn_chroot dkms status -m xen_pv_net -k "$krel" | grep -q ': installed' || return 1
	xpn_chroot modinfo -F vermagic "$ko" | grep -q "^$krel " ||
		{ echo "vermagic does not name $krel"; return 1; }
	grep -q '^BUILD_EXCLUSIVE_CONFIG="CONFIG_RUST CONFIG_XEN"' "$XPN_TOP/dkms.conf"
	grep -q '^AUTOINSTALL="yes"' "$XPN_TOP/dkms.conf"
}
run dkms dkms_install
# The Debian package, installed with apt into a throwaway copy of the root
# made a stock trixie system first, then purged (Documentation/packaging.rst).
# Nothing else runs beside it here: its builds may use both cores.
run deb-install env XPN_DEB_TEST_JOBS="${XPN_DEB_TEST_JOBS:-$(nproc)}" "$XPN_TOP/tests/deb-install.sh"
# The lab tests use the module DKMS built and installed.
XPN_MODULE=$XPN_ROOT/lib/modules/$krel/updates/dkms/xen_pv_net.ko
export XPN_MODULE

# The suite's one reason to boot a lab test again (xpn_emulator_death) on
# real death logs of 2026-12-02/03: Xen's own state in the domU, or a #DF
# delivery that failed with the IDT intact in the guest's tables, is
# recognised; the same death without dom0's reading of the IDT, or with a
# gate that is garbage, or one after a guest warning, is not.
death_classifier() {
	local f=$XPN_TOP/tests/lab/fixtures
	xpn_emulator_death "$f/death-emulator-state.log" || { echo "emulator-state not recognised"; return 1; }
	xpn_emulator_death "$f/death-idt-df-intact.log" || { echo "#DF delivery with an intact IDT not recognised"; return 1; }
	! xpn_emulator_death "$f/death-idt-df.log" || { echo "a guest-kernel triple fault with no IDT read taken for the emulation's"; return 1; }
	! xpn_emulator_death "$f/death-idt-df-garbage.log" || { echo "a triple fault with a garbage IDT gate taken for the emulation's"; return 1; }
	! xpn_emulator_death "$f/death-emulator-state-after-warn.log" ||
		{ echo "a death after a guest WARNING taken for the emulation's"; return 1; }
}
run lab-death-classifier death_classifier

# --- lab tests -----------------------------------------------------------------
if [ "$lab" = 1 ]; then
	# One boot may run a long scenario (20 reload cycles): 30 minutes at most,
	# and never 4 minutes without console output.
	export XPN_LAB_TIMEOUT=${XPN_LAB_TIMEOUT:-1800} XPN_LAB_QUIET=1
	run lab-prepare "$XPN_TOP/scripts/lab.sh" prepare
	run lab-smoke-native "$XPN_TOP/scripts/lab.sh" run-native "$XPN_TOP/tests/lab/smoke-native.sh"
	# The lab reports a failing guest script as a failure.
	run lab-reports-failure sh -c '! XPN_LAB_QUIET=1 "$0" run-native "$1"' \
		"$XPN_TOP/scripts/lab.sh" "$XPN_TOP/tests/lab/smoke-fail.sh"
	# lab_boot NAME CMD...: one lab boot (CMD runs scripts/lab.sh), booted
	# again, at most twice, when it ended in the emulation's own fault (a
	# silent triple fault with Xen's state in the domU, or with the IDT
	# intact in its tables: xpn_emulator_death), which is reported and
	# counted; any other end of the domU fails the test.
	lab_boot() {
		local name=$1 k=1 slog why
		shift
		while :; do
			slog=$logdir/$name-boot$k.serial.log
			XPN_LAB_LOG=$slog "$@" && return 0
			why=$(xpn_emulator_death "$slog") || return 1
			echo "lab-$name: boot $k ended by the emulation: $why ($slog)" |
				tee -a "$logdir/emulator-deaths.txt"
			[ "$k" -lt 3 ] || { echo "lab-$name: 3 boots ended by the emulation"; return 1; }
			k=$((k + 1))
		done
	}
	for t in "$XPN_TOP"/tests/lab/xen-*.sh; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .sh)
		# Run by scripts/lab-hostile.sh, with the backend it needs (below).
		[ "$name" != xen-hostile ] || continue
		dom0=${t%.sh}.dom0
		# Scenarios marked so (all with our driver) run with the guest
		# kernel's memory debugging on.
		debug=
		grep -q '^# xpn-lab: guest-debug' "$t" && debug=1
		# The teardown series: 20 of each take half an hour under TCG,
		# so the suite runs 2 (XPN_LIFECYCLE_CYCLES=20 for the full one).
		genv=
		[ "$name" != xen-lifecycle ] || genv="LIFECYCLE_CYCLES=${XPN_LIFECYCLE_CYCLES:-2}"
		# The real boot of a Debian system with the package: the images
		# first (scripts/lab-image.sh, about 5 minutes, cached), then two
		# systemd boots under nested TCG.
		disks=
		if grep -q '^# xpn-lab: real-boot' "$t"; then
			run "lab-$name-image" "$XPN_TOP/scripts/lab-image.sh"
			# (It prints the images' directory last; no log when --only
			# left it out.)
			img=$(tail -n 1 "$logdir/lab-$name-image.log" 2>/dev/null || true)
			[ -f "$img/installed.img" ] && [ -f "$img/purged.img" ] || continue
			disks="$img/installed.img $img/purged.img"
		fi
		run "lab-$name" lab_boot "$name" env ${debug:+XPN_LAB_GUEST_DEBUG=1} XPN_LAB_GUEST_ENV="$genv" \
			XPN_LAB_DISKS="$disks" "$XPN_TOP/scripts/lab.sh" run "$t" $([ -f "$dom0" ] && echo "$dom0")
	done
	# Our frontend against the userspace backend's honest and hostile
	# modes (tests/backend): it must handle every one. The README's table
	# gets this run's column next to the in-tree xen-netfront's, measured
	# by `scripts/lab-hostile.sh --drivers xen-netfront` (20 minutes more,
	# its hangs need new boots) and kept in results/hostile.tsv. The script
	# boots again by itself after a death (recorded per mode).
	run lab-hostile "$XPN_TOP/scripts/lab-hostile.sh" --drivers xen_pv_net
fi

# Lab boots dom0 had to re-create the domU in (it died before its kernel
# ran): counted here, so that a lab that gets worse is seen.
retries=$(cat "$logdir"/lab-*.log 2>/dev/null | sed -n 's/.*lab retries: the domU was re-created \([0-9]*\) time.*/\1/p' |
	awk '{s += $1} END {print s + 0}')
echo "lab retries: $retries (domU re-created before its kernel ran)"
emu=0
[ ! -f "$logdir/emulator-deaths.txt" ] || emu=$(wc -l <"$logdir/emulator-deaths.txt")
echo "lab boots ended by the emulation and booted again: $emu"
[ "$emu" = 0 ] || sed 's/^/  /' "$logdir/emulator-deaths.txt"
[ "${#failures[@]}" = 0 ] || echo "failed: ${failures[*]}"
echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

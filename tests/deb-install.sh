#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs the Debian package xen-pv-net-dkms (scripts/deb.sh) with apt into
# a throwaway copy of the toolchain root, as a user of a Debian trixie system
# with the stock trixie-backports kernel would, checks what it set up, purges
# it and checks that the system is as it was before.
#
# The copy is an overlay mount on the root (private to this process: it goes
# away with it, even when the test is killed), so the root itself, which the
# other tests and scripts/dkms.sh use, is never modified. In the copy, first
# the system is made a stock one: the toolchain, DKMS, the kernel headers and
# source are purged and the Rust artifacts scripts/kernel-rust.sh had added to
# the headers are removed; the stock kernel (linux-image, with its
# initramfs) is installed. Then `apt-get install ./xen-pv-net-dkms_*.deb` must
# pull in everything, and its DKMS hook must rebuild the Rust artifacts from
# linux-source before DKMS builds the module.
#
# Usage: tests/deb-install.sh [--quick] [DEB]
#   --quick  keep the root's toolchain and completed headers (the hook then
#            has nothing to do): checks the package, not its dependencies
#   DEB      the package to test (default: built now by scripts/deb.sh)
# Environment: XPN_DEB_TEST_JOBS  parallel jobs of the builds (default 1)
#
# Prints PASS/FAIL lines and "N passed, N failed"; exits non-zero on failure.
. "$(dirname "$0")/../scripts/lib.sh"
xpn_need_root

if [ -z "${XPN_DEB_TEST_NS:-}" ]; then
	XPN_DEB_TEST_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi

quick=0
deb=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	-*) xpn_die "unknown argument $1" ;;
	*) deb=$1 ;;
	esac
	shift
done
jobs=${XPN_DEB_TEST_JOBS:-1}
t_start=$SECONDS

krel=$("$XPN_TOP/scripts/toolchain.sh")
kmm=$(echo "$krel" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
"$XPN_TOP/scripts/kernel-rust.sh"
[ -n "$deb" ] || deb=$("$XPN_TOP/scripts/deb.sh")
[ -f "$deb" ] || xpn_die "$deb: no such file"
deb=$(readlink -f "$deb")
ver=$(dpkg-deb -f "$deb" Version)
logdir=$XPN_TOP/results/tmp/deb-install-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logdir"
# The package, where the root sees it.
cp "$deb" "$logdir/"
debdir=$XPN_SRC_IN_ROOT/${logdir#"$XPN_TOP"/}

passed=0
failed=0
check() { # NAME CMD...: one check, PASS or FAIL
	local name=$1; shift
	echo "== $name" >>"$logdir/checks.log"
	if "$@" >>"$logdir/checks.log" 2>&1; then
		passed=$((passed + 1)); echo "PASS $name"
	else
		failed=$((failed + 1)); echo "FAIL $name (see $logdir/checks.log)"
	fi
}
# inroot CMD...: CMD in the copy of the root (a shell command line).
inroot() { xpn_chroot bash -c "$*"; }

# --- the throwaway copy of the root --------------------------------------------
main_root=$XPN_ROOT
# What the package would change in the root (others may use the root
# meanwhile, e.g. install packages: the root as a whole is not compared).
main_state() {
	{ grep -A1 -x 'Package: xen-pv-net-dkms' "$main_root/var/lib/dpkg/status" || true
		ls -a "$main_root/usr/src" "$main_root/var/lib/dkms" "$main_root$mods/updates" 2>&1 || true
		ls "$main_root/usr/lib/modprobe.d" "$main_root/usr/share/initramfs-tools/hooks"
		cat "$main_root$hdr/rust/.xpn-verified"; } | sha256sum
}
hdr=/usr/src/linux-headers-$krel
mods=/lib/modules/$krel
main_state0=$(main_state)
ovl=$XPN_CACHE/deb-test
rm -rf "$ovl"
mkdir -p "$ovl/upper" "$ovl/work" "$ovl/root"
mount -t overlay xpn-deb-test -o "lowerdir=$main_root,upperdir=$ovl/upper,workdir=$ovl/work" "$ovl/root" ||
	xpn_die "cannot mount an overlay on $main_root"
trap 'umount -l "$ovl/root" 2>/dev/null; rm -rf "$ovl"' EXIT
XPN_ROOT=$ovl/root

# The module scripts/dkms.sh may have added to the root (the suite's dkms
# test): a system without the package has none.
inroot "if command -v dkms >/dev/null; then dkms remove -m xen_pv_net --all >&2 || true; fi
	rm -rf /usr/src/xen_pv_net-* /var/lib/dkms/xen_pv_net /lib/modules/$krel/updates/dkms/xen_pv_net.ko*
	rmdir -p /lib/modules/$krel/updates/dkms 2>/dev/null; depmod $krel" >>"$logdir/prepare.log" 2>&1 ||
	xpn_die "removing the root's own xen_pv_net failed, see $logdir/prepare.log"
if [ "$quick" = 0 ]; then
	xpn_log "copy of the root: making it a stock trixie system (purging the toolchain, log: $logdir/prepare.log)"
	# What scripts/kernel-rust.sh added: none of it belongs to a package.
	inroot "rm -rf $hdr/rust \$(readlink -f $hdr/scripts)/target.json" >>"$logdir/prepare.log" 2>&1
	inroot "apt-get -q -y purge dkms dh-dkms debhelper build-essential rustc rust-src rustfmt \
		rust-clippy cargo bindgen libclang-dev gcc-14 gcc make flex bison bc libelf-dev \
		libssl-dev python3 patch file qemu-system-x86 debootstrap busybox-static \
		linux-headers-$krel linux-source-$kmm && apt-get -q -y autoremove --purge" \
		>>"$logdir/prepare.log" 2>&1 || xpn_die "purging the toolchain failed, see $logdir/prepare.log"
	check "copy of the root: no rustc, bindgen, gcc-14, dkms, headers or linux-source left" \
		inroot "! command -v rustc && ! command -v bindgen && ! command -v x86_64-linux-gnu-gcc-14 &&
			! command -v dkms && [ ! -e $hdr ] && [ ! -e /usr/src/linux-source-$kmm.tar.xz ]"
fi
# initramfs-tools: what a Debian system boots with (the kernel package would
# take dracut, its first alternative, in a root without either).
xpn_log "copy of the root: installing the stock kernel linux-image-$krel from $XPN_KSUITE"
inroot "apt-get -q -y -t $XPN_KSUITE install initramfs-tools linux-image-$krel" >>"$logdir/prepare.log" 2>&1 ||
	xpn_die "installing linux-image-$krel failed, see $logdir/prepare.log"
# DKMS builds with $jobs jobs (2 cores here are shared with other work).
inroot "mkdir -p /etc/dkms/framework.conf.d && echo parallel_jobs=$jobs >/etc/dkms/framework.conf.d/xpn-test.conf"

# The state to return to: packages, files and their metadata (contents for
# /etc), and what the initramfs holds.
snapshot() { # OUT
	inroot "dpkg-query -W -f '\${db:Status-Abbrev} \${Package} \${Version}\n' | sort
		find / -xdev \\( -path /tmp -o -path /var/tmp -o -path /var/log -o -path /var/cache \\
			-o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /boot/initrd.img-\\* \\) -prune \\
			-o -type d -printf '%p d %m\n' -o -printf '%p %y %m %s %l\n' | sort
		find /etc -xdev -type f -exec sha256sum {} + | sort
		lsinitramfs /boot/initrd.img-$krel | sort" >"$1" 2>&1
}
snapshot "$logdir/before.txt"
xpn_log "copy of the root: ready ($((SECONDS - t_start)) s)"

# --- install ------------------------------------------------------------------
t0=$SECONDS
xpn_log "apt-get install ./$(basename "$deb") (log: $logdir/install.log)"
inroot "cd $debdir && apt-get -q -y -o APT::Install-Recommends=true -s install ./$(basename "$deb")" \
	>"$logdir/install-with-recommends.sim" 2>&1 || true
if inroot "cd $debdir && XEN_PV_NET_JOBS=$jobs apt-get -q -y install ./$(basename "$deb")" \
	>"$logdir/install.log" 2>&1; then
	passed=$((passed + 1)); echo "PASS apt-get install ./$(basename "$deb") ($((SECONDS - t0)) s)"
else
	failed=$((failed + 1)); echo "FAIL apt-get install ./$(basename "$deb") ($((SECONDS - t0)) s), last lines of $logdir/install.log:"
	tail -n 25 "$logdir/install.log" | sed 's/^/    /'
	inroot "cat /var/lib/dkms/xen_pv_net/$ver/build/make.log" 2>/dev/null | tail -n 25 | sed 's/^/    make.log: /'
fi
inroot "cat /var/lib/dkms/xen_pv_net/$ver/$krel/*/log/make.log" >"$logdir/make.log" 2>&1 || true

if [ "$quick" = 0 ]; then
	check "apt pulled in the kernel's rustc, rust-src, bindgen, gcc-14, dkms, headers and linux-source" \
		inroot "[ \"\$(rustc --version)\" = \"\$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT=\"\\(.*\\)\"/\\1/p' $hdr/.config)\" ] &&
			dpkg-query -W rust-src bindgen gcc-14 dkms linux-headers-$krel linux-source-$kmm"
	check "the DKMS hook completed $hdr with Rust artifacts verified against Module.symvers" \
		inroot "grep -Ex 'v[0-9]+ [1-9][0-9]* dkms' $hdr/rust/.xpn-verified && [ -s $hdr/rust/.xpn-files ] &&
			[ -f $hdr/rust/libkernel.rmeta ] && [ -f $hdr/scripts/target.json ] &&
			grep -q 'verified: .* Rust exports match Module.symvers' /var/lib/dkms/xen_pv_net/$ver/$krel/*/log/make.log"
	check "the DKMS hook removed the unpacked linux-source" \
		inroot "[ ! -e /var/lib/xen_pv_net ]"
fi
check "dkms status: xen_pv_net/$ver installed for $krel" \
	inroot "out=\$(dkms status -m xen_pv_net -v $ver -k $krel); echo \"\$out\" >&2; echo \"\$out\" | grep -q ': installed'"
check "$mods/updates/dkms/xen_pv_net.ko (compressed as the kernel's modules) exists" \
	inroot "ls $mods/updates/dkms/xen_pv_net.ko*"
check "modinfo: alias xen:vif, version $ver, vermagic $krel" \
	inroot "modinfo -k $krel xen_pv_net >&2 && modinfo -k $krel -F alias xen_pv_net | grep -qx 'xen:vif' &&
		[ \"\$(modinfo -k $krel -F version xen_pv_net)\" = $ver ] &&
		modinfo -k $krel -F vermagic xen_pv_net | grep -q '^$krel '"
check "modprobe.d: blacklist xen-netfront" \
	inroot "grep -qx 'blacklist xen-netfront' /usr/lib/modprobe.d/xen-pv-net.conf &&
		modprobe -c -S $krel | grep -qx 'blacklist xen_netfront'"
check "alias xen:vif (udev's modprobe, blacklist applied) loads xen_pv_net, not xen-netfront" \
	inroot "modprobe -S $krel -R xen:vif >&2; out=\$(modprobe -S $krel -b --show-depends xen:vif); echo \"\$out\" >&2
		echo \"\$out\" | grep -q '/xen_pv_net\\.ko' && ! echo \"\$out\" | grep -q 'xen-netfront'"
check "modprobe xen:vif (blacklist applied to aliases) loads xen_pv_net, not xen-netfront" \
	inroot "out=\$(modprobe -S $krel --show-depends xen:vif); echo \"\$out\" >&2
		echo \"\$out\" | grep -q '/xen_pv_net\\.ko' && ! echo \"\$out\" | grep -q 'xen-netfront'"
check "an explicit modprobe xen-netfront still loads it" \
	inroot "out=\$(modprobe -S $krel --show-depends xen-netfront); echo \"\$out\" >&2; echo \"\$out\" | grep -q '/xen-netfront\\.ko'"
check "initramfs of $krel: xen_pv_net.ko and the blacklist" \
	inroot "lsinitramfs /boot/initrd.img-$krel >/tmp/initrd.txt && grep '/xen_pv_net\\.ko' /tmp/initrd.txt &&
		grep 'modprobe.d/xen-pv-net\\.conf' /tmp/initrd.txt"

# --- purge ----------------------------------------------------------------------
t0=$SECONDS
check "apt-get purge xen-pv-net-dkms" inroot "apt-get -q -y purge xen-pv-net-dkms >&2"
xpn_log "purged ($((SECONDS - t0)) s)"
check "purge: no xen_pv_net module, DKMS tree or source left" \
	inroot "! ls /lib/modules/*/updates/dkms/xen_pv_net.ko* 2>/dev/null && [ ! -e /var/lib/dkms/xen_pv_net ] &&
		! ls -d /usr/src/xen_pv_net-* 2>/dev/null && ! dkms status -m xen_pv_net 2>/dev/null | grep -q ."
check "purge: the blacklist is gone" \
	inroot "[ ! -e /usr/lib/modprobe.d/xen-pv-net.conf ] && ! modprobe -c -S $krel | grep -q 'blacklist xen_netfront'"
check "purge: alias xen:vif resolves to xen_netfront again" \
	inroot "[ \"\$(modprobe -S $krel -R xen:vif)\" = xen_netfront ] &&
		out=\$(modprobe -S $krel -b --show-depends xen:vif) && echo \"\$out\" >&2 && echo \"\$out\" | grep -q '/xen-netfront\\.ko'"
check "purge: the initramfs holds xen-netfront and neither xen_pv_net nor the blacklist" \
	inroot "lsinitramfs /boot/initrd.img-$krel >/tmp/initrd.txt && grep -q '/xen-netfront\\.ko' /tmp/initrd.txt &&
		! grep -E 'xen_pv_net|xen-pv-net' /tmp/initrd.txt"
if [ "$quick" = 0 ]; then
	check "purge: the Rust artifacts the hook added are gone from the headers" \
		inroot "[ ! -e $hdr/rust/.xpn-verified ] && ! ls $hdr/rust/*.rmeta 2>/dev/null &&
			[ ! -e $hdr/scripts/target.json ] && [ ! -e /var/lib/xen_pv_net ]"
else
	check "purge: the Rust artifacts scripts/kernel-rust.sh added to the headers stay" \
		inroot "grep -Ex 'v[0-9]+ [1-9][0-9]*' $hdr/rust/.xpn-verified && [ -f $hdr/rust/libkernel.rmeta ] &&
			[ -f $hdr/scripts/target.json ]"
fi
if [ "$quick" = 0 ]; then
	# What apt pulled in for the package: `apt autoremove` takes most of it;
	# apt keeps the headers of an installed kernel (APT::VersionedKernelPackages)
	# and what installed packages depend on, recommend or suggest. All of it
	# must be marked as automatically installed; then it is purged here, so
	# that anything the package left in their files shows below.
	inroot "apt-get -q -y autoremove --purge" >"$logdir/autoremove.log" 2>&1
	left=$(inroot "dpkg-query -W -f '\${db:Status-Abbrev} \${Package}\n'" | awk '$1 == "ii" {print $2}' |
		grep -vxF -f <(awk '$1 == "ii" {print $2}' "$logdir/before.txt") | tr '\n' ' ' || true)
	echo "kept by apt autoremove: $left" >>"$logdir/autoremove.log"
	xpn_log "kept by apt autoremove: $(echo "$left" | wc -w) packages (see $logdir/autoremove.log)"
	check "what apt installed for the package is marked as automatically installed" \
		inroot "[ -z '$left' ] || [ -z \"\$(apt-mark showmanual $left)\" ]"
	[ -z "$left" ] || inroot "apt-get -q -y purge $left && apt-get -q -y autoremove --purge" \
		>>"$logdir/autoremove.log" 2>&1
	# The initramfs again, without DKMS's /etc/modprobe.d/dkms.conf, which
	# the removal of DKMS leaves in it.
	inroot "update-initramfs -u -k $krel" >>"$logdir/autoremove.log" 2>&1
fi
snapshot "$logdir/after.txt"
# DKMS's own state is left out: its module signing key, made at the first
# build, which DKMS keeps when purged, by design (it may be enrolled as a
# MOK), and /var/lib/dkms, which `dkms remove` deletes when it is empty.
for f in before after; do
	grep -v '^/var/lib/dkms' "$logdir/$f.txt" >"$logdir/$f-nodkms.txt" || true
done
check "the system is as it was before the install (packages, files, /etc, initramfs)" \
	diff -u "$logdir/before-nodkms.txt" "$logdir/after-nodkms.txt"
check "the toolchain root has no trace of the package" \
	test "$(main_state)" = "$main_state0"

echo "deb-install: $passed passed, $failed failed ($((SECONDS - t_start)) s; logs in $logdir)"
[ "$failed" = 0 ]

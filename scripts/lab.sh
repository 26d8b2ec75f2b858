#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The Xen lab: real Xen 4.20 + a Debian dom0 + an HVM domU running the
# target kernel, all under QEMU TCG (no KVM needed), to run guest scenario
# scripts against xen_pv_net.ko.
#
# Usage:
#   scripts/lab.sh prepare
#       Build and cache everything (dom0 root, kernel, boot images).
#       Idempotent: a second run rebuilds nothing unless inputs changed.
#   scripts/lab.sh run GUEST_SCRIPT [DOM0_SCRIPT]
#       Boot Xen + dom0 + HVM domU, run GUEST_SCRIPT in the domU (busybox
#       sh, with /lab/lib-guest.sh sourced) and DOM0_SCRIPT, if given, in
#       dom0 (bash, in the background, $XPN_DOMID/$XPN_DOMNAME set). Exit
#       status: the guest script's.
#   scripts/lab.sh run-native GUEST_SCRIPT
#       Boot the same domU kernel + initramfs in plain QEMU (no Xen, an
#       e1000 NIC on QEMU's user network) and run GUEST_SCRIPT.
#
# Environment:
#   XPN_MODULE=path      use this prebuilt xen_pv_net.ko (default: build the
#                        project's sources, in a copy, cached by digest)
#   XPN_LAB_LOG=path     full serial log, each line prefixed with the seconds
#                        since QEMU started (default results/tmp/lab-<time>.log)
#   XPN_LAB_TIMEOUT=900  overall limit of a boot, seconds
#   XPN_LAB_STALL=240    limit without any new console output, seconds
#   XPN_LAB_QUIET=1      do not stream the console (the log is still saved)
#   XPN_LAB_GUEST_ENV=   NAME=VALUE words set in the guest before its
#                        scenario runs, e.g. LIFECYCLE_CYCLES=20
#   XPN_LAB_DOM0_FILES=  files (space-separated paths) put into dom0's /lab/
#                        for its scenario, e.g. the userspace backend
#   XPN_LAB_DISKS=       raw disk images (space-separated paths under $XPN_LAB)
#                        given to the lab machine as virtio disks, dom0's
#                        /dev/vda, /dev/vdb, ... (written to a throwaway
#                        overlay: the images stay as they are), e.g. the
#                        real-boot images of scripts/lab-image.sh
#   The emulated machine (scripts/lab-stability.sh compares such settings;
#   results/lab-stability.md). The domU has one vCPU (scripts/lab/domU-hvm.cfg):
#   with two, nested TCG killed it with silent triple faults in 2 of 10
#   boots of a xen-netfront-only stress scenario; with one, in none of 20. So a
#   boot is not retried here; scripts/test.sh boots a test again only when
#   the domU died with Xen's own state in it (xpn_emulator_death).
#   XPN_LAB_ACCEL=       QEMU -accel value (default: QEMU's own, which is
#                        multi-threaded TCG), e.g. tcg,thread=single
#   XPN_LAB_CPU=qemu64,+svm,+npt  QEMU -cpu value
#   XPN_LAB_DOM0_VCPUS=1 dom0's vCPUs (Xen's dom0_max_vcpus), each pinned to
#                        its CPU (dom0_vcpus_pin). With one, dom0 keeps to the
#                        first of the machine's two CPUs and a running domU has
#                        the other to itself. With two (the lab until
#                        2026-12-04) the domU died under sustained traffic in
#                        16 of 20 boots, and every real-boot domU died during
#                        its boot; with one, none so far
#                        (results/lab-load-deaths.md).
#   XPN_LAB_XEN_ARGS=    extra Xen command line options, e.g. sched=credit
#   XPN_LAB_GUEST_DEBUG=1  the domU kernel poisons freed pages and checks
#                        slab objects (page_poison=1 slub_debug=FZP
#                        init_on_free=1 kfence.sample_interval=10): a
#                        use-after-free shows in its log. scripts/test.sh
#                        sets it for scenarios marked "# xpn-lab: guest-debug".
#   XPN_LAB_DOMU=        domU xl settings replacing those of
#                        scripts/lab/domU-hvm.cfg, KEY=VALUE separated by
#                        ':', numbers only, e.g. hap=0:vcpus=1
#
# The serial console is streamed prefixed with "| "; dom0 prefixes the
# domU's console lines with "[domU] ". Host progress lines start "[lab".
. "$(dirname "$0")/lib.sh"
. "$XPN_TOP/scripts/lab-lib.sh"
xpn_need_root

# Packages of the dom0 root (all from trixie).
DOM0_PKGS="xen-utils-4.20 xen-hypervisor-4.20-amd64 qemu-system-xen seabios
ipxe-qemu iperf3 iproute2 kmod busybox-static util-linux procps bash ethtool
dnsmasq-base"
# Kernel modules dom0 loads (dependencies are resolved from modules.dep).
DOM0_MODS="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netback
bridge tun virtio_blk ext4"
# Kernel modules the domU initramfs carries: the C frontend, for comparison,
# the emulated NIC's driver, and bonding (tests/lab/xen-bonding.sh).
DOMU_MODS="xen-netfront e1000 bonding"

KREL=
LAB_IMG=

# ---------------------------------------------------------------------------
# prepare

# The dom0 root: a trixie minbase with the Xen toolstack, the device model
# and the test servers.
prepare_dom0root() {
	local root=$XPN_LAB/dom0root digest
	# shellcheck disable=SC2086
	digest=$(printf '%s\n' "$XPN_DIST" "$XPN_MIRROR" $DOM0_PKGS | sha256sum | cut -c1-16)
	xpn_stamp_ok lab-dom0root "$digest" && return
	if [ ! -x "$root/usr/bin/apt-get" ]; then
		xpn_lab_log "debootstrap $XPN_DIST (minbase) into $root"
		rm -rf "$root.tmp"
		mkdir -p "$XPN_LAB"
		debootstrap --variant=minbase "$XPN_DIST" "$root.tmp" "$XPN_MIRROR" \
			>"$XPN_LAB/debootstrap-dom0.log" 2>&1 ||
			xpn_die "debootstrap failed, see $XPN_LAB/debootstrap-dom0.log"
		mv "$root.tmp" "$root"
	fi
	cat >"$root/etc/apt/sources.list" <<-EOF
		deb $XPN_MIRROR $XPN_DIST main
		deb $XPN_MIRROR $XPN_DIST-updates main
	EOF
	cat >"$root/etc/apt/apt.conf.d/90xpn" <<-EOF
		APT::Install-Recommends "false";
		Acquire::Retries "5";
	EOF
	# No docs, man pages or locales: they only make the boot image bigger.
	cat >"$root/etc/dpkg/dpkg.cfg.d/90xpn-nodoc" <<-EOF
		path-exclude=/usr/share/doc/*
		path-exclude=/usr/share/man/*
		path-exclude=/usr/share/info/*
		path-exclude=/usr/share/locale/*
		path-exclude=/usr/share/lintian/*
	EOF
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod +x "$root/usr/sbin/policy-rc.d"
	xpn_lab_log "installing the dom0 packages into $root"
	xpn_lab_rootrun "$root" apt-get -q update >/dev/null
	# shellcheck disable=SC2086
	xpn_lab_rootrun "$root" apt-get -q -y install $DOM0_PKGS \
		>"$XPN_LAB/apt-dom0.log" 2>&1 ||
		xpn_die "apt-get install failed, see $XPN_LAB/apt-dom0.log"
	xpn_lab_rootrun "$root" apt-get clean
	rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
	xpn_stamp_set lab-dom0root "$digest"
}

# The target kernel: Debian's image and modules packages, unpacked.
prepare_kernel() {
	local kdir=$XPN_LAB/kernel/$KREL dl
	xpn_stamp_ok lab-kernel "$KREL" && [ -d "$kdir" ] && return
	xpn_lab_log "downloading linux-binary-$KREL and linux-modules-$KREL"
	dl=/tmp/xpn-lab-dl
	rm -rf "$XPN_ROOT$dl" "$kdir.tmp"
	mkdir -p "$XPN_ROOT$dl" "$kdir.tmp"
	xpn_chroot sh -c "cd $dl && apt-get -q download linux-binary-$KREL linux-modules-$KREL" \
		>"$XPN_LAB/apt-kernel.log" 2>&1 ||
		xpn_die "apt-get download failed, see $XPN_LAB/apt-kernel.log"
	for deb in "$XPN_ROOT$dl"/*.deb; do
		dpkg-deb -x "$deb" "$kdir.tmp"
	done
	rm -rf "$XPN_ROOT$dl" "$kdir.tmp/usr/share"
	# Merged /usr: the packages ship usr/lib/modules/$KREL (with vmlinuz in
	# it); kmod looks under lib/modules.
	[ -e "$kdir.tmp/lib" ] || ln -s usr/lib "$kdir.tmp/lib"
	[ -f "$kdir.tmp/lib/modules/$KREL/vmlinuz" ] || [ -f "$kdir.tmp/boot/vmlinuz-$KREL" ] ||
		xpn_die "no vmlinuz in linux-binary-$KREL"
	# The packages ship no modules.dep (their postinst runs depmod).
	touch "$kdir.tmp/lib/modules/$KREL"/modules.{order,builtin,builtin.modinfo}
	xpn_lab_inroot depmod -b "$(xpn_lab_path "$kdir.tmp")" "$KREL" || xpn_die "depmod failed"
	rm -rf "$kdir"
	mv "$kdir.tmp" "$kdir"
	xpn_stamp_set lab-kernel "$KREL"
}

# kernel_image: the unpacked kernel's vmlinuz.
kernel_image() {
	local k=$XPN_LAB/kernel/$KREL
	if [ -f "$k/lib/modules/$KREL/vmlinuz" ]; then echo "$k/lib/modules/$KREL/vmlinuz"
	else echo "$k/boot/vmlinuz-$KREL"; fi
}

# copy_mods KDIR DEST MOD...: copy MODs and their dependencies from the
# unpacked kernel KDIR into DEST/lib/modules/$KREL, decompressed, and run
# depmod there, so `modprobe` works in the guest.
# (kmod comes from the trixie root: the host may have none.)
copy_mods() {
	local kdir=$1 dest=$2 m line f rel deps
	shift 2
	deps=$(xpn_lab_inroot sh -c 'for m in "$@"; do
			modprobe -d "$0" -S "'"$KREL"'" --show-depends "$m" || exit 1
		done' "$(xpn_lab_path "$kdir")" "$@") ||
		xpn_die "a module of [$*] is missing in linux-modules-$KREL"
	echo "$deps" | awk '$1 == "insmod" {print $2}' | sort -u | while read -r f; do
		rel=${f#"$(xpn_lab_path "$kdir")"}
		f=$kdir$rel
		mkdir -p "$dest$(dirname "$rel")"
		case $f in
		*.xz) xz -dc "$f" >"$dest${rel%.xz}" ;;
		*.zst) zstd -qdc "$f" >"$dest${rel%.zst}" ;;
		*) cp "$f" "$dest$rel" ;;
		esac
	done
	# (Debian's packages ship no modules.order/builtin: empty ones keep
	# depmod quiet.)
	touch "$dest/lib/modules/$KREL"/modules.{order,builtin,builtin.modinfo}
	xpn_lab_inroot depmod -b "$(xpn_lab_path "$dest")" "$KREL"
}

# The dom0 boot image (base part): the dom0 root, stripped, with dom0's
# modules, /init, the domU kernel and the domU config. Per-run files are
# appended as a second cpio by `run`.
prepare_dom0_image() {
	local out=$LAB_IMG/dom0-base.cpio digest stage
	digest=$(cat "$XPN_CACHE/stamps/lab-dom0root" "$XPN_CACHE/stamps/lab-kernel" \
		"$XPN_TOP/scripts/lab.sh" "$XPN_TOP/scripts/lab-lib.sh" \
		"$XPN_TOP/scripts/lab/dom0-init" "$XPN_TOP/scripts/lab/domU-hvm.cfg" | xpn_digest)
	xpn_stamp_ok lab-dom0-image "$digest" && [ -f "$out" ] && return
	xpn_lab_log "building the dom0 image $out"
	stage=$LAB_IMG/dom0.stage
	rm -rf "$stage"
	mkdir -p "$LAB_IMG"
	cp -a "$XPN_LAB/dom0root" "$stage"
	# Not needed at run time: package management, python (pygrub only),
	# documentation, caches, and firmware/files of other machines.
	rm -rf "$stage"/var/lib/apt/lists/* "$stage"/var/cache/apt/* \
		"$stage"/var/cache/debconf/*-old "$stage"/usr/share/{doc,man,info,locale,zoneinfo}/* \
		"$stage"/usr/lib/python3* "$stage"/usr/share/python3 \
		"$stage"/usr/lib/x86_64-linux-gnu/gconv "$stage"/boot/* "$stage"/lib/modules
	# No device nodes: busybox cpio does not record their numbers, and
	# dom0 mounts devtmpfs (the kernel's built-in initramfs has /dev/console).
	rm -rf "$stage"/dev/*
	# dom0's modules.
	copy_mods "$XPN_LAB/kernel/$KREL" "$stage" $DOM0_MODS
	# Init, the domU config and kernel; the domU initramfs comes per run.
	install -m 0755 "$XPN_TOP/scripts/lab/dom0-init" "$stage/init"
	mkdir -p "$stage/lab" "$stage/srv/www" "$stage/var/log/xen/console" \
		"$stage/var/lib/xen" "$stage/run/xen" "$stage/var/run/xen"
	install -m 0644 "$XPN_TOP/scripts/lab/domU-hvm.cfg" "$stage/lab/domU-hvm.cfg"
	cp "$(kernel_image)" "$stage/lab/vmlinuz"
	xpn_lab_cpio "$stage" "$out"
	rm -rf "$stage"
	xpn_stamp_set lab-dom0-image "$digest"
}

# The domU initramfs (base part): busybox, iperf3, the C drivers, /init and
# lib-guest.sh. xen_pv_net.ko and the scenario come per run.
prepare_domU_image() {
	local out=$LAB_IMG/domU-base.cpio digest stage d0=$XPN_LAB/dom0root lib bin a
	digest=$(cat "$XPN_CACHE/stamps/lab-dom0root" "$XPN_CACHE/stamps/lab-kernel" \
		"$XPN_TOP/scripts/lab.sh" "$XPN_TOP/scripts/lab-lib.sh" \
		"$XPN_TOP/scripts/lab/domU-init" "$XPN_TOP/tests/lab/lib-guest.sh" | xpn_digest)
	xpn_stamp_ok lab-domU-image "$digest" && [ -f "$out" ] && return
	xpn_lab_log "building the domU initramfs $out"
	stage=$LAB_IMG/domU.stage
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lab,lib/modules}
	cp "$d0/usr/bin/busybox" "$stage/bin/busybox"
	# One symlink per applet (busybox --install needs /proc at run time).
	for a in $("$stage/bin/busybox" --list-full); do
		[ -e "$stage/$a" ] || ln -s /bin/busybox "$stage/$a"
	done
	# iperf3, ethtool, and kmod (busybox's insmod retries a failed
	# finit_module with init_module, so a module's init runs twice; kmod's
	# does not), with the libraries they need, found by ldd inside the dom0
	# root.
	for bin in /usr/bin/iperf3 /usr/sbin/ethtool /usr/bin/kmod; do
		cp "$d0$bin" "$stage$bin"
		for lib in $(xpn_lab_rootrun "$d0" ldd "$bin" |
			awk '/=> \//{print $3} /^\t\/[^ ]*ld-linux/{print $1}'); do
			mkdir -p "$stage$(dirname "$lib")"
			cp -L "$d0$lib" "$stage$lib"
		done
	done
	# glibc dlopen()s libgcc_s for pthread_cancel (iperf3 aborts without it).
	cp -L "$d0/usr/lib/x86_64-linux-gnu/libgcc_s.so.1" "$stage/lib/x86_64-linux-gnu/"
	for a in insmod rmmod modprobe lsmod modinfo depmod; do
		ln -sf /usr/bin/kmod "$stage/sbin/$a"
	done
	# Debian's drivers of the target kernel, for comparison and the e1000.
	copy_mods "$XPN_LAB/kernel/$KREL" "$stage" $DOMU_MODS
	install -m 0755 "$XPN_TOP/scripts/lab/domU-init" "$stage/init"
	install -m 0644 "$XPN_TOP/tests/lab/lib-guest.sh" "$stage/lab/lib-guest.sh"
	echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
	echo "root:x:0:" >"$stage/etc/group"
	printf '127.0.0.1 localhost\n' >"$stage/etc/hosts"
	xpn_lab_cpio "$stage" "$out"
	rm -rf "$stage"
	xpn_stamp_set lab-domU-image "$digest"
}

# Xen itself, uncompressed (QEMU's multiboot loader wants an ELF).
prepare_xen() {
	local gz
	gz=$(ls "$XPN_LAB"/dom0root/boot/xen-4.20-amd64.gz 2>/dev/null | head -n1)
	[ -n "$gz" ] || xpn_die "no /boot/xen-*.gz in the dom0 root"
	if [ ! -f "$LAB_IMG/xen" ] || [ "$gz" -nt "$LAB_IMG/xen" ]; then
		mkdir -p "$LAB_IMG"
		gzip -dc "$gz" >"$LAB_IMG/xen.tmp"
		mv "$LAB_IMG/xen.tmp" "$LAB_IMG/xen"
	fi
	cp -u "$(kernel_image)" "$LAB_IMG/vmlinuz"
}

# The module under test, built from a copy of the project's sources (other
# work in the tree is never disturbed) and cached by the sources' digest.
# Prints the host path of the .ko.
module_ko() {
	local files digest out tmp
	if [ -n "${XPN_MODULE:-}" ]; then
		[ -f "$XPN_MODULE" ] || xpn_die "XPN_MODULE=$XPN_MODULE: no such file"
		readlink -f "$XPN_MODULE"
		return
	fi
	files=$(cd "$XPN_TOP" && git ls-files -co --exclude-standard -- \
		Makefile Kbuild dkms.conf ':(glob)*.c' ':(glob)*.h' ':(glob)rust/**' | LC_ALL=C sort)
	digest=$( (echo "$KREL"; cd "$XPN_TOP" && for f in $files; do
		[ -f "$f" ] && { echo "$f"; cat "$f"; }; done) | sha256sum | cut -c1-16)
	out=$XPN_LAB/module/$digest/xen_pv_net.ko
	if [ ! -f "$out" ]; then
		xpn_lab_log "building xen_pv_net.ko (sources $digest) in a copy of the tree"
		tmp=/tmp/xpn-lab-build.$$
		rm -rf "$XPN_ROOT$tmp"
		mkdir -p "$XPN_ROOT$tmp"
		(cd "$XPN_TOP" && for f in $files; do [ -f "$f" ] && echo "$f"; done |
			cpio_copy "$XPN_ROOT$tmp")
		if ! xpn_chroot make -C "$tmp" KDIR="/usr/src/linux-headers-$KREL" \
			>"$XPN_LAB/module-build.log" 2>&1; then
			rm -rf "$XPN_ROOT$tmp"
			tail -n 30 "$XPN_LAB/module-build.log" >&2
			xpn_die "building xen_pv_net.ko failed, see $XPN_LAB/module-build.log"
		fi
		mkdir -p "$(dirname "$out")"
		cp "$XPN_ROOT$tmp/xen_pv_net.ko" "$out"
		rm -rf "$XPN_ROOT$tmp"
		# Keep the five newest builds.
		ls -1dt "$XPN_LAB"/module/*/ | tail -n +6 | xargs -r rm -rf
	else
		touch "$(dirname "$out")"
	fi
	echo "$out"
}

# cpio_copy DEST: copy the files named on stdin (relative paths) into DEST.
cpio_copy() {
	local f
	while read -r f; do
		mkdir -p "$1/$(dirname "$f")"
		cp -p "$f" "$1/$f"
	done
}

do_prepare() {
	local t0=$SECONDS
	KREL=$("$XPN_TOP/scripts/toolchain.sh")
	LAB_IMG=$XPN_LAB/images/$KREL
	xpn_lab_log "kernel $KREL; lab cache $XPN_LAB"
	prepare_dom0root
	prepare_kernel
	prepare_xen
	prepare_dom0_image
	prepare_domU_image
	xpn_lab_log "prepare done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------
# run

RUN_DIR=
QEMU_PIDFILE=
cleanup() {
	local pid
	if [ -n "$QEMU_PIDFILE" ] && [ -s "$QEMU_PIDFILE" ]; then
		pid=$(cat "$QEMU_PIDFILE")
		kill "$pid" 2>/dev/null && sleep 1 && kill -9 "$pid" 2>/dev/null
	fi
	[ -n "$RUN_DIR" ] && rm -rf "$XPN_ROOT$RUN_DIR"
	return 0
}

# make_domU_initrd GUEST_SCRIPT OUT: the domU base initramfs + a small cpio
# with the scenario and the module under test (concatenated cpio archives).
make_domU_initrd() {
	local script=$1 out=$2 ko stage
	ko=$(module_ko)
	stage=$XPN_ROOT$RUN_DIR/domU.stage
	mkdir -p "$stage/lab" "$stage/lib/modules"
	{
		echo '#!/bin/sh'
		# XPN_LAB_GUEST_ENV: NAME=VALUE words, set before the scenario.
		for v in ${XPN_LAB_GUEST_ENV:-}; do
			[[ $v =~ ^[A-Z_][A-Z0-9_]*=[A-Za-z0-9_.,:/-]*$ ]] || xpn_die "XPN_LAB_GUEST_ENV: not NAME=VALUE: $v"
			echo "$v"
		done
		cat "$script"
	} >"$stage/lab/scenario.sh"
	chmod 0755 "$stage/lab/scenario.sh"
	cp "$ko" "$stage/lib/modules/xen_pv_net.ko"
	xpn_lab_cpio "$stage" "$XPN_ROOT$RUN_DIR/domU-run.cpio"
	cat "$LAB_IMG/domU-base.cpio" "$XPN_ROOT$RUN_DIR/domU-run.cpio" >"$out"
	rm -rf "$stage" "$XPN_ROOT$RUN_DIR/domU-run.cpio"
}

# watch_console LOG MARKER: copy QEMU's console (stdin) to LOG and stream it,
# killing QEMU when it stalls or overruns; prints the marker's rc (or a word
# saying what went wrong) as the last line on fd 3.
watch_console() {
	local log=$1 marker=$2 line rc="" left wait start=$SECONDS st
	while :; do
		left=$((XPN_LAB_TIMEOUT - (SECONDS - start)))
		if [ "$left" -le 0 ]; then
			rc=${rc:-timeout}
			break
		fi
		wait=$XPN_LAB_STALL
		# Once the marker is in, only wait a little for QEMU to end.
		[ -n "$rc" ] && wait=30
		[ "$left" -lt "$wait" ] && wait=$left
		if IFS= read -r -t "$wait" line; then
			line=${line//$'\r'/}
			printf '[%4ds] %s\n' $((SECONDS - start)) "$line" >>"$log"
			[ -n "${XPN_LAB_QUIET:-}" ] || printf '| %s\n' "$line"
			case $line in
			*"$marker rc="[0-9]*)
				rc=${line##*"$marker rc="}
				rc=${rc%%[!0-9]*}
				;;
			esac
		else
			st=$?
			# read fails on timeout (status > 128) or at the end of output.
			if [ "$st" -gt 128 ] && [ -z "$rc" ]; then
				if [ $((SECONDS - start)) -ge "$XPN_LAB_TIMEOUT" ]; then rc=timeout; else rc=stall; fi
			fi
			rc=${rc:-eof}
			break
		fi
	done
	echo "$rc" >&3
}

# boot QEMU_ARGS...: run QEMU in the trixie root under the watchdog; sets
# BOOT_RC to the guest's rc, or to stall/timeout/eof.
boot() {
	local marker=$1 fifo rcfile t0=$SECONDS
	shift
	fifo=$XPN_ROOT$RUN_DIR/console
	rcfile=$XPN_ROOT$RUN_DIR/rc
	# A boot that is retried finds the previous boot's fifo.
	rm -f "$fifo" "$rcfile"
	mkfifo "$fifo"
	QEMU_PIDFILE=$XPN_ROOT$RUN_DIR/qemu.pid
	(xpn_lab_qemu "$QEMU_PIDFILE" "$@" </dev/null >"$fifo" 2>&1) &
	local qpid=$!
	watch_console "$XPN_LAB_LOG" "$marker" <"$fifo" 3>"$rcfile"
	BOOT_RC=$(cat "$rcfile")
	case $BOOT_RC in
	stall | timeout)
		xpn_lab_log "killing QEMU ($BOOT_RC)"
		kill "$(cat "$QEMU_PIDFILE")" 2>/dev/null || true
		;;
	*)
		# The guest powered off: QEMU exits by itself; give it a moment.
		local i
		for i in $(seq 1 30); do
			kill -0 "$qpid" 2>/dev/null || break
			sleep 1
		done
		kill "$(cat "$QEMU_PIDFILE")" 2>/dev/null || true
		;;
	esac
	wait "$qpid" 2>/dev/null || true
	BOOT_SECS=$((SECONDS - t0))
}

# finish: report BOOT_RC and exit with the guest script's status.
finish() {
	# dom0 re-creates a domU that died before its kernel ran its /init (in
	# the firmware, with no driver of ours loaded): counted, never hidden.
	local again
	again=$(grep -ac 'stage: domU .*re-creating it\|stage: the domU died before its /init ran' "$XPN_LAB_LOG" || true)
	[ "${again:-0}" = 0 ] || xpn_lab_log "lab retries: the domU was re-created $again time(s) before its kernel ran"
	case $BOOT_RC in
	stall)
		xpn_lab_log "FAILED: no console output for ${XPN_LAB_STALL}s (emulated machine hung); log: $XPN_LAB_LOG"
		exit 124 ;;
	timeout)
		xpn_lab_log "FAILED: overall timeout of ${XPN_LAB_TIMEOUT}s reached; log: $XPN_LAB_LOG"
		exit 124 ;;
	eof | "")
		xpn_lab_log "FAILED: QEMU ended without a result marker; log: $XPN_LAB_LOG"
		exit 125 ;;
	esac
	xpn_lab_log "guest script exited with rc=$BOOT_RC after ${BOOT_SECS}s of boot; log: $XPN_LAB_LOG"
	exit "$BOOT_RC"
}

run_setup() {
	KREL=$("$XPN_TOP/scripts/toolchain.sh")
	LAB_IMG=$XPN_LAB/images/$KREL
	XPN_LAB_TIMEOUT=${XPN_LAB_TIMEOUT:-900}
	XPN_LAB_STALL=${XPN_LAB_STALL:-240}
	XPN_LAB_LOG=${XPN_LAB_LOG:-$XPN_TOP/results/tmp/lab-$(date +%Y%m%d-%H%M%S).log}
	mkdir -p "$(dirname "$XPN_LAB_LOG")"
	: >"$XPN_LAB_LOG"
	XPN_LAB_LOG=$(readlink -f "$XPN_LAB_LOG")
	for f in xen vmlinuz dom0-base.cpio domU-base.cpio; do
		[ -f "$LAB_IMG/$f" ] || xpn_die "lab not prepared ($LAB_IMG/$f missing): run scripts/lab.sh prepare"
	done
	RUN_DIR=$(mktemp -d "$XPN_ROOT/tmp/xpn-lab-run.XXXXXX")
	RUN_DIR=${RUN_DIR#"$XPN_ROOT"}
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

do_run() {
	local guest=$1 dom0=${2:-} stage
	[ -f "$guest" ] || xpn_die "no guest script $guest"
	[ -z "$dom0" ] || [ -f "$dom0" ] || xpn_die "no dom0 script $dom0"
	run_setup
	case ${XPN_LAB_DOMU:-} in
	*[!a-z0-9_=:]*) xpn_die "XPN_LAB_DOMU takes KEY=NUMBER pairs separated by ':' ($XPN_LAB_DOMU)" ;;
	esac
	xpn_lab_log "run (Xen): guest script $guest${dom0:+, dom0 script $dom0}; log $XPN_LAB_LOG"
	xpn_lab_log "machine: accel ${XPN_LAB_ACCEL:-default}, cpu ${XPN_LAB_CPU:-qemu64,+svm,+npt}, Xen options '$(xpn_lab_xen_args)', domU settings '${XPN_LAB_DOMU:-}'"
	# The per-run dom0 cpio: /lab/domU.cpio and the dom0 scenario.
	stage=$XPN_ROOT$RUN_DIR/dom0.stage
	mkdir -p "$stage/lab"
	make_domU_initrd "$guest" "$stage/lab/domU.cpio"
	[ -z "$dom0" ] || install -m 0755 "$dom0" "$stage/lab/dom0-scenario.sh"
	local f
	for f in ${XPN_LAB_DOM0_FILES:-}; do
		[ -f "$f" ] || xpn_die "XPN_LAB_DOM0_FILES: no file $f"
		install -m 0755 "$f" "$stage/lab/"
	done
	xpn_lab_cpio "$stage" "$XPN_ROOT$RUN_DIR/dom0-run.cpio"
	cat "$LAB_IMG/dom0-base.cpio" "$XPN_ROOT$RUN_DIR/dom0-run.cpio" >"$XPN_ROOT$RUN_DIR/dom0.cpio"
	rm -rf "$stage" "$XPN_ROOT$RUN_DIR/dom0-run.cpio"
	local l=$XPN_LAB_IN_ROOT/images/$KREL disks=()
	for f in ${XPN_LAB_DISKS:-}; do
		case $f in "$XPN_LAB"/*) ;; *) xpn_die "XPN_LAB_DISKS: $f is not under $XPN_LAB" ;; esac
		[ -f "$f" ] || xpn_die "XPN_LAB_DISKS: no file $f"
		disks+=(-drive "file=$(xpn_lab_path "$f"),if=virtio,format=raw,snapshot=on")
	done
	xpn_lab_log "booting Xen + dom0 (QEMU TCG; the domU starts ~10 s after dom0's init)"
	# dom0's cmdline travels in QEMU's multiboot module list: ',' must be ',,'.
	boot XPN-LAB-RESULT qemu-system-x86_64 \
		${XPN_LAB_ACCEL:+-accel "$XPN_LAB_ACCEL"} \
		-machine pc -cpu "${XPN_LAB_CPU:-qemu64,+svm,+npt}" -smp 2 -m 6144 \
		-display none -serial stdio -monitor none -no-reboot \
		-net none "${disks[@]}" \
		-kernel "$l/xen" \
		-append "dom0_mem=2048M,max:2048M console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all $(xpn_lab_xen_args)" \
		-initrd "$l/vmlinuz console=hvc0 earlyprintk=xen rdinit=/init panic=10 loglevel=6 xpn.timeout=$((XPN_LAB_TIMEOUT - 60))${XPN_LAB_DOMU:+ xpn.domu=$XPN_LAB_DOMU}${XPN_LAB_GUEST_DEBUG:+ xpn.guestdebug=1},$RUN_DIR/dom0.cpio"
	finish
}

do_run_native() {
	local guest=$1
	[ -f "$guest" ] || xpn_die "no guest script $guest"
	run_setup
	xpn_lab_log "run (native QEMU, no Xen): guest script $guest; log $XPN_LAB_LOG"
	make_domU_initrd "$guest" "$XPN_ROOT$RUN_DIR/domU.cpio"
	xpn_lab_log "booting the domU kernel + initramfs in plain QEMU TCG"
	local l=$XPN_LAB_IN_ROOT/images/$KREL
	boot XPN-DONE qemu-system-x86_64 \
		-machine pc -cpu qemu64 -smp 2 -m 1024 \
		-display none -serial stdio -monitor none -no-reboot \
		-netdev user,id=n0,net=10.0.1.0/24,host=10.0.1.1,dhcpstart=10.0.1.100 \
		-device e1000,netdev=n0,mac=00:16:3e:00:00:20 \
		-kernel "$l/vmlinuz" -initrd "$RUN_DIR/domU.cpio" \
		-append "rdinit=/init panic=-1 loglevel=6 console=ttyS0"
	finish
}

case ${1:-} in
prepare) do_prepare ;;
run)
	[ $# -ge 2 ] || xpn_die "usage: $0 run GUEST_SCRIPT [DOM0_SCRIPT]"
	do_run "$2" "${3:-}" ;;
run-native)
	[ $# -eq 2 ] || xpn_die "usage: $0 run-native GUEST_SCRIPT"
	do_run_native "$2" ;;
*)
	sed -n '3,33p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2 ;;
esac

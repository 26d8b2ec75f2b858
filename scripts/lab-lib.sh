# SPDX-License-Identifier: GPL-2.0
# Helpers for the Xen lab (scripts/lab.sh). Source it after scripts/lib.sh;
# do not run it.
#
# Layout of the lab cache ($XPN_LAB, default $XPN_CACHE/lab):
#   dom0root/         debootstrap'ed trixie root for dom0 (xl, qemu-system-xen, ...)
#   kernel/$krel/     Debian's linux-binary + linux-modules packages, unpacked
#   images/$krel/     boot images: xen, vmlinuz, dom0-base.cpio, domU-base.cpio
#   module/           xen_pv_net.ko builds, cached by source digest
# The whole directory is bind-mounted at $XPN_LAB_IN_ROOT inside the trixie
# root while QEMU (which comes from that root) runs.

XPN_LAB=${XPN_LAB:-$XPN_CACHE/lab}
XPN_LAB_IN_ROOT=/xpn/lab

# xpn_lab_log MSG: host-side progress line, as CI logs show it.
xpn_lab_log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# xpn_lab_rootrun ROOT CMD...: run CMD chrooted into ROOT (any Debian root,
# e.g. the dom0 root) in a private mount namespace with /proc, /sys and /dev
# mounted; nothing stays mounted when CMD ends. Same style as xpn_chroot.
xpn_lab_rootrun() {
	local root=$1
	shift
	[ -x "$root/bin/sh" ] || xpn_die "no root at $root"
	unshare --mount --propagation private -- /bin/sh -c '
		set -e
		r=$1; shift
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
		exec chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive "$@"
	' xpn-lab-rootrun "$root" "$@"
}

# xpn_lab_qemu PIDFILE CMD...: run CMD (QEMU) inside the trixie toolchain
# root, with the lab cache bind-mounted read-only at $XPN_LAB_IN_ROOT. CMD's
# pid is written to PIDFILE (a host path) before it starts: the shell writes
# its own pid and then execs through chroot and env into CMD, so the pid is
# QEMU's own, and the watchdog can kill exactly that process.
xpn_lab_qemu() {
	local pidfile=$1
	shift
	[ -x "$XPN_ROOT/bin/sh" ] || xpn_die "toolchain root missing: run scripts/toolchain.sh"
	mkdir -p "$XPN_ROOT$XPN_LAB_IN_ROOT"
	exec unshare --mount --propagation private -- /bin/sh -c '
		set -e
		r=$1; lab=$2; labin=$3; pidfile=$4; shift 4
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		mount --bind "$lab" "$r$labin"
		mount -o remount,bind,ro "$r$labin"
		echo $$ >"$pidfile"
		exec chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' xpn-lab-qemu "$XPN_ROOT" "$XPN_LAB" "$XPN_LAB_IN_ROOT" "$pidfile" "$@"
}

# xpn_lab_cpio DIR OUT: pack DIR as an uncompressed newc cpio (fast for the
# guest kernel to unpack under TCG), owned by root, in a stable order. The
# host has no cpio: the trixie root's static busybox runs on the host as is.
xpn_lab_cpio() {
	local bb=$XPN_ROOT/bin/busybox
	[ -x "$bb" ] || xpn_die "no static busybox in $XPN_ROOT (busybox-static)"
	(cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		"$bb" cpio -o -H newc -0 -R 0:0 --renumber-inodes --ignore-devno) >"$2.tmp"
	mv "$2.tmp" "$2"
}

# xpn_lab_inroot CMD...: run CMD inside the trixie toolchain root with the lab
# cache bind-mounted (read-write) at $XPN_LAB_IN_ROOT: for the root's tools
# (kmod, ...) working on lab files. Map host paths with xpn_lab_path.
xpn_lab_inroot() {
	mkdir -p "$XPN_ROOT$XPN_LAB_IN_ROOT"
	unshare --mount --propagation private -- /bin/sh -c '
		set -e
		r=$1; lab=$2; labin=$3; shift 3
		mount -t proc proc "$r/proc"
		mount --bind "$lab" "$r$labin"
		exec chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' xpn-lab-inroot "$XPN_ROOT" "$XPN_LAB" "$XPN_LAB_IN_ROOT" "$@"
}

# xpn_lab_path HOSTPATH: the path of a file of the lab cache inside the root.
xpn_lab_path() { echo "$XPN_LAB_IN_ROOT${1#"$XPN_LAB"}"; }

# xpn_lab_xen_args: the lab's Xen options beyond the console and dom0's
# memory: dom0's vCPUs (XPN_LAB_DOM0_VCPUS, default 1), each pinned to its
# CPU, then XPN_LAB_XEN_ARGS (scripts/lab.sh).
xpn_lab_xen_args() {
	local n=${XPN_LAB_DOM0_VCPUS:-1}
	case $n in '' | *[!0-9]* | 0) xpn_die "XPN_LAB_DOM0_VCPUS takes a number of vCPUs ($n)" ;; esac
	echo "dom0_max_vcpus=$n dom0_vcpus_pin${XPN_LAB_XEN_ARGS:+ $XPN_LAB_XEN_ARGS}"
}

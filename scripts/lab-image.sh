#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the real-boot lab images: a Debian trixie system as a user has it
# (systemd, udev, systemd-networkd with DHCP on every Ethernet interface,
# the stock trixie-backports kernel with its initramfs-tools initramfs),
# into which the package xen-pv-net-dkms (scripts/deb.sh) is installed with
# apt, in a chroot at native speed: apt pulls in the toolchain, the
# package's DKMS hook completes the headers with their Rust artifacts and
# builds the module, and its postinst updates the initramfs. Two raw ext4
# images (the whole disk one filesystem, booted by dom0 with the kernel and
# initramfs read from the image's own /boot), in the lab's cache (which
# QEMU sees inside the toolchain root):
#   $XPN_LAB/real-boot/installed.img  with the package
#   $XPN_LAB/real-boot/purged.img     the same system after
#                                     `apt-get purge xen-pv-net-dkms`
# Both run scripts/lab/boot-check once at boot (xpn-boot-check.service),
# which reports on the PV console and powers off. Cached by a digest of the
# package and this script's inputs. Prints the directory.
#
# Usage: scripts/lab-image.sh
. "$(dirname "$0")/lib.sh"
. "$XPN_TOP/scripts/lab-lib.sh"
xpn_need_root

krel=$("$XPN_TOP/scripts/toolchain.sh")
deb=$("$XPN_TOP/scripts/deb.sh")
out=$XPN_LAB/real-boot
# The package by what it holds (its files and control fields): a rebuild of
# the same sources differs only in its timestamps.
pkg=$({ dpkg-deb -f "$deb"; dpkg-deb --fsys-tarfile "$deb" | tar -xO; } | sha256sum)
digest=$(printf '%s\n' "$krel" "$XPN_DIST" "$XPN_KSUITE" "$XPN_MIRROR" "$pkg" |
	cat - "$0" "$XPN_TOP/scripts/lab/boot-check" | xpn_digest)
if xpn_stamp_ok lab-image "$digest" && [ -f "$out/installed.img" ] && [ -f "$out/purged.img" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$out"
dir=$out/root
log=$out/build.log
: >"$log"
rm -rf "$dir"
xpn_log "real-boot image: debootstrap $XPN_DIST (log: $log)"
debootstrap --variant=minbase \
	--include=systemd-sysv,udev,kmod,iproute2,iputils-ping,wget,ca-certificates,initramfs-tools,zstd,procps \
	"$XPN_DIST" "$dir" "$XPN_MIRROR" >>"$log" 2>&1 || xpn_die "debootstrap failed, see $log"
cat >"$dir/etc/apt/sources.list" <<EOF
deb $XPN_MIRROR $XPN_DIST main
deb $XPN_MIRROR $XPN_DIST-updates main
deb $XPN_MIRROR $XPN_KSUITE main
EOF
# inimg CMD: a shell command line in the image's root.
inimg() { XPN_ROOT=$dir xpn_chroot bash -c "$*" >>"$log" 2>&1; }
xpn_log "real-boot image: the stock kernel linux-image-$krel from $XPN_KSUITE"
inimg "apt-get -q update && apt-get -q -y -t $XPN_KSUITE install linux-image-$krel" ||
	xpn_die "installing linux-image-$krel failed, see $log"

# The system's own configuration, as an installer would leave it.
echo xpn-guest >"$dir/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 xpn-guest\n' >"$dir/etc/hosts"
echo 'LABEL=xpnroot / ext4 defaults 0 1' >"$dir/etc/fstab"
cat >"$dir/etc/systemd/network/50-ethernet.network" <<'EOF'
[Match]
Type=ether

[Network]
DHCP=ipv4
EOF
install -m 0755 "$XPN_TOP/scripts/lab/boot-check" "$dir/usr/local/sbin/xpn-boot-check"
cat >"$dir/etc/systemd/system/xpn-boot-check.service" <<'EOF'
[Unit]
Description=xen_pv_net lab: report the vif's driver and traffic, then power off
Wants=network-online.target
After=network-online.target
# Before the console's getty, which hangs up the console (its vhangup) and
# with it this service's output.
Before=serial-getty@hvc0.service getty.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/xpn-boot-check

[Install]
WantedBy=multi-user.target
EOF
inimg "systemctl enable systemd-networkd systemd-networkd-wait-online xpn-boot-check.service &&
	passwd -d root" || xpn_die "configuring the image failed, see $log"

xpn_log "real-boot image: apt-get install ./$(basename "$deb") (DKMS builds the module)"
cp "$deb" "$dir/root/"
inimg "cd /root && XEN_PV_NET_JOBS=$(nproc) apt-get -q -y install ./$(basename "$deb")" ||
	xpn_die "installing $(basename "$deb") failed, see $log"
inimg "modinfo -k $krel -n xen_pv_net && lsinitramfs /boot/initrd.img-$krel | grep -q xen_pv_net" ||
	xpn_die "the package did not install xen_pv_net for $krel into the initramfs, see $log"
rm -f "$dir/root/$(basename "$deb")"
inimg "apt-get clean"
# Where xpn_chroot mounted the project's tree.
rmdir -p "$dir$XPN_SRC_IN_ROOT" 2>/dev/null || true

# mkimg NAME: the root as a raw ext4 image NAME.img (sparse).
mkimg() {
	rm -f "$out/$1.img.tmp"
	truncate -s 8G "$out/$1.img.tmp"
	mkfs.ext4 -q -F -L xpnroot -d "$dir" "$out/$1.img.tmp" >>"$log" 2>&1 ||
		xpn_die "mkfs.ext4 -d for $1.img failed, see $log"
	mv "$out/$1.img.tmp" "$out/$1.img"
}
xpn_log "real-boot image: $out/installed.img"
mkimg installed
inimg "apt-get -q -y purge xen-pv-net-dkms" || xpn_die "apt-get purge xen-pv-net-dkms failed, see $log"
inimg "! lsinitramfs /boot/initrd.img-$krel | grep -q xen_pv_net" ||
	xpn_die "the initramfs still holds xen_pv_net after the purge, see $log"
rmdir -p "$dir$XPN_SRC_IN_ROOT" 2>/dev/null || true
xpn_log "real-boot image: $out/purged.img"
mkimg purged
rm -rf "$dir"
xpn_stamp_set lab-image "$digest"
echo "$out"

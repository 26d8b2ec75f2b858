#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Complete Debian's linux-headers-KRELEASE for out-of-tree Rust modules.
#
# Debian builds its stock kernel with CONFIG_RUST=y but its headers package
# omits what rustc needs to build a module against it: rust/*.rmeta, the
# proc-macro .so files and scripts/target.json. This script rebuilds them
# from Debian's linux-source package with the headers' .config and the very
# same rustc, bindgen and gcc, verifies that the Rust symbols they export are
# exactly the ones in the headers' Module.symvers (crate hashes included),
# and installs them into the headers tree. A marker (rust/.xpn-verified)
# makes a second run a no-op; rust/.xpn-files lists what was installed.
#
# It is the DKMS PRE_BUILD hook of xen_pv_net (dkms.conf passes $kernelver;
# the Debian package ships it in /usr/src/xen_pv_net-VERSION/scripts/), and
# scripts/kernel-rust.sh runs it for the project's toolchain root or the
# running kernel. It stands alone: scripts/lib.sh is not shipped with it.
#
# Usage: headers-rust.sh [--keep-build] [--build-dir DIR] [--by NAME] KRELEASE
#        headers-rust.sh --remove --by NAME KRELEASE
#   --keep-build  keep the unpacked, prepared linux-source (default: removed)
#   --build-dir   where to unpack linux-source (default:
#                 /var/lib/xen_pv_net/ksrc-KRELEASE, in a directory only
#                 root can write to; removed when empty)
#   --by NAME     record NAME in the marker as the installer of the files
#   --remove      remove the files this script installed, if NAME (--by)
#                 installed them; leaves files installed by anyone else
# Environment: XEN_PV_NET_JOBS  parallel jobs of `make prepare` (default:
#              the number of CPUs).
set -euo pipefail

# Bumped whenever the set of installed artifacts changes.
XPN_ARTIFACTS_VERSION=v2

xpn_log() { printf '[xpn %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
xpn_die() { printf 'xen_pv_net: %s\n' "$*" >&2; exit 1; }

keep=0 build='' by='' remove=0
while [ $# -gt 1 ]; do
	case $1 in
	--keep-build) keep=1 ;;
	--build-dir) build=$2; shift ;;
	--by) by=$2; shift ;;
	--remove) remove=1 ;;
	*) xpn_die "headers-rust.sh: unknown argument $1" ;;
	esac
	shift
done
[ $# = 1 ] && [ -n "$1" ] || xpn_die "usage: headers-rust.sh [--keep-build] [--build-dir DIR] [--by NAME] [--remove] KRELEASE"
krel=$1
# The default build directory lies in a directory of its own that only
# root can write to (not /var/tmp: this runs as root).
statedir=/var/lib/xen_pv_net
build=${build:-$statedir/ksrc-$krel}
cleanup() {
	rm -rf "$build" "$build.tmp" "$build.lock"
	rmdir "$statedir" 2>/dev/null || true
}

hdr=/usr/src/linux-headers-$krel
if [ ! -d "$hdr" ] && [ -d "/lib/modules/$krel/build" ]; then
	hdr=$(readlink -f "/lib/modules/$krel/build")
fi
marker=$hdr/rust/.xpn-verified
manifest=$hdr/rust/.xpn-files

if [ "$remove" = 1 ]; then
	[ -n "$by" ] || xpn_die "--remove needs --by NAME"
	cleanup
	[ -f "$marker" ] || exit 0
	[ "$(cut -d' ' -f3 "$marker")" = "$by" ] || exit 0
	if [ -f "$manifest" ]; then
		while IFS= read -r f; do
			case $f in /usr/*) rm -f "$f" ;; esac
		done <"$manifest"
	fi
	rm -f "$marker" "$manifest"
	# Directories only we created: rust/, and the headers tree itself when
	# its package is gone and only our files had kept it.
	rmdir "$hdr/rust" 2>/dev/null || true
	rmdir "$hdr" 2>/dev/null || true
	xpn_log "removed the Rust artifacts $by installed into $hdr"
	exit 0
fi

[ -f "$hdr/.config" ] || xpn_die "$hdr/.config missing: install linux-headers-$krel"
grep -q '^CONFIG_RUST=y' "$hdr/.config" ||
	xpn_die "kernel $krel is built without CONFIG_RUST: Rust modules cannot be built for it"
if [ -f "$hdr/scripts/target.json" ] && [ -f "$hdr/rust/libkernel.rmeta" ] &&
	grep -qx "$XPN_ARTIFACTS_VERSION .*" "$marker" 2>/dev/null; then
	xpn_log "rust artifacts for $krel already present and verified"
	exit 0
fi

# The compilers must be the very ones the kernel was built with: the .rmeta
# files are only readable by the same rustc, and `make olddefconfig` would
# change the .config for any other rustc, bindgen or gcc.
cfg() { sed -n "s/^$1=\"\\(.*\\)\"$/\\1/p" "$hdr/.config"; }
want_rustc=$(cfg CONFIG_RUSTC_VERSION_TEXT)
want_bindgen=$(cfg CONFIG_BINDGEN_VERSION_TEXT)
want_cc=$(cfg CONFIG_CC_VERSION_TEXT)
cc=${want_cc%% *}
have_rustc=$(rustc --version 2>/dev/null) ||
	xpn_die "rustc not found: kernel $krel needs '$want_rustc' (Debian package rustc)"
[ "$have_rustc" = "$want_rustc" ] ||
	xpn_die "kernel $krel was built with '$want_rustc' but rustc is '$have_rustc': install that rustc"
sysroot=$(rustc --print sysroot)
[ -f "$sysroot/lib/rustlib/src/rust/library/core/src/lib.rs" ] ||
	xpn_die "the Rust standard library source is missing ($sysroot/lib/rustlib/src): install rust-src of the same version as rustc"
have_bindgen=$(bindgen --version 2>/dev/null) ||
	xpn_die "bindgen not found: kernel $krel needs '$want_bindgen' (Debian package bindgen)"
[ -z "$want_bindgen" ] || [ "$have_bindgen" = "$want_bindgen" ] ||
	xpn_die "kernel $krel was built with '$want_bindgen' but bindgen is '$have_bindgen': install that bindgen"
have_cc=$("$cc" --version 2>/dev/null | head -n1) ||
	xpn_die "$cc not found: kernel $krel was built with '$want_cc'"
[ "$have_cc" = "$want_cc" ] ||
	xpn_die "kernel $krel was built with '$want_cc' but $cc is '$have_cc': install that gcc"
command -v openssl >/dev/null || xpn_die "openssl missing: the kernel's config would drift without it"

kmm=$(echo "$krel" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
tarball=/usr/src/linux-source-$kmm.tar.xz
[ -f "$tarball" ] || xpn_die "$tarball missing: install linux-source-$kmm (the source of kernel $krel)"
if command -v dpkg-query >/dev/null; then
	hv=$(dpkg-query -W -f '${Version}' "linux-headers-$krel" 2>/dev/null || true)
	sv=$(dpkg-query -W -f '${Version}' "linux-source-$kmm" 2>/dev/null || true)
	[ -z "$hv" ] || [ -z "$sv" ] || [ "$hv" = "$sv" ] ||
		xpn_die "linux-source-$kmm is $sv but linux-headers-$krel is $hv: install the linux-source of the same version"
fi

parent=$(dirname "$build")
[ -d "$parent" ] || { mkdir -p "$(dirname "$parent")" && mkdir -m 0700 "$parent"; }
exec 9>"$build.lock"
flock 9
if [ "$keep" = 0 ]; then
	trap cleanup EXIT
fi
if [ ! -f "$build/Makefile" ]; then
	xpn_log "extracting $tarball"
	rm -rf "$build.tmp"
	mkdir -p "$build.tmp"
	tar -C "$build.tmp" --strip-components=1 -xJf "$tarball"
	mv "$build.tmp" "$build"
fi
cd "$build"
xpn_log "rebuilding rust/ for $krel from linux-source-$kmm (make prepare)"
cp "$hdr/.config" .config
make -s CC="$cc" HOSTCC="$cc" olddefconfig
if ! diff -u "$hdr/.config" .config >"$build/config.diff"; then
	head -n 40 "$build/config.diff" >&2
	xpn_die "make olddefconfig changed the .config of linux-headers-$krel (another toolchain than the kernel's?)"
fi
make -s -j"${XEN_PV_NET_JOBS:-$(nproc)}" CC="$cc" HOSTCC="$cc" prepare
for f in rust/libkernel.rmeta rust/libmacros.so scripts/target.json; do
	[ -e "$f" ] || xpn_die "make prepare did not produce $f"
done

# Verify: the Rust exports we generated must equal those of the stock kernel
# (the mangled names carry the crate hashes).
cat rust/exports_*_generated.h | sed -n 's/.*(\(_R[^)]*\)).*/\1/p' | sort -u >"$build/ours.txt"
awk '$2 ~ /^_R/ {print $2}' "$hdr/Module.symvers" | sort -u >"$build/theirs.txt"
n=$(wc -l <"$build/theirs.txt")
if ! cmp -s "$build/ours.txt" "$build/theirs.txt"; then
	diff "$build/theirs.txt" "$build/ours.txt" | head -n 20 >&2
	xpn_die "the rebuilt Rust exports differ from $hdr/Module.symvers: linux-source-$kmm is not the source of kernel $krel"
fi
xpn_log "verified: $n Rust exports match Module.symvers"

# Install, listing every file put into the (package-owned) headers tree.
mkdir -p "$hdr/rust"
: >"$manifest.tmp"
put() { # SRC DESTDIR
	local dst
	dst=$(readlink -f "$2")/$(basename "$1")
	cp "$1" "$dst"
	echo "$dst" >>"$manifest.tmp"
}
for f in rust/*.rmeta rust/*.so; do put "$f" "$hdr/rust"; done
put scripts/target.json "$hdr/scripts"
# rust/Makefile: the module reads the bindgen flag filter from it.
for f in include/generated/rustc_cfg rust/bindgen_parameters rust/Makefile; do
	[ -e "$hdr/$f" ] || put "$f" "$(dirname "$hdr/$f")"
done
mv "$manifest.tmp" "$manifest"
echo "$XPN_ARTIFACTS_VERSION $n${by:+ $by}" >"$marker"
xpn_log "completed $hdr with Rust artifacts"

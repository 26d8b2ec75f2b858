# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of xen_pv_net.ko.
#
#   make                      build against the running kernel
#   make KDIR=/path/to/build  build against another kernel build tree
#   make clean
#   make modules_install      (INSTALL_MOD_PATH=... honoured)
#   make -s dkms-files        list the files of the DKMS source tree

KDIR ?= /lib/modules/$(shell uname -r)/build
PWD := $(shell pwd)

# The checks below give one clear error naming what is missing instead of
# a wall of compiler errors.
KCONFIG := $(KDIR)/include/config/auto.conf
xpn_cfg = $(shell sed -n 's/^$(1)=//p' $(KCONFIG) 2>/dev/null)

# What DKMS gets (/usr/src/xen_pv_net-VERSION): the sources, the build files
# and the PRE_BUILD hook, no build output. scripts/dkms.sh and the Debian
# package (debian/rules) both install this list.
DKMS_FILES = Kbuild Makefile dkms.conf helpers.c helpers.h version.c \
	$(sort $(filter-out rust/bindings_generated.rs rust/back_ring.rs,$(wildcard rust/*.rs)) $(wildcard rust/*.h)) \
	rust/bindgen_parameters scripts/headers-rust.sh

all: modules

check:
	@test -d "$(KDIR)" || { echo "xen_pv_net: no kernel build tree at KDIR=$(KDIR) (install the linux-headers package of the target kernel, or pass KDIR=)" >&2; exit 1; }
	@test -f "$(KCONFIG)" || { echo "xen_pv_net: $(KDIR) is not a configured kernel build tree (no include/config/auto.conf)" >&2; exit 1; }
	@test "$(call xpn_cfg,CONFIG_RUST)" = y || { echo "xen_pv_net: the kernel at $(KDIR) is built without CONFIG_RUST=y; Rust modules cannot be built for it" >&2; exit 1; }
	@test "$(call xpn_cfg,CONFIG_XEN)" = y || { echo "xen_pv_net: the kernel at $(KDIR) is built without CONFIG_XEN" >&2; exit 1; }
	@case "$(call xpn_cfg,CONFIG_XEN_PVHVM_GUEST)$(call xpn_cfg,CONFIG_XEN_PVHVM)" in *y*) ;; *) false ;; esac || { echo "xen_pv_net: the kernel at $(KDIR) is built without CONFIG_XEN_PVHVM (Xen HVM guest support: CONFIG_XEN_PVHVM_GUEST)" >&2; exit 1; }
	@for f in rust/libkernel.rmeta rust/libmacros.so rust/Makefile scripts/target.json; do \
		test -e "$(KDIR)/$$f" || { echo "xen_pv_net: the Rust build tree of $(KDIR) is incomplete ($$f missing); for Debian's stock kernel run scripts/kernel-rust.sh" >&2; exit 1; }; \
	done
	@command -v $${BINDGEN:-bindgen} >/dev/null || { echo "xen_pv_net: bindgen not found (the kernel's bindgen is needed to generate the module's bindings)" >&2; exit 1; }

modules: check
	$(MAKE) -C $(KDIR) M=$(PWD) modules

modules_install: modules
	$(MAKE) -C $(KDIR) M=$(PWD) modules_install

dkms-files:
	@echo $(DKMS_FILES)

clean:
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C $(KDIR) M=$(PWD) clean; fi
	rm -f rust/bindings_generated.rs rust/.bindings_generated.rs.cmd rust/.bindings_generated.rs.d

.PHONY: all check modules modules_install dkms-files clean

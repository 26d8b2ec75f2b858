/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of xen_pv_net: kernel macros and static inline functions the
 * Rust crate cannot call directly, and the C compiler's view of the layout
 * of every kernel structure the crate touches.
 */
#ifndef XPN_HELPERS_H
#define XPN_HELPERS_H

#include <linux/types.h>

struct xenbus_driver;

/** struct xpn_layout - size or field offset of a kernel struct, as gcc sees it. */
struct xpn_layout {
	const char *name;
	unsigned long value;
};

extern const struct xpn_layout xpn_c_layout[];
extern const unsigned int xpn_c_layout_len;

int xpn_xen_domain_type(void);
int xpn_xenbus_register_frontend(struct xenbus_driver *drv);

#endif

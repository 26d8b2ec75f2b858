// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of xen_pv_net: wrappers for macros and static inlines, and the
 * C compiler's view of the structures the Rust crate touches.
 */
#include <linux/module.h>
#include <linux/stddef.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "helpers.h"

int xpn_xen_domain_type(void)
{
	return xen_domain_type;
}

int xpn_xenbus_register_frontend(struct xenbus_driver *drv)
{
	return xenbus_register_frontend(drv);
}

#define XPN_SIZE(t) { #t, sizeof(struct t) }
#define XPN_OFF(t, f) { #t "." #f, offsetof(struct t, f) }

/* Keep in step with LAYOUT in rust/sys.rs: every entry there must be here. */
const struct xpn_layout xpn_c_layout[] = {
	XPN_SIZE(xenbus_device_id),
	XPN_OFF(xenbus_device_id, devicetype),
	XPN_SIZE(xenbus_driver),
	XPN_OFF(xenbus_driver, name),
	XPN_OFF(xenbus_driver, ids),
	XPN_OFF(xenbus_driver, probe),
	XPN_OFF(xenbus_driver, otherend_changed),
	XPN_OFF(xenbus_driver, remove),
	XPN_OFF(xenbus_driver, driver),
	XPN_SIZE(xenbus_device),
	XPN_OFF(xenbus_device, devicetype),
	XPN_OFF(xenbus_device, nodename),
	XPN_OFF(xenbus_device, otherend),
	XPN_OFF(xenbus_device, otherend_id),
	XPN_OFF(xenbus_device, dev),
	XPN_OFF(xenbus_device, state),
};
const unsigned int xpn_c_layout_len = ARRAY_SIZE(xpn_c_layout);

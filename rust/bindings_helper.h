/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel headers xen_pv_net's module-local bindings are generated from
 * (see rust/bindgen_parameters for what is kept).
 */
#include <linux/device.h>
#include <linux/netdevice.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "helpers.h"

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel headers xen_pv_net's module-local bindings are generated from
 * (see rust/bindgen_parameters for what is kept).
 */
#include <linux/device.h>
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "helpers.h"

/* Constants bindgen cannot see through macros. */
const unsigned int XPN_EOI_FLAG_SPURIOUS = XEN_EOI_FLAG_SPURIOUS;
const unsigned int XPN_IRQ_HANDLED = IRQ_HANDLED;
const int XPN_NETDEV_TX_OK = NETDEV_TX_OK;
const gfp_t XPN_GFP_RING = GFP_NOIO | __GFP_HIGH;
const int XPN_EAGAIN = EAGAIN;

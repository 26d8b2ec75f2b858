// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of xen_pv_net: wrappers for macros and static inlines, and the
 * C compiler's view of the structures the Rust crate touches.
 */
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/stddef.h>
#include <net/gro.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "helpers.h"

int xpn_xen_domain_type(void)
{
	return xen_domain_type;
}

/*
 * xenbus takes a reference on a frontend driver's module for every device
 * bound to it, so a module owning its xenbus_driver cannot be unloaded while
 * a vif exists. xen_pv_net registers without an owner instead: its exit
 * unregisters the driver, which removes every bound device first, like any
 * other bus driver, so `rmmod` works with interfaces up.
 */
int xpn_xenbus_register_frontend(struct xenbus_driver *drv)
{
	return __xenbus_register_frontend(drv, NULL, KBUILD_MODNAME);
}

int xpn_otherend_state(struct xenbus_device *dev)
{
	return xenbus_read_driver_state(dev, dev->otherend);
}

void xpn_set_drvdata(struct xenbus_device *dev, void *data)
{
	dev_set_drvdata(&dev->dev, data);
}

void *xpn_get_drvdata(struct xenbus_device *dev)
{
	return dev_get_drvdata(&dev->dev);
}

void xpn_xenbus_fatal(struct xenbus_device *dev, int err, const char *msg)
{
	xenbus_dev_fatal(dev, err, "%s", msg);
}

struct page *xpn_alloc_page(void)
{
	return alloc_page(GFP_ATOMIC | __GFP_NOWARN);
}

void xpn_free_page(struct page *page)
{
	__free_page(page);
}

void *xpn_page_address(struct page *page)
{
	return page_address(page);
}

unsigned long xpn_page_to_gfn(struct page *page)
{
	return xen_page_to_gfn(page);
}

unsigned long xpn_virt_to_gfn(const void *addr)
{
	return virt_to_gfn(addr);
}

unsigned long xpn_spinlock_size(void)
{
	return sizeof(spinlock_t);
}

void xpn_spin_lock_init(void *lock)
{
	spin_lock_init((spinlock_t *)lock);
}

unsigned long xpn_spin_lock_irqsave(void *lock)
{
	unsigned long flags;

	spin_lock_irqsave((spinlock_t *)lock, flags);
	return flags;
}

void xpn_spin_unlock_irqrestore(void *lock, unsigned long flags)
{
	spin_unlock_irqrestore((spinlock_t *)lock, flags);
}

void *xpn_netdev_priv(struct net_device *dev)
{
	return netdev_priv(dev);
}

void xpn_netdev_setup(struct net_device *dev, struct device *parent,
		      const void *ops, const u8 *mac, unsigned int max_mtu)
{
	dev->netdev_ops = ops;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = max_mtu;
	eth_hw_addr_set(dev, mac);
	SET_NETDEV_DEV(dev, parent);
}

void xpn_netif_napi_add(struct net_device *dev, struct napi_struct *napi,
			int (*poll)(struct napi_struct *, int))
{
	netif_napi_add(dev, napi, poll);
}

bool xpn_napi_schedule(struct napi_struct *napi)
{
	return napi_schedule(napi);
}

void xpn_netif_napi_del(struct napi_struct *napi)
{
	netif_napi_del(napi);
}

void xpn_txq_stop(struct net_device *dev, unsigned int q)
{
	netif_tx_stop_queue(netdev_get_tx_queue(dev, q));
}

void xpn_txq_wake(struct net_device *dev, unsigned int q)
{
	netif_tx_wake_queue(netdev_get_tx_queue(dev, q));
}

bool xpn_txq_stopped(struct net_device *dev, unsigned int q)
{
	return netif_tx_queue_stopped(netdev_get_tx_queue(dev, q));
}

bool xpn_netif_running(struct net_device *dev)
{
	return netif_running(dev);
}

bool xpn_carrier_ok(struct net_device *dev)
{
	return netif_carrier_ok(dev);
}

void xpn_stats64_set(void *stats, u64 rx_packets, u64 tx_packets,
		     u64 rx_bytes, u64 tx_bytes, u64 rx_errors, u64 tx_errors,
		     u64 rx_dropped, u64 tx_dropped)
{
	struct rtnl_link_stats64 *s = stats;

	s->rx_packets = rx_packets;
	s->tx_packets = tx_packets;
	s->rx_bytes = rx_bytes;
	s->tx_bytes = tx_bytes;
	s->rx_errors = rx_errors;
	s->tx_errors = tx_errors;
	s->rx_dropped = rx_dropped;
	s->tx_dropped = tx_dropped;
}

unsigned int xpn_skb_len(const struct sk_buff *skb)
{
	return skb->len;
}

unsigned int xpn_skb_headlen(const struct sk_buff *skb)
{
	return skb_headlen(skb);
}

void *xpn_skb_data(const struct sk_buff *skb)
{
	return skb->data;
}

unsigned int xpn_skb_nr_frags(const struct sk_buff *skb)
{
	return skb_shinfo(skb)->nr_frags;
}

int xpn_skb_linearize(struct sk_buff *skb)
{
	return skb_linearize(skb);
}

unsigned int xpn_skb_ip_summed(const struct sk_buff *skb)
{
	return skb->ip_summed;
}

void xpn_kfree_skb_any(struct sk_buff *skb)
{
	dev_kfree_skb_any(skb);
}

void xpn_consume_skb_any(struct sk_buff *skb)
{
	dev_consume_skb_any(skb);
}

struct sk_buff *xpn_rx_skb_alloc(struct napi_struct *napi, unsigned int len)
{
	return napi_alloc_skb(napi, len);
}

void xpn_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len)
{
	skb_put_data(skb, data, len);
}

/*
 * Hands a received frame to the stack. A frame whose checksum the backend
 * left blank gets its partial checksum set up (or is dropped if its headers
 * do not allow that); validated data is marked as such.
 */
int xpn_rx_deliver(struct napi_struct *napi, struct net_device *dev,
		   struct sk_buff *skb, bool csum_blank, bool data_validated)
{
	skb->protocol = eth_type_trans(skb, dev);
	skb_reset_network_header(skb);
	if (csum_blank) {
		if (skb_checksum_setup(skb, true)) {
			kfree_skb(skb);
			return -EPROTO;
		}
	} else if (data_validated) {
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	}
	napi_gro_receive(napi, skb);
	return 0;
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
	XPN_SIZE(net_device_ops),
	XPN_OFF(net_device_ops, ndo_open),
	XPN_OFF(net_device_ops, ndo_stop),
	XPN_OFF(net_device_ops, ndo_start_xmit),
	XPN_OFF(net_device_ops, ndo_get_stats64),
	XPN_OFF(net_device_ops, ndo_validate_addr),
	XPN_SIZE(napi_struct),
	{ "spinlock_t", sizeof(spinlock_t) },
};
const unsigned int xpn_c_layout_len = ARRAY_SIZE(xpn_c_layout);

// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of xen_pv_net: wrappers for macros and static inlines, and the
 * C compiler's view of the structures the Rust crate touches.
 */
#include <linux/cpumask.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/module.h>
#include <linux/rtnetlink.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/stddef.h>
#include <linux/timer.h>
#include <net/gro.h>
#include <xen/grant_table.h>
#include <xen/interface/io/netif.h>
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

/*
 * An RX buffer page. Zeroed: the backend gets access to it, and it must
 * find nothing there but what it writes itself (XSA-403: a page fresh from
 * the allocator holds whatever the guest kept in it before). Pages reused
 * from the ring hold only data the backend wrote.
 */
struct page *xpn_alloc_page(void)
{
	return alloc_page(GFP_ATOMIC | __GFP_NOWARN | __GFP_ZERO);
}

/* A zeroed TX bounce page (process context: connect). */
struct page *xpn_alloc_bounce_page(void)
{
	return alloc_page(GFP_KERNEL | __GFP_ZERO);
}

int xpn_skb_copy_bits(const struct sk_buff *skb, unsigned int offset,
		      void *to, unsigned int len)
{
	return skb_copy_bits(skb, offset, to, len);
}

void xpn_free_page(struct page *page)
{
	__free_page(page);
}

/*
 * Ends the backend's access to a shared ring page and frees it. A page the
 * backend still maps is handed to the grant table, which frees it once the
 * backend lets go (xenbus_teardown_ring would free it at once). Returns
 * whether the page was freed now.
 */
bool xpn_ring_page_release(grant_ref_t ref, void *addr)
{
	if (ref == INVALID_GRANT_REF) {
		free_pages_exact(addr, XEN_PAGE_SIZE);
		return true;
	}
	if (gnttab_try_end_foreign_access(ref)) {
		free_pages_exact(addr, XEN_PAGE_SIZE);
		return true;
	}
	/* alloc_pages_exact of one page: an order-0 page the grant table may put. */
	gnttab_end_foreign_access(ref, virt_to_page(addr));
	return false;
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

void xpn_timer_setup(struct timer_list *t, void (*fn)(struct timer_list *))
{
	timer_setup(t, fn, 0);
}

void xpn_timer_arm(struct timer_list *t, unsigned int msecs)
{
	mod_timer(t, jiffies + msecs_to_jiffies(msecs));
}

/* Waits for a running callback; the timer may be armed again later. */
void xpn_timer_shutdown(struct timer_list *t)
{
	timer_delete_sync(t);
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

/* Stops every TX queue, waiting for a transmit in progress on each. */
void xpn_netif_tx_disable(struct net_device *dev)
{
	netif_tx_disable(dev);
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

/*
 * Offloads as xen-netfront sets them up: everything the protocol can do is
 * on until the backend's features are known; ndo_fix_features then masks
 * what the backend lacks (netdev_update_features after connecting). Unlike
 * xen-netfront, IPv4 checksum offload can be switched off too.
 */
void xpn_netdev_init_offloads(struct net_device *dev, const void *ethtool_ops)
{
	dev->features = NETIF_F_RXCSUM | NETIF_F_GSO_ROBUST;
	dev->hw_features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM |
			   NETIF_F_TSO | NETIF_F_TSO6;
	dev->features |= dev->hw_features;
	dev->ethtool_ops = ethtool_ops;
	netif_set_tso_max_size(dev, XEN_NETIF_MAX_TX_SIZE);
}

/* Our offload bits (rust/negotiate.rs NetFeatures) and the kernel's. */
static const struct {
	unsigned int bit;
	netdev_features_t feature;
} xpn_offloads[] = {
	{ XPN_F_SG, NETIF_F_SG },
	{ XPN_F_TSO, NETIF_F_TSO },
	{ XPN_F_TSO6, NETIF_F_TSO6 },
	{ XPN_F_IP_CSUM, NETIF_F_IP_CSUM },
	{ XPN_F_IPV6_CSUM, NETIF_F_IPV6_CSUM },
};

/* @features without the offloads (of those we know) not in @allowed. */
u64 xpn_features_allowed(u64 features, unsigned int allowed)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(xpn_offloads); i++)
		if (!(allowed & xpn_offloads[i].bit))
			features &= ~xpn_offloads[i].feature;
	return features;
}

/* The offloads (of those we know) in @features, as XPN_F_* bits. */
unsigned int xpn_features_bits(u64 features)
{
	unsigned int i, bits = 0;

	for (i = 0; i < ARRAY_SIZE(xpn_offloads); i++)
		if (features & xpn_offloads[i].feature)
			bits |= xpn_offloads[i].bit;
	return bits;
}

u64 xpn_netdev_features(struct net_device *dev)
{
	return READ_ONCE(dev->features);
}

void xpn_netdev_update_features(struct net_device *dev, bool take_rtnl)
{
	if (take_rtnl)
		rtnl_lock();
	netdev_update_features(dev);
	if (take_rtnl)
		rtnl_unlock();
}

unsigned int xpn_netdev_mtu(struct net_device *dev)
{
	return READ_ONCE(dev->mtu);
}

void xpn_netdev_set_mtu(struct net_device *dev, unsigned int mtu)
{
	WRITE_ONCE(dev->mtu, mtu);
}

int xpn_set_real_num_queues(struct net_device *dev, unsigned int n,
			    bool take_rtnl)
{
	int err;

	if (take_rtnl)
		rtnl_lock();
	err = netif_set_real_num_queues(dev, n, n);
	if (take_rtnl)
		rtnl_unlock();
	return err;
}

unsigned int xpn_num_online_cpus(void)
{
	return num_online_cpus();
}

void xpn_drvinfo_set(void *info, const char *driver, const char *version,
		     struct xenbus_device *xb)
{
	struct ethtool_drvinfo *i = info;

	strscpy(i->driver, driver, sizeof(i->driver));
	strscpy(i->version, version, sizeof(i->version));
	strscpy(i->bus_info, dev_name(&xb->dev), sizeof(i->bus_info));
}

unsigned int xpn_skb_queue_mapping(const struct sk_buff *skb)
{
	return skb_get_queue_mapping(skb);
}

u32 xpn_skb_get_hash(struct sk_buff *skb)
{
	return skb_get_hash(skb);
}

/* Fragment @i of @skb: its (possibly compound) page, offset and length. */
bool xpn_skb_frag(const struct sk_buff *skb, unsigned int i,
		  struct page **page, unsigned int *off, unsigned int *len)
{
	const skb_frag_t *frag;

	if (i >= skb_shinfo(skb)->nr_frags)
		return false;
	frag = &skb_shinfo(skb)->frags[i];
	*page = skb_frag_page(frag);
	*off = skb_frag_off(frag);
	*len = skb_frag_size(frag);
	return *page != NULL;
}

/* The frame number of the @n-th page after @page. */
unsigned long xpn_page_nth_gfn(struct page *page, unsigned long n)
{
#ifdef nth_page
	return xen_page_to_gfn(nth_page(page, n));
#else
	/* Newer kernels: the pages of a compound page are contiguous. */
	return xen_page_to_gfn(page + n);
#endif
}

/*
 * The Xen GSO type of @skb (XEN_NETIF_GSO_TYPE_NONE if it is not GSO, -1 if
 * its GSO type cannot be expressed) and its segment size in @size.
 */
int xpn_skb_gso(const struct sk_buff *skb, u16 *size)
{
	const struct skb_shared_info *sh = skb_shinfo(skb);

	if (!skb_is_gso(skb))
		return XEN_NETIF_GSO_TYPE_NONE;
	*size = sh->gso_size;
	if (sh->gso_type & SKB_GSO_TCPV4)
		return XEN_NETIF_GSO_TYPE_TCPV4;
	if (sh->gso_type & SKB_GSO_TCPV6)
		return XEN_NETIF_GSO_TYPE_TCPV6;
	return -1;
}

/* Attaches @len bytes at @off of @page (ours, one page) as the next frag. */
void xpn_skb_add_rx_frag(struct sk_buff *skb, struct page *page,
			 unsigned int off, unsigned int len)
{
	skb_add_rx_frag(skb, skb_shinfo(skb)->nr_frags, page, off, len,
			PAGE_SIZE);
}

unsigned int xpn_skb_max_frags(void)
{
	return MAX_SKB_FRAGS;
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
 * Hands a received frame to the stack: pulls the first @pull bytes into
 * the linear area, sets up GSO from the backend's extra info (@gso_type a
 * XEN_NETIF_GSO_TYPE_*, validated by the caller), sets up the partial
 * checksum of a frame whose checksum the backend left blank (or drops the
 * frame if its headers do not allow that: -EPROTO) and marks validated
 * data as such.
 */
int xpn_rx_deliver(struct napi_struct *napi, struct net_device *dev,
		   struct sk_buff *skb, unsigned int pull, bool csum_blank,
		   bool data_validated, u16 gso_size, u8 gso_type)
{
	if (pull > skb_headlen(skb) &&
	    !__pskb_pull_tail(skb, pull - skb_headlen(skb))) {
		kfree_skb(skb);
		return -ENOMEM;
	}
	if (gso_type != XEN_NETIF_GSO_TYPE_NONE) {
		skb_shinfo(skb)->gso_size = gso_size;
		skb_shinfo(skb)->gso_type =
			(gso_type == XEN_NETIF_GSO_TYPE_TCPV4 ? SKB_GSO_TCPV4 :
								SKB_GSO_TCPV6) |
			SKB_GSO_DODGY;
		skb_shinfo(skb)->gso_segs = 0;
	}
	skb->protocol = eth_type_trans(skb, dev);
	skb_reset_network_header(skb);
	/*
	 * A GSO skb must be CHECKSUM_PARTIAL: one the backend sent without
	 * csum_blank gets its partial checksum recomputed too (as
	 * xen-netfront's checksum_setup does), or forwarding it would warn.
	 */
	if (csum_blank || gso_type != XEN_NETIF_GSO_TYPE_NONE) {
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
	XPN_OFF(xenbus_driver, resume),
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
	XPN_OFF(net_device_ops, ndo_select_queue),
	XPN_OFF(net_device_ops, ndo_get_stats64),
	XPN_OFF(net_device_ops, ndo_fix_features),
	XPN_OFF(net_device_ops, ndo_set_features),
	XPN_OFF(net_device_ops, ndo_change_mtu),
	XPN_OFF(net_device_ops, ndo_validate_addr),
	XPN_OFF(net_device_ops, ndo_set_mac_address),
	XPN_SIZE(ethtool_ops),
	XPN_OFF(ethtool_ops, get_drvinfo),
	XPN_OFF(ethtool_ops, get_link),
	XPN_OFF(ethtool_ops, get_sset_count),
	XPN_OFF(ethtool_ops, get_strings),
	XPN_OFF(ethtool_ops, get_ethtool_stats),
	XPN_OFF(ethtool_ops, get_channels),
	XPN_OFF(ethtool_ops, set_channels),
	XPN_SIZE(ethtool_channels),
	XPN_OFF(ethtool_channels, max_combined),
	XPN_OFF(ethtool_channels, rx_count),
	XPN_OFF(ethtool_channels, tx_count),
	XPN_OFF(ethtool_channels, other_count),
	XPN_OFF(ethtool_channels, combined_count),
	XPN_SIZE(napi_struct),
	XPN_SIZE(timer_list),
	{ "spinlock_t", sizeof(spinlock_t) },
};
const unsigned int xpn_c_layout_len = ARRAY_SIZE(xpn_c_layout);

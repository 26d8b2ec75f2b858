/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of xen_pv_net: kernel macros and static inline functions the
 * Rust crate cannot call directly, and the C compiler's view of the layout
 * of every kernel structure the crate touches. Differences between kernel
 * versions are absorbed here, behind these stable prototypes.
 */
#ifndef XPN_HELPERS_H
#define XPN_HELPERS_H

#include <linux/types.h>

struct xenbus_driver;
struct xenbus_device;
struct net_device;
struct napi_struct;
struct sk_buff;
struct page;
struct device;

/** struct xpn_layout - size or field offset of a kernel struct, as gcc sees it. */
struct xpn_layout {
	const char *name;
	unsigned long value;
};

extern const struct xpn_layout xpn_c_layout[];
extern const unsigned int xpn_c_layout_len;

/* Platform and xenbus. */
int xpn_xen_domain_type(void);
int xpn_xenbus_register_frontend(struct xenbus_driver *drv);
int xpn_otherend_state(struct xenbus_device *dev);
void xpn_set_drvdata(struct xenbus_device *dev, void *data);
void *xpn_get_drvdata(struct xenbus_device *dev);
void xpn_xenbus_fatal(struct xenbus_device *dev, int err, const char *msg);

/* Memory and grants. */
struct page *xpn_alloc_page(void);
void xpn_free_page(struct page *page);
void *xpn_page_address(struct page *page);
unsigned long xpn_page_to_gfn(struct page *page);
unsigned long xpn_virt_to_gfn(const void *addr);
bool xpn_ring_page_release(u32 ref, void *addr);
struct page *xpn_alloc_bounce_page(void);

/* Timers. */
struct timer_list;
void xpn_timer_setup(struct timer_list *t, void (*fn)(struct timer_list *));
void xpn_timer_arm(struct timer_list *t, unsigned int msecs);
void xpn_timer_shutdown(struct timer_list *t);

/* Spinlocks (irq-safe). */
void xpn_spin_lock_init(void *lock);
unsigned long xpn_spin_lock_irqsave(void *lock);
void xpn_spin_unlock_irqrestore(void *lock, unsigned long flags);

/* net_device, NAPI and queues. */
void *xpn_netdev_priv(struct net_device *dev);
void xpn_netdev_setup(struct net_device *dev, struct device *parent,
		      const void *ops, const u8 *mac, unsigned int max_mtu);
void xpn_netif_napi_add(struct net_device *dev, struct napi_struct *napi,
			int (*poll)(struct napi_struct *, int));
bool xpn_napi_schedule(struct napi_struct *napi);
void xpn_netif_napi_del(struct napi_struct *napi);
void xpn_txq_stop(struct net_device *dev, unsigned int q);
void xpn_netif_tx_disable(struct net_device *dev);
void xpn_txq_wake(struct net_device *dev, unsigned int q);
bool xpn_txq_stopped(struct net_device *dev, unsigned int q);
void xpn_stats64_set(void *stats, u64 rx_packets, u64 tx_packets,
		     u64 rx_bytes, u64 tx_bytes, u64 rx_errors, u64 tx_errors,
		     u64 rx_dropped, u64 tx_dropped);

/* Offloads and MTU (bits: rust/negotiate.rs NetFeatures). */
#define XPN_F_SG	(1U << 0)
#define XPN_F_TSO	(1U << 1)
#define XPN_F_TSO6	(1U << 2)
#define XPN_F_IP_CSUM	(1U << 3)
#define XPN_F_IPV6_CSUM	(1U << 4)
void xpn_netdev_init_offloads(struct net_device *dev, const void *ethtool_ops);
u64 xpn_features_allowed(u64 features, unsigned int allowed);
unsigned int xpn_features_bits(u64 features);
u64 xpn_netdev_features(struct net_device *dev);
void xpn_netdev_update_features(struct net_device *dev, bool take_rtnl);
unsigned int xpn_netdev_mtu(struct net_device *dev);
void xpn_netdev_set_mtu(struct net_device *dev, unsigned int mtu);
int xpn_set_real_num_queues(struct net_device *dev, unsigned int n, bool take_rtnl);
unsigned int xpn_num_online_cpus(void);

/* ethtool. */
void xpn_drvinfo_set(void *info, const char *driver, const char *version,
		     struct xenbus_device *xb);

/* sk_buff. */
unsigned int xpn_skb_queue_mapping(const struct sk_buff *skb);
u32 xpn_skb_get_hash(struct sk_buff *skb);
bool xpn_skb_frag(const struct sk_buff *skb, unsigned int i,
		  struct page **page, unsigned int *off, unsigned int *len);
unsigned long xpn_page_nth_gfn(struct page *page, unsigned long n);
int xpn_skb_gso(const struct sk_buff *skb, u16 *size);
void xpn_skb_add_rx_frag(struct sk_buff *skb, struct page *page,
			 unsigned int off, unsigned int len);
unsigned int xpn_skb_max_frags(void);
unsigned int xpn_skb_len(const struct sk_buff *skb);
unsigned int xpn_skb_headlen(const struct sk_buff *skb);
void *xpn_skb_data(const struct sk_buff *skb);
unsigned int xpn_skb_nr_frags(const struct sk_buff *skb);
int xpn_skb_linearize(struct sk_buff *skb);
int xpn_skb_copy_bits(const struct sk_buff *skb, unsigned int offset,
		      void *to, unsigned int len);
unsigned int xpn_skb_ip_summed(const struct sk_buff *skb);
void xpn_kfree_skb_any(struct sk_buff *skb);
void xpn_consume_skb_any(struct sk_buff *skb);
struct sk_buff *xpn_rx_skb_alloc(struct napi_struct *napi, unsigned int len);
void xpn_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len);
int xpn_rx_deliver(struct napi_struct *napi, struct net_device *dev,
		   struct sk_buff *skb, unsigned int pull, bool csum_blank,
		   bool data_validated, u16 gso_size, u8 gso_type);

#endif

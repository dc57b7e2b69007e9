/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: socket -> process attribution.
 *
 * The runtime's socket enricher keeps the hash map `gadget_sockets` up to
 * date: for every TCP/UDP socket it knows, the owning process
 * (struct gadget_socket_value, see types.h), keyed by network namespace,
 * address family, protocol and local port (host byte order). Gadgets look
 * sockets up with gadget_socket_lookup() and copy the owner into their event
 * with gadget_process_populate_from_socket().
 *
 * Define exactly one of these before including:
 *   GADGET_TYPE_NETWORKING  skb programs (socket filter, tc):
 *       gadget_socket_lookup(skb), gadget_socket_lookup_with_direction(skb, in)
 *       The network namespace inode is taken from skb->cb[0], which the
 *       runtime's attach path sets; the local port is the destination port
 *       of incoming packets and the source port of outgoing ones.
 *   GADGET_TYPE_TRACING     programs holding a struct sock *:
 *       gadget_socket_lookup(sk, netns)
 *
 * Include <vmlinux.h> or <linux/types.h> (+ <linux/bpf.h>) first.
 */
#ifndef __RIG_GADGET_SOCKETS_MAP_H
#define __RIG_GADGET_SOCKETS_MAP_H

#if !defined(__VMLINUX_H__) && !defined(_LINUX_TYPES_H)
#error "include <vmlinux.h> or <linux/types.h> before <gadget/sockets-map.h>"
#endif

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include <gadget/types.h>

/* IG's older name for the value type. */
#define sockets_value gadget_socket_value

#define GADGET_SE_AF_INET 2
#define GADGET_SE_AF_INET6 10
#define GADGET_SE_PROTO_TCP 6
#define GADGET_SE_PROTO_UDP 17
#define GADGET_SE_PACKET_HOST 0
#define GADGET_SE_ETH_HLEN 14
#define GADGET_SE_ETH_P_IP 0x0800
#define GADGET_SE_ETH_P_IPV6 0x86DD

/* Header offsets and IPv6 next-header values, under Inspektor Gadget's
 * names (gadgets parsing packets themselves use them too). */
#define GADGET_SE_IPV6_HLEN 40
#define GADGET_SE_IPV6_NEXTHDR_OFFSET 6
#define GADGET_SE_TCPHDR_SOURCE_OFFSET 0
#define GADGET_SE_TCPHDR_DEST_OFFSET 2
#define GADGET_SE_UDPHDR_SOURCE_OFFSET 0
#define GADGET_SE_UDPHDR_DEST_OFFSET 2
#define GADGET_SE_NEXTHDR_HOP 0
#define GADGET_SE_NEXTHDR_TCP 6
#define GADGET_SE_NEXTHDR_UDP 17
#define GADGET_SE_NEXTHDR_ROUTING 43
#define GADGET_SE_NEXTHDR_FRAGMENT 44
#define GADGET_SE_NEXTHDR_AUTH 51
#define GADGET_SE_NEXTHDR_NONE 59
#define GADGET_SE_NEXTHDR_DEST 60

/* Explicit padding: keys are compared bytewise by the kernel. */
struct gadget_socket_key {
	__u32 netns;
	__u16 family;
	__u8 proto;
	__u8 __pad1;
	__u16 port;
	__u16 __pad2;
};

#define GADGET_MAX_SOCKETS 16384

/* Values are ~8 KiB (cwd and exepath): entries are allocated as sockets are
 * added, not all up front. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GADGET_MAX_SOCKETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gadget_socket_key);
	__type(value, struct gadget_socket_value);
} gadget_sockets SEC(".maps");

/* Finds the socket for `key`, falling back from IPv4 to a dual-stack IPv6
 * socket bound to the same port. */
static __always_inline struct gadget_socket_value *
__rig_socket_find(struct gadget_socket_key *key)
{
	struct gadget_socket_value *v;

	v = bpf_map_lookup_elem(&gadget_sockets, key);
	if (v || key->family != GADGET_SE_AF_INET)
		return v;
	key->family = GADGET_SE_AF_INET6;
	v = bpf_map_lookup_elem(&gadget_sockets, key);
	if (v && !v->ipv6only)
		return v;
	return NULL;
}

#ifdef GADGET_TYPE_NETWORKING

/* Offset of the L4 header behind an IPv6 header, skipping up to four
 * extension headers; 0 if there is no TCP/UDP header. */
static __always_inline int __rig_ipv6_l4(const struct __sk_buff *skb,
					 __u8 *proto)
{
	int off = GADGET_SE_ETH_HLEN + 40;
	__u8 next, hdr[2];

	if (bpf_skb_load_bytes(skb, GADGET_SE_ETH_HLEN + 6, &next, 1) < 0)
		return 0;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (next == GADGET_SE_PROTO_TCP || next == GADGET_SE_PROTO_UDP) {
			*proto = next;
			return off;
		}
		if (bpf_skb_load_bytes(skb, off, hdr, 2) < 0)
			return 0;
		switch (next) {
		case 0:  /* hop-by-hop options */
		case 43: /* routing */
		case 60: /* destination options */
			off += 8 * (hdr[1] + 1);
			break;
		case 44: /* fragment */
			off += 8;
			break;
		case 51: /* authentication */
			off += 4 * (hdr[1] + 2);
			break;
		default:
			return 0;
		}
		next = hdr[0];
	}
	if (next == GADGET_SE_PROTO_TCP || next == GADGET_SE_PROTO_UDP) {
		*proto = next;
		return off;
	}
	return 0;
}

/* The socket owning the local end of this packet. `is_ingress` says which
 * port is local: destination for received packets, source for sent ones. */
static __always_inline struct gadget_socket_value *
gadget_socket_lookup_with_direction(const struct __sk_buff *skb,
				    __u8 is_ingress)
{
	struct gadget_socket_key key;
	__u16 eth_proto, port;
	__u8 b;
	int l4;

	__builtin_memset(&key, 0, sizeof(key));
	key.netns = skb->cb[0];

	if (bpf_skb_load_bytes(skb, 12, &eth_proto, 2) < 0)
		return NULL;

	if (eth_proto == bpf_htons(GADGET_SE_ETH_P_IP)) {
		key.family = GADGET_SE_AF_INET;
		if (bpf_skb_load_bytes(skb, GADGET_SE_ETH_HLEN + 9, &key.proto,
				       1) < 0)
			return NULL;
		if (key.proto != GADGET_SE_PROTO_TCP &&
		    key.proto != GADGET_SE_PROTO_UDP)
			return NULL;
		if (bpf_skb_load_bytes(skb, GADGET_SE_ETH_HLEN, &b, 1) < 0)
			return NULL;
		l4 = GADGET_SE_ETH_HLEN + (b & 0x0f) * 4;
	} else if (eth_proto == bpf_htons(GADGET_SE_ETH_P_IPV6)) {
		key.family = GADGET_SE_AF_INET6;
		l4 = __rig_ipv6_l4(skb, &key.proto);
		if (!l4)
			return NULL;
	} else {
		return NULL;
	}

	/* TCP and UDP both start with source port, then destination port. */
	if (bpf_skb_load_bytes(skb, l4 + (is_ingress ? 2 : 0), &port, 2) < 0)
		return NULL;
	key.port = bpf_ntohs(port);

	return __rig_socket_find(&key);
}

/* Same, deciding the direction from skb->pkt_type (fine for socket
 * filters; tc programs should pass the direction explicitly). */
static __always_inline struct gadget_socket_value *
gadget_socket_lookup(const struct __sk_buff *skb)
{
	return gadget_socket_lookup_with_direction(
		skb, skb->pkt_type == GADGET_SE_PACKET_HOST);
}

#endif /* GADGET_TYPE_NETWORKING */

#ifdef GADGET_TYPE_TRACING

/* The socket entry of `sk` in network namespace `netns`. */
static __always_inline struct gadget_socket_value *
gadget_socket_lookup(const struct sock *sk, __u32 netns)
{
	struct gadget_socket_key key;
	__u16 sport = 0;

	__builtin_memset(&key, 0, sizeof(key));
	key.netns = netns;
	key.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	key.proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (key.proto != GADGET_SE_PROTO_TCP && key.proto != GADGET_SE_PROTO_UDP)
		return NULL;
	/* inet_sport is the local port, in network byte order. */
	BPF_CORE_READ_INTO(&sport, (struct inet_sock *)sk, inet_sport);
	key.port = bpf_ntohs(sport);

	return __rig_socket_find(&key);
}

#endif /* GADGET_TYPE_TRACING */

/* Copies the socket owner into `p`; leaves `p` untouched if `v` is NULL. */
static __always_inline void
gadget_process_populate_from_socket(const struct gadget_socket_value *v,
				    struct gadget_process *p)
{
	if (!v)
		return;
	__builtin_memcpy(p->comm, v->task, sizeof(p->comm));
	p->pid = v->pid_tgid >> 32;
	p->tid = (__u32)v->pid_tgid;
	p->mntns_id = v->mntns;
	p->creds.uid = (__u32)v->uid_gid;
	p->creds.gid = v->uid_gid >> 32;
	__builtin_memcpy(p->parent.comm, v->ptask, sizeof(p->parent.comm));
	p->parent.pid = v->ppid;
	p->parent.tid = v->ptid;
}

#ifdef __RIG_GADGET_FILTER_H
__RIG_DEFINE_DISCARD_BY_SKB
#endif

#endif /* __RIG_GADGET_SOCKETS_MAP_H */

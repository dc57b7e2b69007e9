// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_socket": a socket filter (IG's "socket1" section)
 * that reports every IPv4 UDP packet to the port given by the `port`
 * parameter, with the netns the dispatcher wrote into skb->cb[0] and the
 * owner of the packet's local socket as rig's socket enricher recorded it.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>
#define GADGET_TYPE_NETWORKING
#include <gadget/sockets-map.h>

#include "../attach_common.h"

struct socket_event {
	__u32 netns;
	__u32 len;
	__u16 dport;
	__u8 ingress;
	__u8 __pad;
	__u32 owner_pid;
	char owner_comm[16];
};

const volatile __u16 port = 0;
GADGET_PARAM(port);

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(socket, events, socket_event);

SEC("socket1")
int rig_attach_socket(struct __sk_buff *skb)
{
	__u16 dport = ipv4_udp_dport(skb);
	struct gadget_socket_value *owner;
	struct socket_event *e;

	if (!dport || dport != port)
		return 0;
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;
	e->netns = skb->cb[0];
	e->len = skb->len;
	e->dport = dport;
	e->ingress = skb->pkt_type == GADGET_SE_PACKET_HOST;
	e->__pad = 0;
	e->owner_pid = 0;
	__builtin_memset(e->owner_comm, 0, sizeof(e->owner_comm));
	owner = gadget_socket_lookup(skb);
	if (owner) {
		e->owner_pid = owner->pid_tgid >> 32;
		__builtin_memcpy(e->owner_comm, owner->task, sizeof(e->owner_comm));
	}
	gadget_submit_buf(skb, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

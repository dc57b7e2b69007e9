// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_socket": a socket filter (IG's "socket1" section)
 * that reports every IPv4 UDP packet to the port given by the `port`
 * parameter, with the netns the dispatcher wrote into skb->cb[0].
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

struct socket_event {
	__u32 netns;
	__u32 len;
	__u16 dport;
};

const volatile __u16 port = 0;
GADGET_PARAM(port);

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(socket, events, socket_event);

SEC("socket1")
int rig_attach_socket(struct __sk_buff *skb)
{
	__u16 dport = ipv4_udp_dport(skb);
	struct socket_event *e;

	if (!dport || dport != port)
		return 0;
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;
	e->netns = skb->cb[0];
	e->len = skb->len;
	e->dport = dport;
	gadget_submit_buf(skb, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

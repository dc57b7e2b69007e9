// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_tc": tc classifiers on ingress and egress that report
 * every IPv4 UDP packet to the port given by the `port` parameter, with the
 * interface and the direction. They return TC_ACT_UNSPEC so other programs
 * on the interface still run.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

struct tc_event {
	__u32 ifindex;
	__u32 netns;
	__u16 dport;
	__u8 ingress;
};

const volatile __u16 port = 0;
GADGET_PARAM(port);

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(tc, events, tc_event);

static __always_inline int handle(struct __sk_buff *skb, __u8 ingress)
{
	__u16 dport = ipv4_udp_dport(skb);
	struct tc_event *e;

	if (!dport || dport != port)
		return -1;
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return -1;
	e->ifindex = skb->ifindex;
	e->netns = skb->cb[0];
	e->dport = dport;
	e->ingress = ingress;
	gadget_submit_buf(skb, &events, e, sizeof(*e));
	return -1;
}

SEC("classifier/ingress/main")
int rig_attach_tc_in(struct __sk_buff *skb)
{
	return handle(skb, 1);
}

SEC("classifier/egress/main")
int rig_attach_tc_out(struct __sk_buff *skb)
{
	return handle(skb, 0);
}

char LICENSE[] SEC("license") = "GPL";

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the attach_* test fixtures (included as "../attach_common.h";
 * rig's compile cache records it as a dependency of each object).
 */
#ifndef RIG_TEST_ATTACH_COMMON_H
#define RIG_TEST_ATTACH_COMMON_H

#include <bpf/bpf_endian.h>

/* True when the calling thread's name is `want` (a string literal). */
#define comm_is(want) comm_equals(want, sizeof(want))

static __always_inline bool comm_equals(const char *want, unsigned int len)
{
	char comm[16] = {};

	bpf_get_current_comm(comm, sizeof(comm));
	for (unsigned int i = 0; i < len && i < sizeof(comm); i++)
		if (comm[i] != want[i])
			return false;
	return true;
}

/*
 * The UDP destination port of an IPv4 packet starting with an Ethernet
 * header, or 0 when it is not IPv4 UDP.
 */
static __always_inline __u16 ipv4_udp_dport(struct __sk_buff *skb)
{
	__u16 proto, dport;
	__u8 l4, ihl;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0 ||
	    proto != bpf_htons(0x0800))
		return 0;
	if (bpf_skb_load_bytes(skb, 14 + 9, &l4, sizeof(l4)) < 0 || l4 != 17)
		return 0;
	if (bpf_skb_load_bytes(skb, 14, &ihl, sizeof(ihl)) < 0)
		return 0;
	if (bpf_skb_load_bytes(skb, 14 + (ihl & 0xf) * 4 + 2, &dport,
			       sizeof(dport)) < 0)
		return 0;
	return bpf_ntohs(dport);
}

/*
 * A fixture whose only program sits on a hook this machine cannot give:
 * ATTACH_HOOK_FIXTURE(name, "section", ctx type).
 */
#define ATTACH_HOOK_FIXTURE(name, section, ctx_type)                       \
	struct hook_event {                                                \
		__u32 pid;                                                 \
	};                                                                 \
	GADGET_TRACER_MAP(events, 1024 * 64);                              \
	GADGET_TRACER(name, events, hook_event);                           \
	SEC(section)                                                       \
	int rig_attach_##name(ctx_type *ctx)                               \
	{                                                                  \
		return 0;                                                  \
	}

#endif

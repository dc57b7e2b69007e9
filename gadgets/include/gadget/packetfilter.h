/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: user-supplied packet filters (tcpdump expressions).
 *
 * GADGET_PF(name) defines a non-inlined subprogram gadget_pf_<name> (the
 * name may be empty: gadget_pf_). Compiled as is, it matches every packet.
 * At load time the runtime replaces its body with the user's filter,
 * compiled from classic BPF to eBPF. The filter's calling convention needs
 * the skb in R1, R2 and R3 and the packet bounds in R4 and R5, hence the
 * repeated argument.
 *
 *   GADGET_PF(http);
 *   ...
 *   if (!gadget_pf_matches(http, skb, data, data_end)) return 0;
 *   if (!gadget_pf_matches(skb, data, data_end)) return 0;   // gadget_pf_
 */
#ifndef __RIG_GADGET_PACKETFILTER_H
#define __RIG_GADGET_PACKETFILTER_H

/* The placeholder body uses every argument so the compiler keeps all five
 * registers in the signature. */
#define GADGET_PF(name)                                                   \
	static __attribute__((noinline)) bool gadget_pf_##name(           \
		void *_skb, void *__skb, void *___skb, void *data,         \
		void *data_end)                                           \
	{                                                                 \
		return _skb == __skb && __skb == ___skb && data <= data_end; \
	}

#define __RIG_PF_CALL(name, skb, data, data_end) \
	gadget_pf_##name((skb), (skb), (skb), (data), (data_end))

#define __RIG_PF_ARGS3(skb, data, data_end) \
	__RIG_PF_CALL(, skb, data, data_end)
#define __RIG_PF_ARGS4(name, skb, data, data_end) \
	__RIG_PF_CALL(name, skb, data, data_end)

#define __RIG_PF_SELECT(_1, _2, _3, _4, impl, ...) impl

/* gadget_pf_matches([name,] skb, data, data_end) -> bool */
#define gadget_pf_matches(...)                                      \
	__RIG_PF_SELECT(__VA_ARGS__, __RIG_PF_ARGS4, __RIG_PF_ARGS3, \
			__rig_pf_wrong_arg_count, __rig_pf_wrong_arg_count) \
	(__VA_ARGS__)

#endif /* __RIG_GADGET_PACKETFILTER_H */

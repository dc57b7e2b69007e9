/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: FNV-1a hashing (Fowler/Noll/Vo, public domain algorithm).
 *
 *   u32 h = fnv_32a_init();  fnv_32a_update_u64(&h, x);  ...
 *   u64 h = fnv_64a_init();  fnv_64a_update_u32(&h, x);  ...
 *
 * Integers are fed least significant byte first.
 */
#ifndef __RIG_GADGET_FNV1A_H
#define __RIG_GADGET_FNV1A_H

#include <bpf/bpf_helpers.h>

#define FNV1_32_INIT ((__u32)2166136261u)
#define FNV1_32_PRIME ((__u32)16777619u)
#define FNV1_64_INIT ((__u64)14695981039346656037ull)
#define FNV1_64_PRIME ((__u64)1099511628211ull)

static __always_inline __u32 fnv_32a_init(void)
{
	return FNV1_32_INIT;
}

static __always_inline __u64 fnv_64a_init(void)
{
	return FNV1_64_INIT;
}

/* Mix the `nbytes` low bytes of `v` into a 32- or 64-bit state. */
static __always_inline void __rig_fnv32_mix(__u32 *h, __u64 v, int nbytes)
{
	__u32 x = *h;

#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= nbytes)
			break;
		x = (x ^ (__u8)(v >> (8 * i))) * FNV1_32_PRIME;
	}
	*h = x;
}

static __always_inline void __rig_fnv64_mix(__u64 *h, __u64 v, int nbytes)
{
	__u64 x = *h;

#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= nbytes)
			break;
		x = (x ^ (__u8)(v >> (8 * i))) * FNV1_64_PRIME;
	}
	*h = x;
}

static __always_inline void fnv_32a_update_u64(__u32 *h, __u64 v) { __rig_fnv32_mix(h, v, 8); }
static __always_inline void fnv_32a_update_u32(__u32 *h, __u32 v) { __rig_fnv32_mix(h, v, 4); }
static __always_inline void fnv_32a_update_u16(__u32 *h, __u16 v) { __rig_fnv32_mix(h, v, 2); }
static __always_inline void fnv_32a_update_u8(__u32 *h, __u8 v) { __rig_fnv32_mix(h, v, 1); }

static __always_inline void fnv_64a_update_u64(__u64 *h, __u64 v) { __rig_fnv64_mix(h, v, 8); }
static __always_inline void fnv_64a_update_u32(__u64 *h, __u32 v) { __rig_fnv64_mix(h, v, 4); }
static __always_inline void fnv_64a_update_u16(__u64 *h, __u16 v) { __rig_fnv64_mix(h, v, 2); }
static __always_inline void fnv_64a_update_u8(__u64 *h, __u8 v) { __rig_fnv64_mix(h, v, 1); }

#endif /* __RIG_GADGET_FNV1A_H */

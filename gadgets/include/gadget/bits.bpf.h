/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: integer logarithms for histogram slots.
 *
 *   log2(v)          floor(log2(v)) for a 32-bit v (0 for v == 0)
 *   log2l(v)         the same for 64 bits
 *   get_slot_idx(v)  0 for v == 0, else floor(log2(v)) + 1
 *
 * The names shadow libm's; that is intended (there is no libm in BPF).
 */
#ifndef __RIG_GADGET_BITS_BPF_H
#define __RIG_GADGET_BITS_BPF_H

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wincompatible-library-redeclaration"

/* Branch-free binary search: test the upper half, shift it down if set, and
 * add the half width to the result. */
static __always_inline __u64 log2(__u32 v)
{
	__u32 r = 0, s;

	s = (v >= (1U << 16)) << 4;
	v >>= s;
	r += s;
	s = (v >= (1U << 8)) << 3;
	v >>= s;
	r += s;
	s = (v >= (1U << 4)) << 2;
	v >>= s;
	r += s;
	s = (v >= (1U << 2)) << 1;
	v >>= s;
	r += s;
	r += v >> 1;
	return r;
}

static __always_inline __u64 log2l(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2(hi) + 32 : log2((__u32)v);
}

#pragma clang diagnostic pop

static __always_inline __u64 get_slot_idx(__u64 v)
{
	return v ? log2l(v) + 1 : 0;
}

#endif /* __RIG_GADGET_BITS_BPF_H */

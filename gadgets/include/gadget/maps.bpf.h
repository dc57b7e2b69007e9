/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: map helpers.
 */
#ifndef __RIG_GADGET_MAPS_BPF_H
#define __RIG_GADGET_MAPS_BPF_H

#include <bpf/bpf_helpers.h>
/* EEXIST and the other errno values, for gadgets too (as Inspektor
 * Gadget's header provides them). */
#include <asm-generic/errno.h>

/* Returns the value stored under `key`, inserting a copy of `init` first if
 * there is none. Two CPUs racing to insert the same key both get the single
 * stored value. NULL only if the map is full or the insert failed. */
static __always_inline void *
bpf_map_lookup_or_try_init(void *map, const void *key, const void *init)
{
	void *val;
	long err;

	val = bpf_map_lookup_elem(map, key);
	if (val)
		return val;

	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	if (err && err != -EEXIST)
		return NULL;

	return bpf_map_lookup_elem(map, key);
}

#endif /* __RIG_GADGET_MAPS_BPF_H */

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: in-kernel container filter.
 *
 * When the user selects containers (-c, --k8s-*), the runtime sets
 * gadget_filter_by_mntns = true before loading and writes the selected mount
 * namespace inodes into gadget_mntns_filter_map (value unused). Programs
 * call gadget_should_discard_mntns_id() early so unwanted events never leave
 * the kernel. With the flag false the verifier removes the check entirely.
 */
#ifndef __RIG_GADGET_MNTNS_FILTER_H
#define __RIG_GADGET_MNTNS_FILTER_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
/* Not needed here; Inspektor Gadget's header brings it, and gadgets that
 * include only <gadget/filter.h> use BPF_KPROBE() & co. from it. */
#include <bpf/bpf_tracing.h>

#include <gadget/types.h>
#include <gadget/mntns.h>

#define GADGET_MNTNS_FILTER_MAX_ENTRIES 1024

const volatile bool gadget_filter_by_mntns = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GADGET_MNTNS_FILTER_MAX_ENTRIES);
	__type(key, gadget_mntns_id);
	__type(value, __u32);
} gadget_mntns_filter_map SEC(".maps");

/* True when filtering by container is on and `mntns_id` is not selected. */
static __always_inline bool
gadget_should_discard_mntns_id(gadget_mntns_id mntns_id)
{
	if (!gadget_filter_by_mntns)
		return false;
	return bpf_map_lookup_elem(&gadget_mntns_filter_map, &mntns_id) == NULL;
}

#ifdef __VMLINUX_H__
/* Same test for the current task; reads the namespace only when needed. */
static __always_inline bool gadget_should_discard_current_mntns(void)
{
	if (!gadget_filter_by_mntns)
		return false;
	return gadget_should_discard_mntns_id(gadget_get_current_mntns_id());
}
#endif /* __VMLINUX_H__ */

#endif /* __RIG_GADGET_MNTNS_FILTER_H */

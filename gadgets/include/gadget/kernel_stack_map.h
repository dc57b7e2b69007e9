/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: kernel stacks.
 *
 * gadget_get_kernel_stack(ctx) stores the current kernel stack in the
 * stack-trace map `ig_kstack` and returns its id (>= 0) or a negative error.
 * Put the id in a gadget_kernel_stack field: the runtime reads the map and
 * symbolises the addresses with /proc/kallsyms.
 */
#ifndef __RIG_GADGET_KERNEL_STACK_MAP_H
#define __RIG_GADGET_KERNEL_STACK_MAP_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include <gadget/types.h>

#define GADGET_KERNEL_MAX_STACK_DEPTH 127
#define GADGET_KERNEL_STACK_MAP_MAX_ENTRIES 4096

#ifndef GADGET_KERNEL_STACK_ID_NONE
#define GADGET_KERNEL_STACK_ID_NONE ((gadget_kernel_stack)-1)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, GADGET_KERNEL_MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, GADGET_KERNEL_STACK_MAP_MAX_ENTRIES);
} ig_kstack SEC(".maps");

static __always_inline long gadget_get_kernel_stack(void *ctx)
{
	return bpf_get_stackid(ctx, &ig_kstack, BPF_F_FAST_STACK_CMP);
}

#endif /* __RIG_GADGET_KERNEL_STACK_MAP_H */

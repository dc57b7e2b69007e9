/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: user-space stacks.
 *
 * With the parameter collect_ustack (--collect-ustack) set, the helpers
 * store the current user stack in the stack-trace map `ig_ustack` and fill
 * a struct gadget_user_stack with its id plus what user space needs to
 * symbolise it (executable inode and mtime, pid in the first two pid
 * namespace levels). With it unset they only zero the struct, and the
 * verifier removes the rest.
 */
#ifndef __RIG_GADGET_USER_STACK_MAP_H
#define __RIG_GADGET_USER_STACK_MAP_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include <gadget/macros.h>
#include <gadget/types.h>

#define GADGET_USER_MAX_STACK_DEPTH 127
#define GADGET_USER_STACK_MAP_MAX_ENTRIES 4096

const volatile bool collect_ustack = false;
GADGET_PARAM(collect_ustack);

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, GADGET_USER_MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, GADGET_USER_STACK_MAP_MAX_ENTRIES);
} ig_ustack SEC(".maps");

/* Inode mtime layouts across kernels, resolved with CO-RE. */
struct inode___rig_mtime_split { /* v6.11+ */
	time64_t i_mtime_sec;
	u32 i_mtime_nsec;
} __attribute__((preserve_access_index));

struct inode___rig_mtime_hidden { /* v6.7 - v6.10 */
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___rig_mtime_ts64 { /* v4.18 - v6.6 */
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

static __always_inline void
gadget_inode_get_mtime(struct inode *inode, __u64 *sec, __u32 *nsec)
{
	struct inode___rig_mtime_split *a = (void *)inode;
	struct inode___rig_mtime_hidden *b = (void *)inode;
	struct inode___rig_mtime_ts64 *c = (void *)inode;

	if (bpf_core_field_exists(a->i_mtime_sec)) {
		*sec = BPF_CORE_READ(a, i_mtime_sec);
		*nsec = BPF_CORE_READ(a, i_mtime_nsec);
	} else if (bpf_core_field_exists(b->__i_mtime)) {
		*sec = BPF_CORE_READ(b, __i_mtime.tv_sec);
		*nsec = BPF_CORE_READ(b, __i_mtime.tv_nsec);
	} else if (bpf_core_field_exists(c->i_mtime)) {
		*sec = BPF_CORE_READ(c, i_mtime.tv_sec);
		*nsec = BPF_CORE_READ(c, i_mtime.tv_nsec);
	} else {
		*sec = 0;
		*nsec = 0;
	}
}

/* Fills `ustack` for the current task (any program type with a ctx that
 * bpf_get_stackid() accepts: tracepoints, raw tracepoints, kprobes, perf
 * events). All zero when collect_ustack is off. */
static __always_inline void
gadget_get_user_stack(void *ctx, struct gadget_user_stack *ustack)
{
	struct task_struct *task;
	struct inode *inode;
	struct pid *tpid;
	struct upid *numbers;
	unsigned int level;
	long id;

	__builtin_memset(ustack, 0, sizeof(*ustack));
	if (!collect_ustack)
		return;

	id = bpf_get_stackid(ctx, &ig_ustack,
			     BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP);
	if (id < 0)
		return;
	ustack->stack_id = id;

	task = (struct task_struct *)bpf_get_current_task();
	inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	ustack->exe_inode = BPF_CORE_READ(inode, i_ino);
	gadget_inode_get_mtime(inode, &ustack->mtime_sec, &ustack->mtime_nsec);

	tpid = BPF_CORE_READ(task, thread_pid);
	level = BPF_CORE_READ(tpid, level);
	numbers = (struct upid *)&tpid->numbers;
	ustack->pid_level0 = BPF_CORE_READ(numbers, nr);
	ustack->pidns_level0 = BPF_CORE_READ(numbers, ns, ns.inum);
	if (level >= 1) {
		ustack->pid_level1 = BPF_CORE_READ(numbers + 1, nr);
		ustack->pidns_level1 = BPF_CORE_READ(numbers + 1, ns, ns.inum);
	}
}

/* Program-type specific names used by some gadgets; same behaviour. */
static __always_inline void
gadget_get_user_stack_from_tracepoint(void *ctx,
				      struct gadget_user_stack *ustack)
{
	gadget_get_user_stack(ctx, ustack);
}

static __always_inline void
gadget_get_user_stack_from_kprobe(void *ctx, struct gadget_user_stack *ustack)
{
	gadget_get_user_stack(ctx, ustack);
}

static __always_inline void
gadget_get_user_stack_from_perf_event(void *ctx,
				      struct gadget_user_stack *ustack)
{
	gadget_get_user_stack(ctx, ustack);
}

#endif /* __RIG_GADGET_USER_STACK_MAP_H */

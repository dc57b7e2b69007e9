/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: user-space stacks.
 *
 * With the parameter collect_ustack (--collect-ustack) set, the helpers
 * store the current user stack in the stack-trace map `ig_ustack` and fill
 * a struct gadget_user_stack with its id plus what user space needs to
 * symbolise it (the executable's device, inode and mtime, a hash of its
 * mapping, the task's ids in the first two pid namespace levels). With it
 * unset they only zero the struct, and the verifier removes the rest.
 * Like Inspektor Gadget's header it brings <gadget/fnv1a.h> and
 * <gadget/core_fixes.bpf.h> with it.
 */
#ifndef __RIG_GADGET_USER_STACK_MAP_H
#define __RIG_GADGET_USER_STACK_MAP_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include <gadget/macros.h>
#include <gadget/types.h>
#include <gadget/fnv1a.h>
#include <gadget/core_fixes.bpf.h>

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

/* Identifies where the executable of `task` is mapped: FNV-1a of the mm
 * address, start of code and start of stack (all change at execve, and
 * differ between processes because of address space randomisation). */
static __always_inline __u32 gadget_get_base_addr_hash(struct task_struct *task)
{
	__u32 h = fnv_32a_init();

	fnv_32a_update_u64(&h, (__u64)BPF_CORE_READ(task, mm));
	fnv_32a_update_u64(&h, BPF_CORE_READ(task, mm, start_code));
	fnv_32a_update_u64(&h, BPF_CORE_READ(task, mm, start_stack));
	return h;
}

/* Fills `ustack` for the current task (any program type with a ctx that
 * bpf_get_stackid() accepts: tracepoints, raw tracepoints, kprobes, uprobes,
 * perf events). All zero when collect_ustack is off. */
static __always_inline void
gadget_get_user_stack(void *ctx, struct gadget_user_stack *ustack)
{
	struct task_struct *task;
	struct inode *inode;
	struct pid *tpid;
	struct upid *numbers;
	unsigned int level;
	dev_t dev;

	__builtin_memset(ustack, 0, sizeof(*ustack));
	if (!collect_ustack)
		return;

	/* As Inspektor Gadget: a failed bpf_get_stackid() leaves its negative
	 * error in stack_id, which user space finds in no map. */
	ustack->stack_id = bpf_get_stackid(ctx, &ig_ustack,
					   BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP);
	ustack->boot_timestamp = bpf_ktime_get_boot_ns();

	task = (struct task_struct *)bpf_get_current_task();
	tpid = BPF_CORE_READ(task, thread_pid);
	level = BPF_CORE_READ(tpid, level);
	/* numbers[] is a flexible array (a pointer cast keeps old and new
	 * kernels' declarations compiling). */
	numbers = (struct upid *)&tpid->numbers;
	ustack->tgid_level0 = BPF_CORE_READ(task, tgid);
	ustack->pid_level0 = BPF_CORE_READ(numbers, nr);
	ustack->pidns_level0 = BPF_CORE_READ(numbers, ns, ns.inum);
	if (level >= 1) {
		ustack->pid_level1 = BPF_CORE_READ(numbers + 1, nr);
		ustack->pidns_level1 = BPF_CORE_READ(numbers + 1, ns, ns.inum);
	}

	/* The kernel's dev_t: major in the top 12 bits, minor in the low 20
	 * (not stat()'s st_dev encoding, hence the split). */
	inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ustack->major = dev >> 20;
	ustack->minor = dev & ((1U << 20) - 1);
	ustack->inode = BPF_CORE_READ(inode, i_ino);
	gadget_inode_get_mtime(inode, &ustack->mtime_sec, &ustack->mtime_nsec);
	ustack->base_addr_hash = gadget_get_base_addr_hash(task);
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

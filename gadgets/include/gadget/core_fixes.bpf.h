/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: CO-RE shims for kernel structures that changed shape.
 *
 * Each helper picks, at load time, the field or type that exists in the
 * running kernel (libbpf-style "flavours": a struct named `x___suffix` is
 * matched against kernel type `x`).
 *
 *   bpf_core_unreachable()                 make the verifier reject this path
 *   get_task_state(task)                   task_struct::__state / ::state
 *   get_gendisk(bio)                       bio::bi_bdev->bd_disk / bio::bi_disk
 *   get_disk(request)                      request::rq_disk / ::q->disk
 *   has_block_rq_completion()              trace_event_raw_block_rq_completion exists
 *   renamedata_has_old_mnt_userns_field()  renamedata::old_mnt_userns exists
 *   has_kfree(), has_kmem_cache_free()     kmem tracepoint layouts
 *   gadget_get_tcp_retransmit_skb_skbaddr(ctx), ..._skaddr(ctx)
 *                                          tcp:tcp_retransmit_skb fields,
 *                                          whichever struct the kernel uses
 *   gadget_get_ctime_nanosec_from_inode(i) inode change time in ns (as stat)
 *   gadget_get_syscall_nr(regs)            syscall number from pt_regs
 *   gadget_get_syscall_arg(regs, n)        syscall argument n (1..6)
 *
 * Like Inspektor Gadget's header it brings <bpf/bpf_tracing.h> with it.
 */
#ifndef __RIG_GADGET_CORE_FIXES_BPF_H
#define __RIG_GADGET_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* Calling this is what libbpf does to an instruction whose CO-RE relocation
 * failed (helper id 0xbad2310, "bad relo"): the verifier rejects the program
 * if the call is reachable. Use it in the branch that must not survive. */
static void (*bpf_core_unreachable)(void) = (void *)0xbad2310;

/* Linux 5.14 renamed task_struct::state (long) to __state (unsigned int). */
struct task_struct___rig_state_new {
	unsigned int __state;
} __attribute__((preserve_access_index));

struct task_struct___rig_state_old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __s64 get_task_state(void *task)
{
	struct task_struct___rig_state_new *n = task;
	struct task_struct___rig_state_old *o = task;

	if (bpf_core_field_exists(n->__state))
		return BPF_CORE_READ(n, __state);
	return BPF_CORE_READ(o, state);
}

/* Linux 5.12 replaced bio::bi_disk with bio::bi_bdev. */
struct bio___rig_bdev {
	struct block_device *bi_bdev;
} __attribute__((preserve_access_index));

struct bio___rig_disk {
	struct gendisk *bi_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *get_gendisk(void *bio)
{
	struct bio___rig_bdev *n = bio;
	struct bio___rig_disk *o = bio;

	if (bpf_core_field_exists(n->bi_bdev))
		return BPF_CORE_READ(n, bi_bdev, bd_disk);
	return BPF_CORE_READ(o, bi_disk);
}

/* Linux 6.0 shares one event class between block_rq_complete and
 * block_rq_error, so its raw struct is named after the class. */
struct trace_event_raw_block_rq_completion___rig {
	dev_t dev;
} __attribute__((preserve_access_index));

static __always_inline bool has_block_rq_completion(void)
{
	return bpf_core_type_exists(
		struct trace_event_raw_block_rq_completion___rig);
}

/* Linux 5.17 removed request::rq_disk; the disk hangs off the queue. */
struct request_queue___rig {
	struct gendisk *disk;
} __attribute__((preserve_access_index));

struct request___rig {
	struct request_queue___rig *q;
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *get_disk(void *request)
{
	struct request___rig *r = request;

	if (bpf_core_field_exists(r->rq_disk))
		return BPF_CORE_READ(r, rq_disk);
	return BPF_CORE_READ(r, q, disk);
}

/* Linux 5.12 (idmapped mounts) added renamedata::old_mnt_userns and a
 * user_namespace first argument to vfs_create()/vfs_unlink(). */
struct renamedata___rig {
	struct user_namespace *old_mnt_userns;
} __attribute__((preserve_access_index));

static __always_inline bool renamedata_has_old_mnt_userns_field(void)
{
	return bpf_core_field_exists(struct renamedata___rig, old_mnt_userns);
}

/* Linux 5.19 split the kmem_free event into kfree and kmem_cache_free. */
struct trace_event_raw_kfree___rig {
	const void *ptr;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmem_cache_free___rig {
	const void *ptr;
} __attribute__((preserve_access_index));

static __always_inline bool has_kfree(void)
{
	return bpf_core_type_exists(struct trace_event_raw_kfree___rig);
}

static __always_inline bool has_kmem_cache_free(void)
{
	return bpf_core_type_exists(
		struct trace_event_raw_kmem_cache_free___rig);
}

/* tcp:tcp_retransmit_skb: some kernels (net-next, distribution backports)
 * give the event its own trace_event_raw_tcp_retransmit_skb (with an extra
 * err field); older ones share trace_event_raw_tcp_event_sk_skb. Both start
 * with skbaddr and skaddr, found by name in whichever exists. */
struct trace_event_raw_tcp_retransmit_skb___rig {
	const void *skbaddr;
	const void *skaddr;
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_event_sk_skb___rig {
	const void *skbaddr;
	const void *skaddr;
} __attribute__((preserve_access_index));

/* Field `f` of the tcp_retransmit_skb event `ctx`, from whichever struct
 * this kernel declares for it. */
#define __RIG_TCP_RETRANSMIT_FIELD(ctx, f)                                     \
	(bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb___rig) ? \
		 BPF_CORE_READ(                                                \
			 (struct trace_event_raw_tcp_retransmit_skb___rig *)(ctx), \
			 f) :                                                  \
		 BPF_CORE_READ(                                                \
			 (struct trace_event_raw_tcp_event_sk_skb___rig *)(ctx),  \
			 f))

static __always_inline const struct sk_buff *
gadget_get_tcp_retransmit_skb_skbaddr(void *ctx)
{
	return __RIG_TCP_RETRANSMIT_FIELD(ctx, skbaddr);
}

static __always_inline const struct sock *
gadget_get_tcp_retransmit_skb_skaddr(void *ctx)
{
	return __RIG_TCP_RETRANSMIT_FIELD(ctx, skaddr);
}

/* Inode change time: Linux 6.11 split it into i_ctime_sec/i_ctime_nsec,
 * 6.6 hid the timespec64 as __i_ctime, older kernels have i_ctime. */
struct inode___rig_ctime_split {
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));

struct inode___rig_ctime_hidden {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___rig_ctime_ts64 {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

/* Multigrain timestamps (6.13+) keep a "queried" flag in the top bit of the
 * nanoseconds; stat() masks it, and so does this. */
#define GADGET_I_CTIME_QUERIED (1U << 31)

/* The inode's ctime in nanoseconds since the epoch, as stat() reports it
 * (0 for a time before 1970). */
static __always_inline u64
gadget_get_ctime_nanosec_from_inode(struct inode *inode)
{
	struct inode___rig_ctime_split *a = (void *)inode;
	struct inode___rig_ctime_hidden *b = (void *)inode;
	struct inode___rig_ctime_ts64 *c = (void *)inode;
	s64 sec;
	u32 nsec;

	if (bpf_core_field_exists(a->i_ctime_sec)) {
		sec = BPF_CORE_READ(a, i_ctime_sec);
		nsec = BPF_CORE_READ(a, i_ctime_nsec);
	} else if (bpf_core_field_exists(b->__i_ctime)) {
		sec = BPF_CORE_READ(b, __i_ctime.tv_sec);
		nsec = BPF_CORE_READ(b, __i_ctime.tv_nsec);
	} else {
		sec = BPF_CORE_READ(c, i_ctime.tv_sec);
		nsec = BPF_CORE_READ(c, i_ctime.tv_nsec);
	}
	if (sec < 0)
		return 0;
	return (u64)sec * 1000000000ULL + (nsec & ~GADGET_I_CTIME_QUERIED);
}

/* The syscall number saved in a syscall's pt_regs (-1 where rig does not
 * know the architecture's register). The layout of pt_regs is the
 * architecture's, so this is decided at compile time, not by CO-RE. */
static __always_inline long gadget_get_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return (long)BPF_CORE_READ(regs, syscallno);
#else
	return -1;
#endif
}

/* Syscall argument `n` (1..6) from a syscall's pt_regs; 0 for any other n. */
static __always_inline unsigned long
gadget_get_syscall_arg(struct pt_regs *regs, unsigned int n)
{
	switch (n) {
	case 1:
		return PT_REGS_PARM1_CORE_SYSCALL(regs);
	case 2:
		return PT_REGS_PARM2_CORE_SYSCALL(regs);
	case 3:
		return PT_REGS_PARM3_CORE_SYSCALL(regs);
	case 4:
		return PT_REGS_PARM4_CORE_SYSCALL(regs);
	case 5:
		return PT_REGS_PARM5_CORE_SYSCALL(regs);
	case 6:
		return PT_REGS_PARM6_CORE_SYSCALL(regs);
	default:
		return 0;
	}
}

#endif /* __RIG_GADGET_CORE_FIXES_BPF_H */

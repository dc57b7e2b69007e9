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
 */
#ifndef __RIG_GADGET_CORE_FIXES_BPF_H
#define __RIG_GADGET_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

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

#endif /* __RIG_GADGET_CORE_FIXES_BPF_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "type_match": asks bpf_core_type_matches() (CO-RE relocation
 * kind 12) which flavors of two kernel types this kernel has, and reports the
 * answers on every uname(2) (the same on each): the block_rq_insert
 * tracepoint prototype (one argument since Linux 5.11, two before) and
 * task_struct with a real member and with a made-up one.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

typedef void (*btf_trace_block_rq_insert___new)(void *, struct request *);
typedef void (*btf_trace_block_rq_insert___old)(void *, struct request_queue *, struct request *);

struct task_struct___has_pid {
	pid_t pid;
} __attribute__((preserve_access_index));

struct task_struct___has_rig {
	int rig_no_such_member;
} __attribute__((preserve_access_index));

struct type_match_event {
	/* 1: the one-argument prototype matched, 2: the two-argument one, 0: neither */
	__u8 rq_insert;
	__u8 task_has_pid;
	__u8 task_has_rig;
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(type_match, events, type_match_event);

SEC("tracepoint/syscalls/sys_enter_newuname")
int rig_type_match(void *ctx)
{
	struct type_match_event e = {
		.task_has_pid = bpf_core_type_matches(struct task_struct___has_pid),
		.task_has_rig = bpf_core_type_matches(struct task_struct___has_rig),
	};

	if (bpf_core_type_matches(btf_trace_block_rq_insert___new))
		e.rq_insert = 1;
	else if (bpf_core_type_matches(btf_trace_block_rq_insert___old))
		e.rq_insert = 2;
	gadget_output_buf(ctx, &events, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

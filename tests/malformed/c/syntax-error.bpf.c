// SPDX-License-Identifier: GPL-2.0
/*
 * The malformed-input corpus's base gadget: one event per uname(2) by a
 * process named "uname". Cases copy this folder and break one thing; its
 * program name (rig_malformed) is the corpus's own, so the runner can tell
 * whether a case left it loaded.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/macros.h>
#include <gadget/types.h>

struct malformed_event {
	struct gadget_process proc;
	__u32 magic;
	char label[16];
};

const volatile __u32 magic = 42;
GADGET_PARAM(magic);

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(malformed, events, malformed_event);

SEC("tracepoint/syscalls/sys_enter_newuname")
int rig_malformed(void *ctx)
{
	static const char want[] = "uname";
	char comm[TASK_COMM_LEN] = {};
	struct malformed_event *e;

	bpf_get_current_comm(comm, sizeof(comm));
	for (unsigned int i = 0; i < sizeof(want); i++)
		if (comm[i] != want[i])
			return 0;
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	gadget_process_populate(&e->proc);
	e->magic = magic +;
	__builtin_memcpy(e->label, "malformed", sizeof("malformed"));
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "param_timeout": a well-formed tracer whose parameter is named
 * `timeout`, like rig run's own --timeout flag. rig must refuse the gadget
 * with an error naming the parameter and the flag (clap used to panic).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/macros.h>
#include <gadget/types.h>

struct pt_event {
	struct gadget_process proc;
	__u32 timeout;
};

const volatile __u32 timeout = 0;
GADGET_PARAM(timeout);

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(pt, events, pt_event);

SEC("tracepoint/syscalls/sys_enter_newuname")
int rig_param_timeout(void *ctx)
{
	struct pt_event *e = gadget_reserve_buf(&events, sizeof(*e));

	if (!e)
		return 0;
	gadget_process_populate(&e->proc);
	e->timeout = timeout;
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

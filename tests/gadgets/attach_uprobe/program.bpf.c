// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_uprobe": a uprobe on libc's getpid() and a uretprobe
 * on the same function, reporting calls made by threads named "rig-getpid"
 * (the test names its calling thread so).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

struct uprobe_event {
	__u32 pid;
	__u32 tid;
	__u32 ret;
	__u8 is_return;
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(uprobe, events, uprobe_event);

static __always_inline int report(struct pt_regs *ctx, __u8 is_return)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct uprobe_event *e;

	if (!comm_is("rig-getpid"))
		return 0;
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ret = is_return ? (__u32)PT_REGS_RC(ctx) : 0;
	e->is_return = is_return;
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

SEC("uprobe/libc:getpid")
int rig_attach_uprobe(struct pt_regs *ctx)
{
	return report(ctx, 0);
}

SEC("uretprobe/libc:getpid")
int rig_attach_uretprobe(struct pt_regs *ctx)
{
	return report(ctx, 1);
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "kprobe_hook": a tracer attached with a kprobe. It compiles;
 * on a kernel built without kprobes, loading or attaching must fail with an
 * error that names the hook (kprobe/do_sys_openat2).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/macros.h>
#include <gadget/types.h>

struct kprobe_event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc;
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(kprobe, events, kprobe_event);

SEC("kprobe/do_sys_openat2")
int rig_kprobe_hook(struct pt_regs *ctx)
{
	struct kprobe_event *e = gadget_reserve_buf(&events, sizeof(*e));

	if (!e)
		return 0;
	e->timestamp_raw = bpf_ktime_get_boot_ns();
	gadget_process_populate(&e->proc);
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

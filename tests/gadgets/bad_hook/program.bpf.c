// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "bad_hook": a well-formed tracer whose program names a
 * tracepoint that does not exist. It compiles and passes the verifier;
 * attaching must fail with an error that names the hook.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/macros.h>
#include <gadget/types.h>

struct bad_event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc;
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(bad, events, bad_event);

SEC("tracepoint/syscalls/sys_enter_does_not_exist")
int rig_bad_hook(void *ctx)
{
	struct bad_event *e = gadget_reserve_buf(&events, sizeof(*e));

	if (!e)
		return 0;
	e->timestamp_raw = bpf_ktime_get_boot_ns();
	gadget_process_populate(&e->proc);
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_perf": a perf-event program (IG profile_cpu's section
 * kind) that reports CPU samples of threads named "rig-busy".
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

struct perf_sample {
	__u32 pid;
	__u32 tid;
	__u32 cpu;
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(samples, events, perf_sample);

SEC("perf_event/sampler")
int rig_attach_perf(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct perf_sample *e;

	if (!comm_is("rig-busy"))
		return 0;
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->cpu = bpf_get_smp_processor_id();
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

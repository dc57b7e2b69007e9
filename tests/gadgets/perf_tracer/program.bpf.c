// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "perf_tracer": a tracer on a perf event array (what IG's buffer
 * helpers use on kernels without ring buffers): one event per exec, written
 * with bpf_perf_event_output.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/macros.h>
#include <gadget/types.h>

struct perf_exec {
	__u32 pid;
	__u32 magic;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

GADGET_TRACER(execs, perf_events, perf_exec);

/* A known value every event carries. */
#define PERF_MAGIC 0xfeedbeef

SEC("tracepoint/sched/sched_process_exec")
int rig_perf_tracer(void *ctx)
{
	struct perf_exec e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.magic = PERF_MAGIC;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

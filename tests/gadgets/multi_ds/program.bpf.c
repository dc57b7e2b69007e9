// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "multi_ds": two datasources in one gadget. `execs` is a tracer
 * (one event per exec, on a ring buffer); `counts` is a map iterator over a
 * hash map of execs per program name, filled by the same program.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

struct exec_event {
	__u32 pid;
	char comm[16];
};

struct count_key {
	char comm[16];
};

struct count_value {
	__u64 count;
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(execs, events, exec_event);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct count_key);
	__type(value, struct count_value);
} counts SEC(".maps");

GADGET_MAPITER(counts, counts);

static const struct count_value zero;

SEC("tracepoint/sched/sched_process_exec")
int rig_multi_ds(void *ctx)
{
	struct count_key key = {};
	struct count_value *v;
	struct exec_event *e;

	bpf_get_current_comm(key.comm, sizeof(key.comm));
	v = bpf_map_lookup_elem(&counts, &key);
	if (!v) {
		bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&counts, &key);
	}
	if (v)
		__sync_fetch_and_add(&v->count, 1);
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	__builtin_memcpy(e->comm, key.comm, sizeof(e->comm));
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

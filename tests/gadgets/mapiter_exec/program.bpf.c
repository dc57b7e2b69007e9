// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "mapiter_exec": a map iterator over a hash map filled by a
 * tracepoint. Every exec counts once under the new program's name, and adds one
 * to a log2 histogram of the exec'ing pid, so a test that runs a binary of its
 * own name N times knows the count (N) and the histogram's total (N).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/bits.bpf.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#define SLOTS 27

struct exec_key {
	char comm[16];
};

struct exec_value {
	__u64 count;
	gadget_histogram_slot__u32 pid_log2[SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_key);
	__type(value, struct exec_value);
} execs SEC(".maps");

GADGET_MAPITER(execs, execs);

static const struct exec_value zero;

SEC("tracepoint/sched/sched_process_exec")
int rig_mapiter_exec(void *ctx)
{
	struct exec_key key = {};
	struct exec_value *v;
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 slot;

	bpf_get_current_comm(key.comm, sizeof(key.comm));
	v = bpf_map_lookup_elem(&execs, &key);
	if (!v) {
		bpf_map_update_elem(&execs, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&execs, &key);
		if (!v)
			return 0;
	}
	__sync_fetch_and_add(&v->count, 1);
	slot = log2l(pid);
	if (slot >= SLOTS)
		slot = SLOTS - 1;
	__sync_fetch_and_add(&v->pid_log2[slot], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

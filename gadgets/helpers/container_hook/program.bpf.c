// SPDX-License-Identifier: Apache-2.0
/*
 * rig's container hook: admits a new mount namespace into a run's
 * gadget_mntns_filter_map in the kernel, the moment a task enters it.
 *
 * A run that selects containers (-c web, -l app=cart, --host=false) filters in
 * the kernel: the gadget drops every event whose mount namespace is not in its
 * gadget_mntns_filter_map. User space fills that map from the containers it
 * knows, but a container that starts during the run is known to user space
 * only some milliseconds after its init process exists, and its entrypoint's
 * first exec may happen before that. So this program, loaded next to the
 * gadget and sharing its filter map, watches every way a task can get a mount
 * namespace — clone(CLONE_NEWNS) (sched_process_fork), unshare(CLONE_NEWNS) and
 * setns() — and inserts any namespace it has not seen as PENDING before the
 * task runs another instruction of its own. User space then decides: a PENDING
 * namespace that turns out to be a selected container becomes SELECTED, any
 * other is deleted from the filter map and remembered in rig_mntns_decided, so
 * this program never admits it again. Events the gadget emits meanwhile are
 * held in user space until the decision, never lost and never shown wrongly.
 *
 * Only tracepoints (tp_btf and syscall tracepoints): no kprobes.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include <gadget/types.h>
#include <gadget/mntns.h>
#include <gadget/mntns_filter.h>

/* Values of gadget_mntns_filter_map entries (the gadget only tests presence). */
#define RIG_MNTNS_SELECTED 1
#define RIG_MNTNS_PENDING 2

/* The host's mount namespace: never a container. Set by the loader. */
const volatile __u64 rig_host_mntns = 0;

/* Mount namespaces user space already decided about: not admitted again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} rig_mntns_decided SEC(".maps");

/* How many namespaces were admitted as PENDING (index 0), for the run's report. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rig_admitted SEC(".maps");

static __always_inline void admit(__u64 mntns)
{
	__u32 pending = RIG_MNTNS_PENDING, zero = 0;
	__u64 *count;

	if (mntns == 0 || mntns == rig_host_mntns)
		return;
	if (bpf_map_lookup_elem(&rig_mntns_decided, &mntns))
		return;
	if (bpf_map_update_elem(&gadget_mntns_filter_map, &mntns, &pending,
				BPF_NOEXIST))
		return; /* already there (or the map is full) */
	count = bpf_map_lookup_elem(&rig_admitted, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(rig_container_fork, struct task_struct *parent,
	     struct task_struct *child)
{
	__u64 mntns = gadget_get_task_mntns_id(child);

	if (mntns != gadget_get_task_mntns_id(parent))
		admit(mntns);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int rig_container_unshare(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret == 0)
		admit(gadget_get_current_mntns_id());
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_setns")
int rig_container_setns(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret == 0)
		admit(gadget_get_current_mntns_id());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * trace_signal: signals sent by processes.
 *
 * kill_only (default true): one event per kill(2), tkill(2) and tgkill(2)
 * call, emitted at syscall exit with its result (error_raw).
 * kill_only=false: one event per signal the kernel generates, whatever its
 * origin (syscalls, faults, timers, child exit...), from the
 * signal/signal_generate tracepoint. In that mode proc is the task that
 * was running when the signal was generated.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/filter.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#define RIG_EAGAIN 11
#define RIG_TRACE_SIGNAL_OVERFLOW_FAIL 3

struct event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc; /* sender */
	__s32 tpid;                 /* target as given: <= 0 means a group */
	gadget_signal sig_raw;
	gadget_errno error_raw;
};

struct kill_args {
	__s32 tpid;
	__u32 sig;
};

const volatile bool kill_only = true;
GADGET_PARAM(kill_only);

const volatile bool failed_only = false;
GADGET_PARAM(failed_only);

const volatile __u32 target_signal = 0;
GADGET_PARAM(target_signal);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct kill_args);
} pending SEC(".maps");

GADGET_TRACER_MAP(events, 1024 * 256);
GADGET_TRACER(signal, events, event);

static __always_inline int on_enter(__s32 tpid, __u32 sig)
{
	struct kill_args args = { .tpid = tpid, .sig = sig };
	__u32 tid;

	if (!kill_only)
		return 0;
	if (target_signal && sig != target_signal)
		return 0;
	if (gadget_should_discard_data_current())
		return 0;

	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending, &tid, &args, BPF_ANY);
	return 0;
}

static __always_inline int emit(void *ctx, __s32 tpid, __u32 sig, __u32 err)
{
	struct event *e = gadget_reserve_buf(&events, sizeof(*e));

	if (!e)
		return 0;
	e->timestamp_raw = bpf_ktime_get_boot_ns();
	gadget_process_populate(&e->proc);
	e->tpid = tpid;
	e->sig_raw = sig;
	e->error_raw = err;
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kill_args *args;

	if (!kill_only)
		return 0;
	args = bpf_map_lookup_elem(&pending, &tid);
	if (!args)
		return 0;
	if (!failed_only || ret < 0)
		emit(ctx, args->tpid, args->sig, ret < 0 ? -ret : 0);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/* kill(pid, sig) */
SEC("tracepoint/syscalls/sys_enter_kill")
int rig_kill_e(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_kill")
int rig_kill_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

/* tkill(tid, sig) */
SEC("tracepoint/syscalls/sys_enter_tkill")
int rig_tkill_e(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_tkill")
int rig_tkill_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

/* tgkill(tgid, tid, sig): the target reported is the thread. */
SEC("tracepoint/syscalls/sys_enter_tgkill")
int rig_tgkill_e(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_tgkill")
int rig_tgkill_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

SEC("tracepoint/signal/signal_generate")
int rig_signal_generate(struct trace_event_raw_signal_generate *ctx)
{
	__u32 sig = ctx->sig;
	__u32 err = 0;

	if (kill_only)
		return 0;
	if (target_signal && sig != target_signal)
		return 0;
	if (ctx->result == RIG_TRACE_SIGNAL_OVERFLOW_FAIL)
		err = RIG_EAGAIN;
	if (failed_only && !err)
		return 0;
	if (gadget_should_discard_data_current())
		return 0;
	return emit(ctx, ctx->pid, sig, err);
}

char LICENSE[] SEC("license") = "GPL";

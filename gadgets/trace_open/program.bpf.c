// SPDX-License-Identifier: GPL-2.0
/*
 * trace_open: one event per open(2), openat(2) and openat2(2) call.
 *
 * The arguments are remembered at syscall entry (per thread) and the event
 * is emitted at exit, when the result is known. Filtering (--pid, --comm,
 * containers, ...) happens at entry so unwanted calls cost one check.
 * The event is kept small: this gadget sits on a very hot path.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/filter.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#define FNAME_LEN 256

struct event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc;
	__s32 fd; /* -1 when the call failed */
	gadget_errno error_raw;
	gadget_file_flags flags_raw;
	gadget_file_mode mode_raw;
	char fname[FNAME_LEN];
};

/* Arguments saved between entry and exit, keyed by thread id. */
struct open_args {
	const char *fname;
	__u32 flags;
	__u32 mode;
};

const volatile bool failed_only = false;
GADGET_PARAM(failed_only);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct open_args);
} pending SEC(".maps");

GADGET_TRACER_MAP(events, 1024 * 256);
GADGET_TRACER(open, events, event);

static __always_inline int on_enter(const char *fname, __u32 flags, __u32 mode)
{
	struct open_args args = {
		.fname = fname,
		.flags = flags,
		.mode = mode,
	};
	__u32 tid;

	if (gadget_should_discard_data_current())
		return 0;

	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending, &tid, &args, BPF_ANY);
	return 0;
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args *args;
	struct event *e;

	args = bpf_map_lookup_elem(&pending, &tid);
	if (!args)
		return 0;
	if (failed_only && ret >= 0)
		goto out;

	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		goto out;

	e->timestamp_raw = bpf_ktime_get_boot_ns();
	gadget_process_populate(&e->proc);
	if (ret >= 0) {
		e->fd = ret;
		e->error_raw = 0;
	} else {
		e->fd = -1;
		e->error_raw = -ret;
	}
	e->flags_raw = args->flags;
	e->mode_raw = args->mode;
	if (bpf_probe_read_user_str(e->fname, sizeof(e->fname), args->fname) < 0)
		e->fname[0] = '\0';

	gadget_submit_buf(ctx, &events, e, sizeof(*e));
out:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/* open(filename, flags, mode) */
SEC("tracepoint/syscalls/sys_enter_open")
int rig_open_e(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], ctx->args[1], ctx->args[2]);
}

/* openat(dfd, filename, flags, mode) */
SEC("tracepoint/syscalls/sys_enter_openat")
int rig_openat_e(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], ctx->args[2], ctx->args[3]);
}

/* openat2(dfd, filename, struct open_how *how, size) */
SEC("tracepoint/syscalls/sys_enter_openat2")
int rig_openat2_e(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return on_enter((const char *)ctx->args[1], how.flags, how.mode);
}

SEC("tracepoint/syscalls/sys_exit_open")
int rig_open_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int rig_openat_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int rig_openat2_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";

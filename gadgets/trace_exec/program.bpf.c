// SPDX-License-Identifier: GPL-2.0
/*
 * trace_exec: one event per execve(2) / execveat(2).
 *
 * At syscall entry the argument list is copied (NUL-separated, like
 * /proc/PID/cmdline) into a per-thread record; at exit the record is
 * completed with the new process identity, the resolved executable path
 * and the result, and sent. The argument bytes travel *after* the fixed
 * struct event (gadget.yaml: ebpf.rest.name: args), so an event is only as
 * long as its command line: sizeof(struct event) + args_size bytes.
 *
 * A successful exec from a secondary thread makes that thread the group
 * leader and changes its thread id; sched_process_exec (which reports the
 * old id) moves the record so the exit handler still finds it.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/filesystem.h>
#include <gadget/filter.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#define ARGS_BUF_SIZE 4096 /* bytes of argv kept per event */
#define ARG_MAX_LEN 256    /* longer arguments are cut */
#define MAX_ARGS 64

struct event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc;
	/* The executable: resolved path on success, the path passed to
	 * execve on failure. */
	char exepath[GADGET_PATH_MAX];
	gadget_errno error_raw;
	__u32 args_count; /* arguments copied */
	__u32 args_size;  /* bytes of args following this struct */
};

/* What is kept between entry and exit, and sent (header + used args). */
struct exec_record {
	struct event hdr;
	char args[ARGS_BUF_SIZE];
};

const volatile bool ignore_failed = true;
GADGET_PARAM(ignore_failed);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct exec_record);
} execs SEC(".maps");

/* Scratch space to build a record before inserting it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_record);
} scratch SEC(".maps");

GADGET_TRACER_MAP(events, 1024 * 256);
GADGET_TRACER(exec, events, event);

static __always_inline int on_enter(const char *filename,
				    const char *const *argv)
{
	struct exec_record *r;
	const char *arg;
	__u32 zero = 0, tid, off = 0, count = 0;
	long n;

	if (gadget_should_discard_current_mntns())
		return 0;

	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;

	if (bpf_probe_read_user_str(r->hdr.exepath, sizeof(r->hdr.exepath),
				    filename) < 0)
		r->hdr.exepath[0] = '\0';

	for (int i = 0; i < MAX_ARGS; i++) {
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (off > ARGS_BUF_SIZE - ARG_MAX_LEN)
			break;
		n = bpf_probe_read_user_str(&r->args[off], ARG_MAX_LEN, arg);
		if (n <= 0)
			break;
		off += n;
		count++;
	}
	r->hdr.args_size = off;
	r->hdr.args_count = count;

	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&execs, &tid, r, BPF_ANY);
	return 0;
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_record *r;
	struct task_struct *task;
	struct file *exe;
	void *path;
	__u32 size;

	r = bpf_map_lookup_elem(&execs, &tid);
	if (!r)
		return 0;
	if (ret < 0 && ignore_failed)
		goto out;

	r->hdr.timestamp_raw = bpf_ktime_get_boot_ns();
	gadget_process_populate(&r->hdr.proc);
	if (gadget_should_discard_process(&r->hdr.proc))
		goto out;

	r->hdr.error_raw = ret < 0 ? -ret : 0;
	if (ret == 0) {
		task = (struct task_struct *)bpf_get_current_task();
		exe = BPF_CORE_READ(task, mm, exe_file);
		path = exe ? get_path_str(&exe->f_path) : NULL;
		if (path)
			bpf_probe_read_kernel_str(r->hdr.exepath,
						  sizeof(r->hdr.exepath), path);
	}

	size = r->hdr.args_size;
	if (size > ARGS_BUF_SIZE)
		size = ARGS_BUF_SIZE;
	gadget_output_buf(ctx, &events, r, sizeof(struct event) + size);
out:
	bpf_map_delete_elem(&execs, &tid);
	return 0;
}

/* execve(filename, argv, envp) */
SEC("tracepoint/syscalls/sys_enter_execve")
int rig_execve_e(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0],
			(const char *const *)ctx->args[1]);
}

/* execveat(dfd, filename, argv, envp, flags) */
SEC("tracepoint/syscalls/sys_enter_execveat")
int rig_execveat_e(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1],
			(const char *const *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int rig_execve_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int rig_execveat_x(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, ctx->ret);
}

/* Successful exec: if the thread id changed, follow it. */
SEC("tracepoint/sched/sched_process_exec")
int rig_exec_moved(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 old_tid = ctx->old_pid, new_tid = ctx->pid;
	struct exec_record *r;

	if (old_tid == new_tid)
		return 0;
	r = bpf_map_lookup_elem(&execs, &old_tid);
	if (!r)
		return 0;
	bpf_map_update_elem(&execs, &new_tid, r, BPF_ANY);
	bpf_map_delete_elem(&execs, &old_tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * trace_open: one event per open(2), openat(2) and openat2(2) call.
 *
 * This gadget sits on a very hot path, so it is built for the smallest
 * in-kernel cost per call:
 *
 *  - One program on the sys_exit raw tracepoint (BTF-typed, tp_btf), instead
 *    of a sys_enter_* / sys_exit_* tracepoint pair joined by a per-thread
 *    hash map. The arguments are read back from the registers saved at
 *    syscall entry (struct pt_regs), which the exit hook receives: no map
 *    update, lookup and delete per call, and no perf trace-buffer setup,
 *    which tracepoint/syscalls/* programs pay on every call.
 *  - The hook runs for every system call, so the first test is the syscall
 *    number, read from the saved registers with a plain load (tp_btf
 *    arguments are trusted pointers): everything else returns right there.
 *  - Filtering (--pid, --comm, containers, ...) comes before anything that
 *    costs, so unwanted calls cost one check.
 *  - The process fields are read with plain loads from the BTF-typed current
 *    task rather than with helper calls and bpf_probe_read_kernel() chains.
 *  - The ring buffer is large enough that the reader is rarely woken up
 *    (see below).
 *
 * x86_64 only (the syscall numbers and registers below), like the build.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include <gadget/buffer.h>
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

const volatile bool failed_only = false;
GADGET_PARAM(failed_only);

/* 4 MiB (about 12k events). gadget/buffer.h wakes the reader only once a
 * quarter of the ring is unconsumed, and from then on at every event until
 * the reader has caught up; each wake-up costs microseconds in the kernel.
 * When the reader lags (a busy machine), a 256 KiB ring (a quarter = ~190
 * events) made about one event in ten pay a wake-up and dropped events;
 * with 4 MiB, about one in a hundred does and none were dropped. */
GADGET_TRACER_MAP(events, 1024 * 1024 * 4);
GADGET_TRACER(open, events, event);

/* x86_64 system call numbers. */
#define NR_open 2
#define NR_openat 257
#define NR_openat2 437

/* thread_info.status bit set while a 32-bit (ia32) system call runs; such
 * calls use another numbering. Syscall tracepoints ignore them on x86 (and
 * x32 calls, whose numbers carry bit 30 and so never match below). */
#define TS_COMPAT 0x0002

/* Fills the fields gadget_process_populate() fills, with the same values,
 * but with plain loads through the BTF-typed current task instead of helper
 * calls (that function makes ten, six of them bpf_probe_read_kernel(), each
 * costing tens of nanoseconds). A load that faults yields 0, as a failed
 * probe read does.
 *  - comm: task names are always NUL-terminated and NUL-padded, so a copy
 *    of the array is what bpf_get_current_comm() returns;
 *  - uid/gid: bpf_get_current_uid_gid() maps them through the initial user
 *    namespace, which is the identity on the raw kuid/kgid values. */
static __always_inline void process_populate(struct task_struct *task,
					     struct gadget_process *p)
{
	struct task_struct *parent;
	const struct cred *cred;

	__builtin_memcpy(p->comm, task->comm, sizeof(p->comm));
	p->pid = task->tgid;
	p->tid = task->pid;
	cred = task->cred;
	p->creds.uid = cred->uid.val;
	p->creds.gid = cred->gid.val;
	p->mntns_id = task->nsproxy->mnt_ns->ns.inum;

	parent = task->real_parent;
	if (!parent) {
		p->parent.comm[0] = '\0';
		p->parent.pid = 0;
		return;
	}
	__builtin_memcpy(p->parent.comm, parent->comm, sizeof(p->parent.comm));
	p->parent.pid = parent->tgid;
}

/* sys_exit(regs, ret): regs are the user registers saved at syscall entry,
 * so orig_ax is the syscall number and di, si, dx, r10 its arguments. */
SEC("tp_btf/sys_exit")
int BPF_PROG(rig_open_x, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	struct task_struct *task;
	const char *fname;
	__u32 flags, mode;
	struct event *e;

	if (nr != NR_openat && nr != NR_open && nr != NR_openat2)
		return 0;
	task = bpf_get_current_task_btf();
	if (task->thread_info.status & TS_COMPAT)
		return 0;
	if (failed_only && ret >= 0)
		return 0;
	if (gadget_should_discard_data_current())
		return 0;

	if (nr == NR_openat) {
		/* openat(dfd, filename, flags, mode) */
		fname = (const char *)regs->si;
		flags = regs->dx;
		mode = regs->r10;
	} else if (nr == NR_open) {
		/* open(filename, flags, mode) */
		fname = (const char *)regs->di;
		flags = regs->si;
		mode = regs->dx;
	} else {
		/* openat2(dfd, filename, struct open_how *how, size) */
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)regs->dx);
		fname = (const char *)regs->si;
		flags = how.flags;
		mode = how.mode;
	}

	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;

	e->timestamp_raw = bpf_ktime_get_boot_ns();
	process_populate(task, &e->proc);
	if (ret >= 0) {
		e->fd = ret;
		e->error_raw = 0;
	} else {
		e->fd = -1;
		e->error_raw = -ret;
	}
	e->flags_raw = flags;
	e->mode_raw = mode;
	if (bpf_probe_read_user_str(e->fname, sizeof(e->fname), fname) < 0)
		e->fname[0] = '\0';

	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

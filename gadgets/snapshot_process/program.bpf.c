// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot_process: the processes running now, one row per process (or per
 * thread with --threads).
 *
 * A task iterator (iter/task) visits every task of the system once. For
 * each one kept, the program writes exactly one struct process_entry to the
 * iterator's seq_file; the runtime reads the whole output and splits it into
 * records of sizeof(struct process_entry) bytes, so nothing else may be
 * written.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/filter.h>
#include <gadget/macros.h>
#include <gadget/mntns.h>
#include <gadget/types.h>

/* What ps(1) shows as R, S, D, T, t, X, Z, P, I: the index of the highest
 * bit of the task's reported state, as the kernel's task_state_index(). */
enum process_state {
	running = 0,
	sleeping = 1,
	disk_sleep = 2,
	stopped = 3,
	tracing_stop = 4,
	dead = 5,
	zombie = 6,
	parked = 7,
	idle = 8,
};

/* 64 bytes with no padding, so every byte of a record is defined. */
struct process_entry {
	gadget_mntns_id mntns_id;
	gadget_timestamp start_time_raw; /* boot-based ns, like bpf_ktime_get_boot_ns() */
	char comm[TASK_COMM_LEN];
	__u32 pid;  /* thread group id */
	__u32 tid;  /* thread id (= pid for a group leader) */
	__u32 ppid; /* thread group id of the real parent */
	gadget_uid uid;
	gadget_gid gid;
	enum process_state state_raw;
	__u32 nr_threads; /* threads in the group */
	__s32 nice;       /* -20 (favoured) .. 19 */
};

/* Also list the threads that are not group leaders. */
const volatile bool show_threads = false;
GADGET_PARAM(show_threads);

GADGET_SNAPSHOTTER(processes, process_entry, ig_snap_proc);

/* Kernel task state bits (include/linux/sched.h). */
#define RIG_TASK_REPORT 0x7f     /* RUNNING..PARKED, incl. EXIT_DEAD/ZOMBIE */
#define RIG_TASK_IDLE 0x402      /* TASK_UNINTERRUPTIBLE | TASK_NOLOAD */
#define RIG_TASK_RTLOCK_WAIT 0x1000

static __always_inline enum process_state task_state(struct task_struct *task)
{
	unsigned int raw = BPF_CORE_READ(task, __state);
	unsigned int st = (raw | (unsigned int)BPF_CORE_READ(task, exit_state)) &
			  RIG_TASK_REPORT;

	if (raw == RIG_TASK_IDLE)
		return idle;
	if (raw == RIG_TASK_RTLOCK_WAIT)
		return disk_sleep;
	if (st == 0)
		return running;
	/* fls(st): st < 0x80, so the highest set bit is at most bit 6. */
	return (enum process_state)(64 - __builtin_clzll((__u64)st));
}

SEC("iter/task")
int ig_snap_proc(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct process_entry entry = {};

	if (!task) /* end of iteration */
		return 0;

	entry.pid = BPF_CORE_READ(task, tgid);
	entry.tid = BPF_CORE_READ(task, pid);
	if (!show_threads && entry.pid != entry.tid)
		return 0;

	entry.mntns_id = gadget_get_task_mntns_id(task);
	entry.ppid = BPF_CORE_READ(task, real_parent, tgid);
	entry.uid = BPF_CORE_READ(task, cred, uid.val);
	entry.gid = BPF_CORE_READ(task, cred, gid.val);
	BPF_CORE_READ_STR_INTO(&entry.comm, task, comm);

	if (gadget_should_discard_data(entry.mntns_id, entry.pid, entry.tid,
				       entry.comm, entry.uid, entry.gid))
		return 0;

	entry.start_time_raw = BPF_CORE_READ(task, start_boottime);
	entry.state_raw = task_state(task);
	entry.nr_threads = BPF_CORE_READ(task, signal, nr_threads);
	entry.nice = BPF_CORE_READ(task, static_prio) - 120; /* DEFAULT_PRIO */

	bpf_seq_write(seq, &entry, sizeof(entry));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: filling struct gadget_process.
 */
#ifndef __RIG_GADGET_COMMON_H
#define __RIG_GADGET_COMMON_H

#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/types.h>
#include <gadget/mntns.h>

/* Fills `p` from an arbitrary task (CO-RE reads only). Usable where the
 * task of interest is not `current` (e.g. the target of a signal). */
static __always_inline void
gadget_process_populate_from_task(struct task_struct *task,
				  struct gadget_process *p)
{
	struct task_struct *parent;

	BPF_CORE_READ_STR_INTO(&p->comm, task, comm);
	p->pid = BPF_CORE_READ(task, tgid);
	p->tid = BPF_CORE_READ(task, pid);
	p->mntns_id = gadget_get_task_mntns_id(task);
	p->creds.uid = BPF_CORE_READ(task, cred, uid.val);
	p->creds.gid = BPF_CORE_READ(task, cred, gid.val);

	parent = BPF_CORE_READ(task, real_parent);
	if (!parent) {
		p->parent.comm[0] = '\0';
		p->parent.pid = 0;
		p->parent.tid = 0;
		return;
	}
	BPF_CORE_READ_STR_INTO(&p->parent.comm, parent, comm);
	p->parent.pid = BPF_CORE_READ(parent, tgid);
	p->parent.tid = BPF_CORE_READ(parent, pid);
}

/* Fills `p` for the current task: comm, pid (= tgid), tid, mount namespace,
 * uid/gid, and the real parent's comm, pid (its tgid) and tid. */
static __always_inline void gadget_process_populate(struct gadget_process *p)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	bpf_get_current_comm(p->comm, sizeof(p->comm));
	p->pid = pid_tgid >> 32;
	p->tid = (__u32)pid_tgid;
	p->creds.uid = (__u32)uid_gid;
	p->creds.gid = uid_gid >> 32;
	p->mntns_id = gadget_get_task_mntns_id(task);

	parent = BPF_CORE_READ(task, real_parent);
	if (!parent) {
		p->parent.comm[0] = '\0';
		p->parent.pid = 0;
		p->parent.tid = 0;
		return;
	}
	BPF_CORE_READ_STR_INTO(&p->parent.comm, parent, comm);
	p->parent.pid = BPF_CORE_READ(parent, tgid);
	p->parent.tid = BPF_CORE_READ(parent, pid);
}

/* Older name of gadget_process_populate(). */
static __always_inline void
gadget_fill_current_process(struct gadget_process *p)
{
	gadget_process_populate(p);
}

#endif /* __RIG_GADGET_COMMON_H */

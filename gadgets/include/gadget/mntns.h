/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: mount namespace of a task.
 *
 * The mount namespace inode number is how rig maps an event to a container.
 */
#ifndef __RIG_GADGET_MNTNS_H
#define __RIG_GADGET_MNTNS_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/types.h>

/* The helpers need the kernel's struct task_struct: they exist only when
 * <vmlinux.h> was included (networking gadgets built on <linux/types.h>
 * have no task to ask). */
#ifdef __VMLINUX_H__

/* Mount namespace inode of `task` (0 if the task has no nsproxy any more,
 * e.g. while exiting). */
static __always_inline gadget_mntns_id
gadget_get_task_mntns_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/* Mount namespace inode of the current task. */
static __always_inline gadget_mntns_id gadget_get_current_mntns_id(void)
{
	return gadget_get_task_mntns_id(
		(struct task_struct *)bpf_get_current_task());
}

/* Older name of gadget_get_current_mntns_id(), kept so that gadgets written
 * for it build unchanged. */
static __always_inline gadget_mntns_id gadget_get_mntns_id(void)
{
	return gadget_get_current_mntns_id();
}

#endif /* __VMLINUX_H__ */

#endif /* __RIG_GADGET_MNTNS_H */

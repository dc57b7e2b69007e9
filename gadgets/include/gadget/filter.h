/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: common event filters.
 *
 * Declares the parameters behind --pid, --tid, --uid, --gid and --comm
 * (user-space terminology: pid is the thread group id, tid the thread id)
 * and helpers to apply them together with the container filter.
 *
 *   targ_pid, targ_tid   0 = no filter
 *   targ_uid, targ_gid   GADGET_INVALID_ID (0xffffffff) = no filter
 *   targ_comm            empty = no filter, else exact match (16 bytes)
 *
 * All are `const volatile`, so the verifier drops the tests that are off.
 */
#ifndef __RIG_GADGET_FILTER_H
#define __RIG_GADGET_FILTER_H

#include <bpf/bpf_helpers.h>

#include <gadget/macros.h>
#include <gadget/types.h>
#include <gadget/mntns.h>
#include <gadget/mntns_filter.h>

#define GADGET_INVALID_ID ((__u32)-1)

const volatile gadget_pid targ_pid = 0;
GADGET_PARAM(targ_pid);

const volatile gadget_tid targ_tid = 0;
GADGET_PARAM(targ_tid);

const volatile gadget_uid targ_uid = GADGET_INVALID_ID;
GADGET_PARAM(targ_uid);

const volatile gadget_gid targ_gid = GADGET_INVALID_ID;
GADGET_PARAM(targ_gid);

const volatile gadget_comm targ_comm[TASK_COMM_LEN] = {};
GADGET_PARAM(targ_comm);

static __always_inline bool gadget_should_discard_pid(gadget_pid pid)
{
	return targ_pid != 0 && pid != targ_pid;
}

static __always_inline bool gadget_should_discard_tid(gadget_tid tid)
{
	return targ_tid != 0 && tid != targ_tid;
}

static __always_inline bool gadget_should_discard_uid(gadget_uid uid)
{
	return targ_uid != GADGET_INVALID_ID && uid != targ_uid;
}

static __always_inline bool gadget_should_discard_gid(gadget_gid gid)
{
	return targ_gid != GADGET_INVALID_ID && gid != targ_gid;
}

/* Exact comparison of a NUL-padded task name with targ_comm. */
static __always_inline bool
gadget_should_discard_comm(const gadget_comm comm[TASK_COMM_LEN])
{
	if (targ_comm[0] == '\0')
		return false;
#pragma unroll
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return true;
		if (comm[i] == '\0')
			break;
	}
	return false;
}

/* True if an event with these attributes must be dropped. */
static __always_inline bool
gadget_should_discard_data(gadget_mntns_id mntns_id, gadget_pid pid,
			   gadget_tid tid, const gadget_comm comm[TASK_COMM_LEN],
			   gadget_uid uid, gadget_gid gid)
{
	return gadget_should_discard_mntns_id(mntns_id) ||
	       gadget_should_discard_pid(pid) ||
	       gadget_should_discard_tid(tid) ||
	       gadget_should_discard_uid(uid) ||
	       gadget_should_discard_gid(gid) ||
	       gadget_should_discard_comm(comm);
}

/* Same, for a filled struct gadget_process. */
static __always_inline bool
gadget_should_discard_process(const struct gadget_process *p)
{
	return gadget_should_discard_data(p->mntns_id, p->pid, p->tid, p->comm,
					  p->creds.uid, p->creds.gid);
}

#ifdef __VMLINUX_H__
/* True if an event of the current task must be dropped. Reads only what an
 * active filter needs, cheapest first, so with no filter set this costs
 * nothing after verification. */
static __always_inline bool gadget_should_discard_data_current(void)
{
	if (gadget_should_discard_current_mntns())
		return true;

	if (targ_pid != 0 || targ_tid != 0) {
		__u64 pid_tgid = bpf_get_current_pid_tgid();

		if (gadget_should_discard_pid(pid_tgid >> 32) ||
		    gadget_should_discard_tid((__u32)pid_tgid))
			return true;
	}

	if (targ_uid != GADGET_INVALID_ID || targ_gid != GADGET_INVALID_ID) {
		__u64 uid_gid = bpf_get_current_uid_gid();

		if (gadget_should_discard_uid((__u32)uid_gid) ||
		    gadget_should_discard_gid(uid_gid >> 32))
			return true;
	}

	if (targ_comm[0] != '\0') {
		gadget_comm comm[TASK_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (gadget_should_discard_comm(comm))
			return true;
	}

	return false;
}
#endif /* __VMLINUX_H__ */

/* gadget_should_discard_data_by_skb(v): the filters applied to the owner of
 * a socket found with gadget_socket_lookup() (sockets-map.h). With no owner
 * known, the event is dropped as soon as any filter is set. Defined by
 * whichever of filter.h and sockets-map.h is included second. */
#define __RIG_DEFINE_DISCARD_BY_SKB                                          \
	static __always_inline bool gadget_should_discard_data_by_skb(       \
		const struct gadget_socket_value *v)                         \
	{                                                                    \
		if (!v)                                                      \
			return gadget_filter_by_mntns || targ_pid != 0 ||    \
			       targ_tid != 0 ||                              \
			       targ_uid != GADGET_INVALID_ID ||              \
			       targ_gid != GADGET_INVALID_ID ||              \
			       targ_comm[0] != '\0';                         \
		return gadget_should_discard_data(                           \
			v->mntns, v->pid_tgid >> 32, (__u32)v->pid_tgid,     \
			v->task, (__u32)v->uid_gid, v->uid_gid >> 32);       \
	}

#ifdef __RIG_GADGET_SOCKETS_MAP_H
__RIG_DEFINE_DISCARD_BY_SKB
#endif

#endif /* __RIG_GADGET_FILTER_H */

// SPDX-License-Identifier: Apache-2.0
/*
 * rig's socket enricher: fills gadget_sockets (see <gadget/sockets-map.h>)
 * with the process that owns each TCP/UDP socket, so socket-filter and tc
 * gadgets can name the pid, comm and mount namespace behind a packet.
 *
 * Inspektor Gadget fills this map from kprobes on socket creation; this kernel
 * has none, so rig uses tracepoints only:
 *
 *   - net_dev_queue (raw tracepoint, skb->sk): a socket's first packet is
 *     queued in the sending task's context before any packet tap (AF_PACKET,
 *     so socket filters) sees it; an entry is only added here, never replaced,
 *     because later packets of a socket may be sent from softirq context;
 *   - the exits of bind, listen, connect, sendto and sendmsg, in the calling
 *     task's context: the socket behind the syscall's file descriptor, with its
 *     port now assigned, is recorded (replacing a stale entry for that port).
 *
 * Sockets that were open before the run and do none of this while it lasts
 * stay unknown (a lookup returns NULL, as for IG before its first refresh).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define GADGET_TYPE_TRACING
#include <gadget/sockets-map.h>

#define RIG_S_IFMT 00170000
#define RIG_S_IFSOCK 0140000
#define RIG_TCP_NEW_SYN_RECV 12
#define RIG_TCP_TIME_WAIT 6

/* The value is ~8 KiB: built in a per-CPU scratch slot, not on the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gadget_socket_value);
} rig_se_scratch SEC(".maps");

/* The descriptor a thread passed on syscall entry, read back on exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __s32);
} rig_se_fds SEC(".maps");

static __always_inline void rig_se_record(struct sock *sk, __u64 flags)
{
	struct gadget_socket_key key;
	struct gadget_socket_value *v;
	struct task_struct *task, *parent;
	__u32 zero = 0;
	__u16 family;
	__u8 state;

	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != GADGET_SE_AF_INET && family != GADGET_SE_AF_INET6)
		return;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == RIG_TCP_NEW_SYN_RECV || state == RIG_TCP_TIME_WAIT)
		return;
	__builtin_memset(&key, 0, sizeof(key));
	key.family = family;
	key.proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (key.proto != GADGET_SE_PROTO_TCP && key.proto != GADGET_SE_PROTO_UDP)
		return;
	key.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!key.port)
		return;
	key.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);

	v = bpf_map_lookup_elem(&gadget_sockets, &key);
	if (v && v->sock == (__u64)sk)
		return;
	if (v && flags == BPF_NOEXIST)
		return;
	v = bpf_map_lookup_elem(&rig_se_scratch, &zero);
	if (!v)
		return;
	task = (struct task_struct *)bpf_get_current_task();
	parent = BPF_CORE_READ(task, real_parent);
	v->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	v->pid_tgid = bpf_get_current_pid_tgid();
	v->uid_gid = bpf_get_current_uid_gid();
	bpf_get_current_comm(v->task, sizeof(v->task));
	bpf_probe_read_kernel_str(v->ptask, sizeof(v->ptask), &parent->comm);
	v->ppid = BPF_CORE_READ(parent, tgid);
	v->ipv6only = BPF_CORE_READ_BITFIELD_PROBED(sk, __sk_common.skc_ipv6only);
	v->sock = (__u64)sk;
	v->deletion_timestamp = 0;
	bpf_map_update_elem(&gadget_sockets, &key, v, flags);
}

SEC("raw_tp/net_dev_queue")
int BPF_PROG(rig_se_dev_queue, struct sk_buff *skb)
{
	rig_se_record(BPF_CORE_READ(skb, sk), BPF_NOEXIST);
	return 0;
}

static __always_inline int rig_se_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s32 fd = (__s32)ctx->args[0];

	bpf_map_update_elem(&rig_se_fds, &id, &fd, BPF_ANY);
	return 0;
}

/* The socket behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct sock *rig_se_sock_of(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds;
	struct file *f = NULL;
	struct socket *sock;
	unsigned int max;

	if (fd < 0)
		return NULL;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if ((unsigned int)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & RIG_S_IFMT) != RIG_S_IFSOCK)
		return NULL;
	sock = (struct socket *)BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

static __always_inline int rig_se_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s32 *fd = bpf_map_lookup_elem(&rig_se_fds, &id);

	if (!fd)
		return 0;
	if (ctx->ret >= 0)
		rig_se_record(rig_se_sock_of(*fd), BPF_ANY);
	bpf_map_delete_elem(&rig_se_fds, &id);
	return 0;
}

#define RIG_SE_SYSCALL(name)                                                   \
	SEC("tracepoint/syscalls/sys_enter_" #name)                            \
	int rig_se_enter_##name(struct trace_event_raw_sys_enter *ctx)         \
	{                                                                      \
		return rig_se_enter(ctx);                                      \
	}                                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)                             \
	int rig_se_exit_##name(struct trace_event_raw_sys_exit *ctx)           \
	{                                                                      \
		return rig_se_exit(ctx);                                       \
	}

RIG_SE_SYSCALL(bind)
RIG_SE_SYSCALL(listen)
RIG_SE_SYSCALL(connect)
RIG_SE_SYSCALL(sendto)
RIG_SE_SYSCALL(sendmsg)

char LICENSE[] SEC("license") = "GPL";

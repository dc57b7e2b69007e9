// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "types_net": one event per connect(2) made by a process
 * named "rigtypesprobe" (a small C program the test builds), carrying the
 * ABI's structured special types so the end-to-end test can check how rig
 * renders them against ground truth it chose:
 *
 *   dst      struct gadget_l4endpoint_t   the address connected to (v4 or v6)
 *   dst_l3   struct gadget_l3endpoint_t   the same address without port
 *   peer_raw union gadget_ip_addr_t       the same address, no version
 *   kstack_raw gadget_kernel_stack        kernel stack at sys_enter_connect
 *   ustack   struct gadget_user_stack     the prober's user stack
 *   args     char[] + args_size           IG trace_exec's NUL-separated list:
 *                                         "a b", "c" (fixed)
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/kernel_stack_map.h>
#include <gadget/macros.h>
#include <gadget/types.h>
#include <gadget/user_stack_map.h>

#define RIG_AF_INET 2
#define RIG_AF_INET6 10
#define RIG_IPPROTO_TCP 6

struct types_net_event {
	struct gadget_process proc;
	struct gadget_l4endpoint_t dst;
	struct gadget_l3endpoint_t dst_l3;
	union gadget_ip_addr_t peer_raw;
	gadget_kernel_stack kstack_raw;
	struct gadget_user_stack ustack;
	__u32 args_size;
	char args[16];
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(types_net, events, types_net_event);

SEC("tracepoint/syscalls/sys_enter_connect")
int rig_types_net_connect(struct syscall_trace_enter *ctx)
{
	static const char want[] = "rigtypesprobe";
	char comm[TASK_COMM_LEN] = {};
	struct types_net_event *e;
	struct sockaddr_in6 sa = {};
	const void *uaddr = (const void *)ctx->args[1];

	bpf_get_current_comm(comm, sizeof(comm));
	/* `want` is in .rodata, as bpf_strncmp requires; the NUL is compared too. */
	if (bpf_strncmp(comm, sizeof(want), want) != 0 ||
	    bpf_probe_read_user(&sa, sizeof(sa), uaddr))
		return 0;
	if (!(e = gadget_reserve_buf(&events, sizeof(*e))))
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	gadget_process_populate(&e->proc);
	if (sa.sin6_family == RIG_AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;
		e->dst.addr_raw.v4 = in->sin_addr.s_addr;
		e->dst.port = bpf_ntohs(in->sin_port);
		e->dst.version = 4;
	} else if (sa.sin6_family == RIG_AF_INET6) {
		__builtin_memcpy(e->dst.addr_raw.v6, &sa.sin6_addr, 16);
		e->dst.port = bpf_ntohs(sa.sin6_port);
		e->dst.version = 6;
	}
	e->dst.proto_raw = RIG_IPPROTO_TCP;
	e->dst_l3.addr_raw = e->dst.addr_raw;
	e->dst_l3.version = e->dst.version;
	e->peer_raw = e->dst.addr_raw;
	e->kstack_raw = gadget_get_kernel_stack(ctx);
	gadget_get_user_stack(ctx, &e->ustack);
	__builtin_memcpy(e->args, "a b\0c\0", 6);
	e->args_size = 6;
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "custom": one event per uname(2) made by a process named
 * "uname", carrying fixed values of many C types so end-to-end tests can
 * check that the runtime decodes every kind of field from BTF alone.
 *
 * On x86_64 the uname(2) that coreutils' uname calls is the `newuname`
 * syscall; its tracepoint is syscalls/sys_enter_newuname.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/buffer.h>
#include <gadget/common.h>
#include <gadget/macros.h>
#include <gadget/types.h>

enum custom_color {
	CUSTOM_RED = 1,
	CUSTOM_GREEN = 2,
	CUSTOM_BLUE = 3,
};

struct custom_inner {
	__u32 a;
	__u16 b;
};

struct custom_event {
	struct gadget_process proc;
	__u8 small;   /* low byte of proc.pid */
	__s16 neg;    /* -1234 */
	__u32 magic;  /* the `magic` parameter */
	__s64 big;    /* -5000000000 */
	bool flag;    /* true */
	char label[16];               /* "rig-custom" */
	struct custom_inner inner;    /* {7, 9} */
	enum custom_color color_raw;  /* CUSTOM_GREEN */
	gadget_errno error_raw;       /* 2 (ENOENT) */
};

const volatile __u32 magic = 42;
GADGET_PARAM(magic);

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(custom, events, custom_event);

SEC("tracepoint/syscalls/sys_enter_newuname")
int rig_custom_uname(void *ctx)
{
	static const char want[] = "uname";
	char comm[TASK_COMM_LEN] = {};
	struct custom_event *e;

	bpf_get_current_comm(comm, sizeof(comm));
	for (unsigned int i = 0; i < sizeof(want); i++) /* includes the NUL */
		if (comm[i] != want[i])
			return 0;

	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;

	__builtin_memset(e, 0, sizeof(*e));
	gadget_process_populate(&e->proc);
	e->small = e->proc.pid & 0xff;
	e->neg = -1234;
	e->magic = magic;
	e->big = -5000000000LL;
	e->flag = true;
	__builtin_memcpy(e->label, "rig-custom", sizeof("rig-custom"));
	e->inner.a = 7;
	e->inner.b = 9;
	e->color_raw = CUSTOM_GREEN;
	e->error_raw = 2;

	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

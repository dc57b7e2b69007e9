// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_kconfig": reads .kconfig externs (the running kernel's
 * version and some of its configuration) and reports them on every uname(2)
 * by a process named "uname".
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

extern int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern bool CONFIG_RIG_NO_SUCH_OPTION __kconfig __weak;

struct kconfig_event {
	__u32 version;
	__u32 hz;
	__u8 bpf_syscall;
	__u8 missing;
};

GADGET_TRACER_MAP(events, 1024 * 64);
GADGET_TRACER(kconfig, events, kconfig_event);

SEC("tracepoint/syscalls/sys_enter_newuname")
int rig_attach_kconfig(void *ctx)
{
	struct kconfig_event *e;

	if (!comm_is("uname"))
		return 0;
	e = gadget_reserve_buf(&events, sizeof(*e));
	if (!e)
		return 0;
	e->version = LINUX_KERNEL_VERSION;
	e->hz = CONFIG_HZ;
	e->bpf_syscall = CONFIG_BPF_SYSCALL;
	e->missing = CONFIG_RIG_NO_SUCH_OPTION;
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_fentry": one program on fentry/do_sys_openat2,
 * a hook this machine cannot give; loading it must fail with an error
 * naming the section.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

ATTACH_HOOK_FIXTURE(fentry, "fentry/do_sys_openat2", void)

char LICENSE[] SEC("license") = "GPL";

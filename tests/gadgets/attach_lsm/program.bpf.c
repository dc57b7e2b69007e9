// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_lsm": one program on lsm/binder_set_context_mgr,
 * a hook this machine cannot give; loading it must fail with an error
 * naming the section.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

ATTACH_HOOK_FIXTURE(lsm, "lsm/binder_set_context_mgr", void)

char LICENSE[] SEC("license") = "GPL";

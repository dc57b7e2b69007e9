// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture "attach_nolib": one program on uprobe/librignosuchlib:rig_missing_function,
 * a hook this machine cannot give; loading it must fail with an error
 * naming the section.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include <gadget/buffer.h>
#include <gadget/macros.h>
#include <gadget/types.h>

#include "../attach_common.h"

ATTACH_HOOK_FIXTURE(nolib, "uprobe/librignosuchlib:rig_missing_function", struct pt_regs)

char LICENSE[] SEC("license") = "GPL";

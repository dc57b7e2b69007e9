//! The gadget ABI headers compile as Inspektor Gadget's gadgets use them.
//!
//! rig builds gadgets with its own `gadget/*.h` and libbpf's BPF-side headers embedded from the
//! `libbpf-sys` package (`bpf/*.h`), plus the host's multiarch uapi directory for `asm/*.h`.
//! These tests compile C files through rig's real compile path (clang, the embedded headers, the
//! running kernel's `vmlinux.h`): one includes every header and uses every macro, with
//! compile-time checks of the struct layouts gadgets and the runtime share with Inspektor Gadget;
//! one is a networking gadget on `<linux/types.h>` (no `vmlinux.h`); one must fail, with clang's
//! diagnostic in the error.

use std::fs;
use std::path::Path;

use rig_host::compile::{self, CompileError};

/// libbpf's headers a gadget may include, as `<bpf/NAME>` (`bpf_helper_defs.h` has no include
/// guard: it comes through `bpf_helpers.h` only).
const LIBBPF_HEADERS: &[&str] = &[
    "bpf_helpers.h",
    "bpf_tracing.h",
    "bpf_core_read.h",
    "bpf_endian.h",
    "usdt.bpf.h",
];

/// Defines that select the optional parts of some headers, set before any include.
const SELECTORS: &str = "#define GADGET_TYPE_TRACING\n#define GPU_BRIDGE_WANT_ALL\n";

/// Uses every macro of libbpf's tracing headers that IG's gadgets use, and every rig marker.
const BODY: &str = r#"
/* Layouts shared with Inspektor Gadget's gadgets and runtime. */
_Static_assert(sizeof(union gadget_ip_addr_t) == 16, "ip addr");
_Static_assert(__builtin_offsetof(union gadget_ip_addr_t, v6_raw) == 0, "v6_raw");
/* v6_raw (an __int128) aligns the union, hence the endpoints, to 16 bytes. */
_Static_assert(_Alignof(union gadget_ip_addr_t) == 16, "ip addr alignment");
_Static_assert(sizeof(struct gadget_l3endpoint_t) == 32, "l3endpoint");
_Static_assert(sizeof(struct gadget_l4endpoint_t) == 32, "l4endpoint");
_Static_assert(__builtin_offsetof(struct gadget_parent, tid) == 20, "parent.tid");
_Static_assert(sizeof(struct gadget_process) == 64, "process");
_Static_assert(__builtin_offsetof(struct gadget_socket_value, sock) == 56, "sock");
_Static_assert(__builtin_offsetof(struct gadget_socket_value, ptid) == 76, "ptid");
_Static_assert(__builtin_offsetof(struct gadget_socket_value, ipv6only) == 80, "ipv6only");
_Static_assert(__builtin_offsetof(struct gadget_socket_value, cwd) == 88, "cwd");
_Static_assert(__builtin_offsetof(struct gadget_socket_value, exepath) == 88 + GADGET_SE_PATH_MAX, "exepath");
_Static_assert(sizeof(struct gadget_socket_key) == 12, "socket key");
_Static_assert(__builtin_offsetof(struct gadget_user_stack, stack_id) == 32, "ustack.stack_id");
_Static_assert(sizeof(struct gadget_user_stack) == 72, "ustack");
_Static_assert(__builtin_offsetof(struct gadget_user_stack, boot_timestamp) == 64, "ustack.boot_timestamp");
_Static_assert(sizeof(struct gadget_socket_value) == 8280, "socket value");
_Static_assert(sizeof(struct gpu_meta) == 32, "gpu meta");
_Static_assert(sizeof(struct gpu_device_metrics) == 128, "gpu device");
_Static_assert(sizeof(struct gpu_pid_metrics) == 40, "gpu pid");
_Static_assert(sizeof(struct gpu_pid_metrics_aggregated) == 32, "gpu pid aggregated");
_Static_assert(sizeof(gadget_ptid) == 4, "ptid type");

#ifndef PT_REGS_PARM6_CORE_SYSCALL
#error "libbpf headers too old: no PT_REGS_PARM6_CORE_SYSCALL (the host's /usr/include/bpf?)"
#endif

struct event {
	gadget_timestamp timestamp_raw;
	struct gadget_process proc;
	struct gadget_l4endpoint_t addr;
	struct gadget_user_stack ustack;
	gadget_kernel_stack kstack_raw;
	gadget_errno error_raw;
	__u64 ctime;
	bool ok;
};

struct row {
	__u32 pid;
	char comm[16];
};

struct mkey {
	__u32 pid;
};

struct mval {
	gadget_counter__u64 calls;
};

const volatile bool with_stacks = false;
GADGET_PARAM(with_stacks);

GADGET_TRACER_MAP(events, 1024 * 256);
GADGET_TRACER(abi, events, event);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct mkey);
	__type(value, struct mval);
} counts SEC(".maps");

GADGET_MAPITER(calls, counts);
GADGET_ITER(tasks, row, iter_tasks);
GADGET_SNAPSHOTTER(tasks2, row, iter_tasks, iter_tasks2);
GADGET_ITER(elems, row, iter_elems);
GADGET_ITER_TARGET_MAP(iter_elems, counts);

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} socks SEC(".maps");
GADGET_SK_TARGET_MAP(sk_verdict, socks);

static __always_inline void emit(void *ctx, __u64 value)
{
	struct event *e = gadget_reserve_buf(&events, sizeof(*e));

	if (!e)
		return;
	e->timestamp_raw = bpf_ktime_get_boot_ns();
	gadget_process_populate(&e->proc);
	e->ok = !gadget_should_discard_data_current();
	e->error_raw = value;
	e->addr.addr_raw.v6_raw = 0;
	gadget_get_user_stack(ctx, &e->ustack);
	e->kstack_raw = with_stacks ? gadget_get_kernel_stack(ctx) : 0;
	gadget_submit_buf(ctx, &events, e, sizeof(*e));
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(kp6, int a, long b, long c, long d, long e, long f)
{
	emit(ctx, a + b + c + d + e + f);
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(krp, long ret)
{
	emit(ctx, ret);
	return 0;
}

SEC("ksyscall/kill")
int BPF_KSYSCALL(ks, pid_t pid, int sig)
{
	emit(ctx, pid + sig);
	return 0;
}

SEC("uprobe/libc:malloc")
int BPF_UPROBE(up, size_t size)
{
	emit(ctx, size);
	return 0;
}

SEC("uretprobe/libc:malloc")
int BPF_URETPROBE(urp, void *ret)
{
	emit(ctx, (__u64)ret);
	return 0;
}

SEC("usdt/libc:libc:setjmp")
int BPF_USDT(usdt_setjmp, void *env, int val)
{
	emit(ctx, val);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_enter, struct pt_regs *regs, long id)
{
	emit(ctx, PT_REGS_PARM6_CORE_SYSCALL(regs) + gadget_get_syscall_arg(regs, 6) +
			  gadget_get_syscall_nr(regs) + id);
	return 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int retrans(void *ctx)
{
	const struct sk_buff *skb = gadget_get_tcp_retransmit_skb_skbaddr(ctx);
	const struct sock *sk = gadget_get_tcp_retransmit_skb_skaddr(ctx);
	struct gadget_socket_value *v = gadget_socket_lookup(sk, 0);

	if (skb && v && !gadget_should_discard_data_by_skb(v))
		emit(ctx, bpf_ntohs(v->ptid) + v->cwd[0] + v->exepath[0]);
	return 0;
}

SEC("iter/task")
int iter_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct row r = {};

	if (!task)
		return 0;
	r.pid = task->tgid;
	r.pid += gadget_get_ctime_nanosec_from_inode(BPF_CORE_READ(task, mm, exe_file, f_inode));
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

SEC("iter/task")
int iter_tasks2(struct bpf_iter__task *ctx)
{
	return iter_tasks(ctx);
}

SEC("iter/bpf_map_elem")
int iter_elems(struct bpf_iter__bpf_map_elem *ctx)
{
	struct mkey *k = ctx->key;
	struct row r = {};

	if (!k)
		return 0;
	r.pid = k->pid;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

SEC("sk_skb/stream_verdict")
int sk_verdict(struct __sk_buff *skb)
{
	return SK_PASS;
}

GADGET_PF(all);

SEC("socket")
int sockf(struct __sk_buff *skb)
{
	struct gpu_meta *m = gpu_meta_fresh(bpf_ktime_get_boot_ns(), 1000);
	__u64 slot = get_slot_idx(skb->len) + log2l(skb->len) + (m ? m->n_devices : 0);
	struct mval zero = {}, *c;
	struct mkey k = { .pid = slot };

	c = bpf_map_lookup_or_try_init(&counts, &k, &zero);
	if (c)
		c->calls++;
	return gadget_pf_matches(all, skb, (void *)(long)skb->data,
				 (void *)(long)skb->data_end) ? -1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
"#;

/// A networking gadget on uapi headers: `<linux/types.h>` needs `asm/types.h` from the multiarch
/// directory, `bool` comes from `<stdbool.h>` through `gadget/types.h`.
const NETWORKING: &str = r#"
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define GADGET_TYPE_NETWORKING
#include <gadget/macros.h>
#include <gadget/types.h>
#include <gadget/buffer.h>
#include <gadget/sockets-map.h>
#include <gadget/filter.h>

struct event {
	struct gadget_l3endpoint_t src;
	gadget_pid pid;
	bool known;
};

GADGET_TRACER_MAP(events, 1024 * 256);
GADGET_TRACER(pkts, events, event);

SEC("socket1")
int pkts_filter(struct __sk_buff *skb)
{
	struct gadget_socket_value *v = gadget_socket_lookup(skb);
	struct event e = {};

	if (gadget_should_discard_data_by_skb(v))
		return 0;
	e.known = v != NULL;
	e.pid = v ? v->pid_tgid >> 32 : 0;
	e.src.version = 4;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 12, &e.src.addr_raw.v4, 4) < 0)
		return -EINVAL == 0;
	gadget_output_buf(skb, &events, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"#;

/// Every `gadget/*.h` in the source tree, in order.
fn rig_headers() -> Vec<String> {
    let dir = rig_tests::repo().join("gadgets/include/gadget");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".h"))
        .collect();
    names.sort();
    assert!(names.len() >= 18, "rig's headers not found in {}: {names:?}", dir.display());
    names
}

fn write(dir: &Path, text: &str) {
    fs::write(dir.join("program.bpf.c"), text).expect("write program.bpf.c");
}

/// The markers a gadget object must carry in its BTF strings for the loader.
fn assert_strings(obj: &Path, names: &[&str]) {
    let bytes = fs::read(obj).expect("read object");
    for n in names {
        assert!(
            bytes.windows(n.len()).any(|w| w == n.as_bytes()),
            "{} has no {n}",
            obj.display()
        );
    }
}

#[test]
fn every_header_and_macro_compiles() {
    rig_tests::require_kernel();
    let mut src = String::from(SELECTORS);
    src.push_str("#include <vmlinux.h>\n");
    for h in LIBBPF_HEADERS {
        src.push_str(&format!("#include <bpf/{h}>\n"));
    }
    for h in rig_headers() {
        src.push_str(&format!("#include <gadget/{h}>\n"));
    }
    src.push_str(BODY);
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), &src);
    let obj = compile::compile(dir.path(), "program.bpf.c").unwrap_or_else(|e| panic!("{e}"));
    assert_strings(
        &obj,
        &[
            "gadget_tracer_abi___events___event",
            "gadget_map_tracer_events",
            "gadget_param_with_stacks",
            "gadget_mapiter_calls___counts",
            "gadget_iter_tasks___row___iter_tasks",
            "gadget_snapshotter_tasks2___row___iter_tasks___iter_tasks2",
            "gadget_mapelem_iter_target_iter_elems___counts",
            "gadget_sk_prog_target_sk_verdict___socks",
            "gadget_sockets",
            "ksyscall/kill",
            "usdt/libc:libc:setjmp",
        ],
    );
}

#[test]
fn networking_gadget_on_uapi_headers_compiles() {
    rig_tests::require_kernel();
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), NETWORKING);
    let obj = compile::compile(dir.path(), "program.bpf.c").unwrap_or_else(|e| panic!("{e}"));
    assert_strings(&obj, &["gadget_tracer_pkts___events___event", "gadget_sockets", "socket1"]);
}

#[test]
fn clang_errors_name_the_file_and_line() {
    rig_tests::require_kernel();
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "#include <vmlinux.h>\n#include <gadget/types.h>\nstruct gadget_parent p = { .no_such_member = 1 };\n",
    );
    match compile::compile(dir.path(), "program.bpf.c") {
        Err(CompileError::Clang { source_file, stderr }) => {
            assert!(source_file.ends_with("program.bpf.c"), "{source_file}");
            assert!(stderr.contains("program.bpf.c:3:"), "{stderr}");
            assert!(stderr.contains("no_such_member"), "{stderr}");
        }
        other => panic!("want a clang error, got {other:?}"),
    }
}

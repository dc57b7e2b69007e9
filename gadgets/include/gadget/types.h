/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: special types.
 *
 * The runtime recognises these by their BTF *type names*, so an event field
 * gets its meaning only when it is declared with the typedef (a raw __u32
 * is just a number). Include after <vmlinux.h> (or <linux/types.h>).
 *
 *   gadget_mntns_id / gadget_netns_id   container enrichment by namespace inode
 *   gadget_timestamp                    bpf_ktime_get_boot_ns(), shown as wall clock
 *   gadget_signal / gadget_errno        numbers shown as SIGKILL / ENOENT
 *   gadget_syscall                      syscall number shown as its name
 *   gadget_uid / gadget_gid             shown with user / group names
 *   gadget_file_mode / gadget_file_flags  -rw-r--r-- / O_RDONLY|O_CREAT
 *   gadget_bytes / gadget_duration      human-readable size / duration
 *   gadget_kernel_stack                 stack id in the kernel_stack_map.h map
 *   gadget_counter__*, gadget_gauge__*, gadget_histogram_slot__*  metrics
 */
#ifndef __RIG_GADGET_TYPES_H
#define __RIG_GADGET_TYPES_H

/* bool: <vmlinux.h> has its own; networking gadgets built on <linux/types.h>
 * get the compiler's <stdbool.h> (the two cannot be mixed). */
#if !defined(__VMLINUX_H__)
#include <stdbool.h>
#endif

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif

/* Namespaces (inode numbers). */
typedef __u64 gadget_mntns_id;
typedef __u32 gadget_netns_id;

/* Nanoseconds since boot, from bpf_ktime_get_boot_ns(). */
typedef __u64 gadget_timestamp;

typedef __u32 gadget_signal;
typedef __u32 gadget_errno;
typedef __u64 gadget_syscall;

typedef __u32 gadget_uid;
typedef __u32 gadget_gid;

typedef __u32 gadget_file_mode;
typedef __u32 gadget_file_flags;

typedef __u64 gadget_bytes;
typedef __u64 gadget_duration;

/* Stack id returned by gadget_get_kernel_stack(); negative means none. */
typedef __u32 gadget_kernel_stack;

/* Process identity (user-space terminology: pid = thread group id). */
typedef __u32 gadget_pid;
typedef __u32 gadget_ppid;
typedef __u32 gadget_tid;
typedef __u32 gadget_ptid;
typedef char gadget_comm;
typedef char gadget_pcomm;

/* Metric semantics for map-iterator datasources. */
typedef __u32 gadget_counter__u32;
typedef __u64 gadget_counter__u64;
typedef __u32 gadget_gauge__u32;
typedef __u64 gadget_gauge__u64;
typedef __u32 gadget_histogram_slot__u32;
typedef __u64 gadget_histogram_slot__u64;

/* An IPv4 (v4, network order) or IPv6 (v6) address; v6_raw is the same
 * 16 bytes as one integer, for copying or comparing in a single access. */
union gadget_ip_addr_t {
	__u8 v6[16];
	unsigned __int128 v6_raw;
	__u32 v4;
};

/* L3 endpoint; version is 4 or 6. Rendered as "ip". */
struct gadget_l3endpoint_t {
	union gadget_ip_addr_t addr_raw;
	__u8 version;
};

/* L4 endpoint; port in host byte order, proto_raw an IPPROTO_* number.
 * Rendered as "ip:port". */
struct gadget_l4endpoint_t {
	union gadget_ip_addr_t addr_raw;
	__u16 port;
	__u16 proto_raw;
	__u8 version;
};

struct gadget_creds {
	gadget_uid uid;
	gadget_gid gid;
};

struct gadget_parent {
	gadget_pcomm comm[TASK_COMM_LEN];
	gadget_ppid pid;
	gadget_ptid tid;
};

/* The standard `proc.*` fields; fill with gadget_process_populate(). */
struct gadget_process {
	gadget_comm comm[TASK_COMM_LEN];
	gadget_pid pid;
	gadget_tid tid;
	gadget_mntns_id mntns_id;
	struct gadget_creds creds;
	struct gadget_parent parent;
};

/* A user-space stack; fill with gadget_get_user_stack() (user_stack_map.h).
 * All zero means "no stack collected". Inspektor Gadget's layout and names:
 * the executable (device major/minor, inode, mtime), a hash of where it was
 * mapped (changes at every execve), the id in the stack-trace map, and the
 * task's ids seen from the initial pid namespace (level 0) and its child
 * (level 1), so user space can pick the one matching the /proc it sees. */
struct gadget_user_stack {
	__u32 major;
	__u32 minor;
	__u64 inode;
	__u64 mtime_sec;
	__u32 mtime_nsec;
	__u32 base_addr_hash; /* FNV-1a of (mm, start_code, start_stack) */
	__u32 stack_id;
	__u32 tgid_level0;
	__u32 pid_level0;
	__u32 pidns_level0;
	__u32 pid_level1;
	__u32 pidns_level1;
	__u64 otel_correlation_id; /* 0: rig has no OpenTelemetry profiler */
	__u64 boot_timestamp;      /* bpf_ktime_get_boot_ns() when collected */
};

#define GADGET_SE_PATH_MAX 4096

/* What the socket enricher records for a socket (map gadget_sockets,
 * sockets-map.h): filled by the runtime, read by gadgets. The layout is
 * Inspektor Gadget's, byte for byte (offsets in comments), so gadgets
 * built for it read the same bytes; cwd and exepath follow at the first
 * 8-byte boundary after the fixed fields. */
struct gadget_socket_value {
	__u64 mntns;              /*  0 */
	__u64 pid_tgid;           /*  8: tgid << 32 | tid */
	__u64 uid_gid;            /* 16: gid << 32 | uid */
	char task[TASK_COMM_LEN]; /* 24 */
	char ptask[TASK_COMM_LEN]; /* 40 */
	__u64 sock;               /* 56: kernel address, identity only */
	__u64 deletion_timestamp; /* 64: 0 while open; boot ns when closed */
	__u32 ppid;               /* 72 */
	__u32 ptid;               /* 76 */
	char ipv6only;            /* 80: AF_INET6 socket that refuses IPv4 */
	char optional_fields_start[0] __attribute__((aligned(8))); /* 88 */
	char cwd[GADGET_SE_PATH_MAX];     /* 88 */
	char exepath[GADGET_SE_PATH_MAX]; /* 4184 */
};

#endif /* __RIG_GADGET_TYPES_H */

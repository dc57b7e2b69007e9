/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: the maps of Inspektor Gadget's GPU bridge.
 *
 * Declarations only (see <gadget/gpu_types.h>): the maps are pinned by name
 * (LIBBPF_PIN_BY_NAME) and filled by IG's gpu-ebpf-bridge daemon, which rig
 * does not provide. A gadget declares just the maps it reads by defining,
 * before including this header, any of
 *
 *   GPU_BRIDGE_WANT_META                gpu_meta                (array, 1)
 *   GPU_BRIDGE_WANT_DEVICE              gpu_device              (array, per device)
 *   GPU_BRIDGE_WANT_PER_PID             gpu_per_pid             (LRU hash, pid)
 *   GPU_BRIDGE_WANT_PER_PID_PER_DEVICE  gpu_per_pid_per_device  (LRU hash, pid<<32|dev)
 *   GPU_BRIDGE_WANT_ALL                 all four
 *
 * and gets the helpers that read them: gpu_meta_fresh() with META,
 * gpu_pid_holder() with PER_PID. Include after <vmlinux.h>.
 */
#ifndef __RIG_GADGET_GPU_BRIDGE_MAPS_H
#define __RIG_GADGET_GPU_BRIDGE_MAPS_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include <gadget/gpu_types.h>

#ifdef GPU_BRIDGE_WANT_ALL
#define GPU_BRIDGE_WANT_META
#define GPU_BRIDGE_WANT_DEVICE
#define GPU_BRIDGE_WANT_PER_PID
#define GPU_BRIDGE_WANT_PER_PID_PER_DEVICE
#endif

#define GPU_BRIDGE_MAX_PIDS 4096

#ifdef GPU_BRIDGE_WANT_META
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gpu_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} gpu_meta SEC(".maps");

/* The bridge's record if its last poll is at most `stale_threshold_ms` older
 * than `now_boot_ns` (a bpf_ktime_get_boot_ns() value), else NULL. */
static __always_inline struct gpu_meta *gpu_meta_fresh(__u64 now_boot_ns,
						       __u64 stale_threshold_ms)
{
	__u32 key = 0;
	struct gpu_meta *m = bpf_map_lookup_elem(&gpu_meta, &key);

	if (!m || now_boot_ns - m->last_update_boottime_ns >
			  stale_threshold_ms * 1000000ULL)
		return NULL;
	return m;
}
#endif

#ifdef GPU_BRIDGE_WANT_DEVICE
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GPU_MAX_DEVICES);
	__type(key, __u32);
	__type(value, struct gpu_device_metrics);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} gpu_device SEC(".maps");
#endif

#ifdef GPU_BRIDGE_WANT_PER_PID
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GPU_BRIDGE_MAX_PIDS);
	__type(key, __u32);
	__type(value, struct gpu_pid_metrics_aggregated);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} gpu_per_pid SEC(".maps");

/* The record of process `tgid` if it holds at least `min_gpu_mem_bytes` of
 * GPU memory, else NULL. */
static __always_inline struct gpu_pid_metrics_aggregated *
gpu_pid_holder(__u32 tgid, __u64 min_gpu_mem_bytes)
{
	struct gpu_pid_metrics_aggregated *g =
		bpf_map_lookup_elem(&gpu_per_pid, &tgid);

	if (!g || g->used_gpu_memory_total < min_gpu_mem_bytes)
		return NULL;
	return g;
}
#endif

#ifdef GPU_BRIDGE_WANT_PER_PID_PER_DEVICE
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GPU_BRIDGE_MAX_PIDS);
	__type(key, __u64);
	__type(value, struct gpu_pid_metrics);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} gpu_per_pid_per_device SEC(".maps");
#endif

#endif /* __RIG_GADGET_GPU_BRIDGE_MAPS_H */

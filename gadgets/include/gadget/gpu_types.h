/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: the records of Inspektor Gadget's GPU bridge.
 *
 * IG's gpu-ebpf-bridge daemon polls NVML and publishes what it reads in four
 * pinned BPF maps (declared by <gadget/gpu_bridge_maps.h>); GPU gadgets read
 * them. rig runs no such daemon: these declarations exist so that those
 * gadgets build unchanged, and so that a bridge running next to rig finds
 * the layout it writes. Field order and sizes are the bridge's wire format:
 * never reorder them.
 */
#ifndef __RIG_GADGET_GPU_TYPES_H
#define __RIG_GADGET_GPU_TYPES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Version of these layouts the bridge writes in gpu_meta.schema_version. */
#define GPU_SCHEMA_VERSION 1

/* Device slots in the gpu_device map (indices 0 .. n_devices-1). */
#define GPU_MAX_DEVICES 16

/* gpu_pid_metrics_aggregated.gpu_device_primary of a process that holds
 * memory on more than one device. */
#define GPU_DEVICE_PRIMARY_MULTI 0xFF

/* The bridge's state, at key 0 of gpu_meta, rewritten every poll. */
struct gpu_meta {
	__u32 schema_version;
	__u32 n_devices;
	__u64 last_update_boottime_ns; /* CLOCK_BOOTTIME of the last poll */
	__u32 helper_pid;
	__u32 _reserved;
	__s64 clock_offset_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, in ns */
};

/* One device's readings (0 where NVML has no value). */
struct gpu_device_metrics {
	__u64 timestamp_ns;
	__u32 sm_util_pct;
	__u32 mem_util_pct;
	__u64 mem_total;    /* bytes of VRAM */
	__u64 mem_used;     /* bytes allocated by users */
	__u64 mem_reserved; /* bytes kept by driver and firmware */
	__u32 temp_c;
	__u32 power_mw;
	__u32 sm_clock_mhz;
	__u32 mem_clock_mhz;
	__u64 throttle_reasons; /* NVML clock event reason bits */
	__u64 pcie_tx_kbps;
	__u64 pcie_rx_kbps;
	__u32 enc_util_pct;
	__u32 dec_util_pct;
	__u64 nvlink_tx_kbps;
	__u64 nvlink_rx_kbps;
	__u64 ecc_corrected_total;
	__u64 ecc_uncorrected_total;
	__u32 fan_speed_pct;
	__u32 compute_mode; /* NVML_COMPUTEMODE_* */
};

/* One process on one device; key (pid << 32) | device index. */
struct gpu_pid_metrics {
	__u64 timestamp_ns;
	__u64 used_gpu_memory;
	__u32 sm_util_pct;
	__u32 mem_util_pct;
	__u32 enc_util_pct;
	__u32 dec_util_pct;
	__u8 gpu_device;
	__u8 mig_instance;
	__u16 _pad;
};

/* One process over all its devices (sum of memory, maximum of usage);
 * key: host pid. */
struct gpu_pid_metrics_aggregated {
	__u64 timestamp_ns;
	__u64 used_gpu_memory_total;
	__u32 sm_util_pct_max;
	__u32 mem_util_pct_max;
	__u8 gpu_device_primary; /* or GPU_DEVICE_PRIMARY_MULTI */
	__u8 device_count;
	__u16 _pad;
};

#endif /* __RIG_GADGET_GPU_TYPES_H */

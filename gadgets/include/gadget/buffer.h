/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: sending events to user space.
 *
 * Events go through BPF ring buffers declared with GADGET_TRACER_MAP().
 *
 * Wake-up policy. Waking the reader on every event costs far more than
 * producing it (~16 us in the kernel per wake-up on a small VM), so the
 * helpers submit with BPF_RB_NO_WAKEUP and only force a wake-up once more
 * than a quarter of the ring holds unconsumed data. The runtime also drains
 * every ring on a short timer, so latency stays bounded when traffic is low.
 *
 * Lost events. Whenever a ring has no room, the helpers add one to the
 * per-CPU counter gadget_lost_samples[0]; the runtime sums it over CPUs and
 * reports it. Nothing is lost silently.
 *
 *   void *gadget_reserve_buf(map, size)            NULL if full (counted)
 *   long  gadget_submit_buf(ctx, map, buf, size)   commit a reserved buffer
 *   void  gadget_discard_buf(buf)                  drop a reserved buffer
 *   long  gadget_output_buf(ctx, map, buf, size)   copy `size` bytes from buf
 *
 * size for gadget_reserve_buf() must be a compile-time constant (verifier
 * rule); gadget_output_buf() accepts a bounded variable size, which is how
 * events with trailing variable-length data are sent. gadget_submit_buf()
 * ignores ctx and size, and accepts a NULL map (then it never wakes).
 */
#ifndef __RIG_GADGET_BUFFER_H
#define __RIG_GADGET_BUFFER_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#ifndef GADGET_MAX_EVENT_SIZE
#define GADGET_MAX_EVENT_SIZE 10240
#endif
#ifndef MAX_EVENT_SIZE
#define MAX_EVENT_SIZE GADGET_MAX_EVENT_SIZE
#endif

/* Ring buffer `name` of `size` bytes (a power of two, multiple of the page
 * size) that carries a tracer's events. */
#define GADGET_TRACER_MAP(name, size)               \
	struct {                                    \
		__uint(type, BPF_MAP_TYPE_RINGBUF); \
		__uint(max_entries, size);          \
	} name SEC(".maps");                        \
	const void *gadget_map_tracer_##name __attribute__((unused));

/* Per-CPU count of events dropped because a ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gadget_lost_samples SEC(".maps");

static __always_inline void gadget_count_lost_sample(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&gadget_lost_samples, &zero);

	/* Per-CPU slot, and BPF programs do not migrate: no atomics needed. */
	if (lost)
		*lost += 1;
}

/* BPF_RB_FORCE_WAKEUP once more than a quarter of the ring is unconsumed,
 * BPF_RB_NO_WAKEUP otherwise. */
static __always_inline __u64 gadget_wakeup_flags(void *map)
{
	__u64 pending = bpf_ringbuf_query(map, BPF_RB_AVAIL_DATA);
	__u64 ring_size = bpf_ringbuf_query(map, BPF_RB_RING_SIZE);

	return pending > (ring_size >> 2) ? BPF_RB_FORCE_WAKEUP :
					    BPF_RB_NO_WAKEUP;
}

#ifndef GADGET_NO_BUF_RESERVE

static __always_inline void *gadget_reserve_buf(void *map, __u64 size)
{
	void *buf = bpf_ringbuf_reserve(map, size, 0);

	if (!buf)
		gadget_count_lost_sample();
	return buf;
}

static __always_inline void gadget_discard_buf(void *buf)
{
	bpf_ringbuf_discard(buf, BPF_RB_NO_WAKEUP);
}

static __always_inline long gadget_submit_buf(void *ctx, void *map, void *buf,
					      __u64 size)
{
	(void)ctx;
	(void)size; /* the reservation knows its size */
	bpf_ringbuf_submit(buf, map ? gadget_wakeup_flags(map) :
				      BPF_RB_NO_WAKEUP);
	return 0;
}

#endif /* GADGET_NO_BUF_RESERVE */

static __always_inline long gadget_output_buf(void *ctx, void *map, void *buf,
					      __u64 size)
{
	long err;

	(void)ctx; /* only a perf buffer would need it */
	err = bpf_ringbuf_output(map, buf, size, gadget_wakeup_flags(map));

	if (err)
		gadget_count_lost_sample();
	return err;
}

#endif /* __RIG_GADGET_BUFFER_H */

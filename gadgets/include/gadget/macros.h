/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: marker macros.
 *
 * The rig runtime never parses C. It discovers what a gadget offers by
 * reading the *names* of a few unused global variables in the object's BTF
 * (the .bss DATASEC). Name parts are joined with three underscores:
 *
 *   GADGET_TRACER(n, map, st)        gadget_tracer_<n>___<map>___<st>
 *   GADGET_PARAM(var)                gadget_param_<var>
 *   GADGET_SNAPSHOTTER(n, st, p...)  gadget_snapshotter_<n>___<st>___<p1>[___<p2>[___<p3>]]
 *   GADGET_ITER(n, st, p...)         gadget_iter_<n>___<st>___<p1>[___<p2>[___<p3>]]
 *   GADGET_MAPITER(n, map)           gadget_mapiter_<n>___<map>
 *   GADGET_ITER_TARGET_MAP(p, map)   gadget_mapelem_iter_target_<p>___<map>
 *   GADGET_SK_TARGET_MAP(p, map)     gadget_sk_prog_target_<p>___<map>
 *   GADGET_TRACER_MAP(map, size)     gadget_map_tracer_<map>   (see buffer.h)
 *
 * The names are Inspektor Gadget's, so objects built with either set of
 * headers declare the same things.
 * Tracer and snapshotter markers also declare a typed pointer so that the
 * event struct is emitted into BTF even if the program only ever uses it
 * through a void pointer.
 */
#ifndef __RIG_GADGET_MACROS_H
#define __RIG_GADGET_MACROS_H

/* Token pasting that expands its arguments first. */
#define __RIG_PASTE2(a, b) a##b
#define __RIG_PASTE(a, b) __RIG_PASTE2(a, b)

/* Number of variadic arguments, 1 to 3 (snapshotters take 1..3 programs). */
#define __RIG_PICK4(a1, a2, a3, n, ...) n
#define __RIG_NARGS(...) __RIG_PICK4(__VA_ARGS__, 3, 2, 1, 0)

#define __RIG_UNUSED __attribute__((unused))

/* Event stream `name`, read from ring buffer `map_name`, laid out as
 * `struct event_type`. */
#define GADGET_TRACER(name, map_name, event_type)                       \
	const void *gadget_tracer_##name##___##map_name##___##event_type \
		__RIG_UNUSED;                                            \
	const struct event_type *__rig_btf_tracer_##name __RIG_UNUSED;

/* Marks the `const volatile` global `name` as a user-settable parameter. */
#define GADGET_PARAM(name) const void *gadget_param_##name __RIG_UNUSED;

/* Periodically drained hash map `mapname`, exposed as datasource `name`. */
#define GADGET_MAPITER(name, mapname) \
	const void *gadget_mapiter_##name##___##mapname __RIG_UNUSED;

/* `const void *<kind><name>___<type>___<p1>[___<p2>[___<p3>]]`: the marker
 * of an iterator datasource and its one to three programs. */
#define __RIG_PROGS_1(kind, name, type, p1) \
	const void *kind##name##___##type##___##p1 __RIG_UNUSED;
#define __RIG_PROGS_2(kind, name, type, p1, p2) \
	const void *kind##name##___##type##___##p1##___##p2 __RIG_UNUSED;
#define __RIG_PROGS_3(kind, name, type, p1, p2, p3)                    \
	const void *kind##name##___##type##___##p1##___##p2##___##p3 \
		__RIG_UNUSED;
#define __RIG_PROGS(kind, name, type, ...)                         \
	__RIG_PASTE(__RIG_PROGS_, __RIG_NARGS(__VA_ARGS__))(kind, name, \
							  type, __VA_ARGS__)

/* Snapshot datasource `name` of `struct type` rows, produced by one to
 * three iterator programs (their union is the snapshot). */
#define GADGET_SNAPSHOTTER(name, type, ...)                         \
	const struct type *__rig_btf_snapshotter_##name __RIG_UNUSED; \
	__RIG_PROGS(gadget_snapshotter_, name, type, __VA_ARGS__)

/* Iterator datasource `name` of `struct type` rows, produced by one to
 * three `iter/...` programs (task, tcp, udp, bpf_map_elem…); its output is
 * the union of their rows. The newer name of GADGET_SNAPSHOTTER. */
#define GADGET_ITER(name, type, ...)                          \
	const struct type *__rig_btf_iter_##name __RIG_UNUSED; \
	__RIG_PROGS(gadget_iter_, name, type, __VA_ARGS__)

/* Binds the `iter/bpf_map_elem` program `prog_name` to the map `mapname` of
 * this object: the kernel needs the map when the iterator is attached. Use
 * with GADGET_ITER(name, type, prog_name). */
#define GADGET_ITER_TARGET_MAP(prog_name, mapname)                       \
	const void *gadget_mapelem_iter_target_##prog_name##___##mapname \
		__RIG_UNUSED;

/* Binds an sk_skb or sk_msg program to the sockmap or sockhash `mapname`
 * it is attached to. */
#define GADGET_SK_TARGET_MAP(prog_name, mapname)                    \
	const void *gadget_sk_prog_target_##prog_name##___##mapname \
		__RIG_UNUSED;

#endif /* __RIG_GADGET_MACROS_H */

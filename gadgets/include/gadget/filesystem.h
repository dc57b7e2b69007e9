/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rig gadget ABI: file paths.
 *
 * get_path_str(&file->f_path) turns a struct path into an absolute path
 * string, crossing mount points up to the root of the task's mount tree.
 * The string is assembled right to left in a per-CPU scratch buffer
 * (buf_t, obtained with get_buf()) and a pointer into it is returned:
 * copy it out at once with bpf_probe_read_kernel_str(), the next call on
 * the same CPU overwrites it.
 *
 * Limits: at most GADGET_PATH_MAX - 1 characters and
 * GADGET_PATH_MAX_COMPONENTS directory levels. When a path is longer, its
 * leading components are dropped (the string still starts with '/').
 * Objects outside any mounted tree (pipes, sockets, memfd) give their
 * dentry name.
 */
#ifndef __RIG_GADGET_FILESYSTEM_H
#define __RIG_GADGET_FILESYSTEM_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define GADGET_PATH_MAX 512
#define GADGET_PATH_MAX_COMPONENTS 64
#define GADGET_NAME_LIMIT 255 /* longest single path component */

/* The path is built in the first half of the scratch buffer; the second half
 * is slack that lets the verifier prove every bounded write stays inside. */
#define GADGET_SCRATCH_HALF 4096
#define GADGET_SCRATCH_SIZE (2 * GADGET_SCRATCH_HALF)

enum buf_idx_e {
	STRING_BUF_IDX,
	MAX_BUFFERS,
};

typedef struct simple_buf {
	__u8 buf[GADGET_SCRATCH_SIZE];
} buf_t;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_BUFFERS);
	__type(key, __u32);
	__type(value, buf_t);
} gadget_scratch_bufs SEC(".maps");

/* Per-CPU scratch buffer number `idx` (< MAX_BUFFERS). */
static __always_inline buf_t *get_buf(int idx)
{
	__u32 key = idx;

	return bpf_map_lookup_elem(&gadget_scratch_bufs, &key);
}

/* struct mount embeds the struct vfsmount that paths point to. */
static __always_inline struct mount *gadget_real_mount(struct vfsmount *mnt)
{
	return (struct mount *)((char *)mnt -
				bpf_core_field_offset(struct mount, mnt));
}

/* Inspektor Gadget's names for the steps of a path walk. */
static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
	return gadget_real_mount(mnt);
}

static __always_inline struct dentry *
get_mnt_root_ptr_from_vfsmnt(struct vfsmount *vfsmnt)
{
	return BPF_CORE_READ(vfsmnt, mnt_root);
}

static __always_inline struct dentry *
get_d_parent_ptr_from_dentry(struct dentry *dentry)
{
	return BPF_CORE_READ(dentry, d_parent);
}

static __always_inline struct qstr get_d_name_from_dentry(struct dentry *dentry)
{
	return BPF_CORE_READ(dentry, d_name);
}

/* Like get_path_str() but returns at most size - 1 characters
 * (0 < size <= GADGET_SCRATCH_HALF). NULL on bad size or no scratch. */
static __always_inline void *get_path_str_with_size(const struct path *path,
						    __u32 size)
{
	struct path p;
	struct dentry *dentry, *parent, *mnt_root;
	struct vfsmount *vfsmnt;
	struct mount *mnt, *mnt_parent;
	struct qstr name;
	buf_t *scratch;
	__u32 end = GADGET_SCRATCH_HALF - 1; /* index of the final NUL */
	__u32 pos = end;
	__u32 min_pos;
	__u32 len;
	int i;

	if (size == 0 || size > GADGET_SCRATCH_HALF)
		return NULL;
	min_pos = GADGET_SCRATCH_HALF - size;

	scratch = get_buf(STRING_BUF_IDX);
	if (!scratch)
		return NULL;
	scratch->buf[end] = '\0';

	if (bpf_probe_read_kernel(&p, sizeof(p), path))
		return NULL;
	dentry = p.dentry;
	vfsmnt = p.mnt;
	mnt = gadget_real_mount(vfsmnt);
	mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

	for (i = 0; i < GADGET_PATH_MAX_COMPONENTS; i++) {
		mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		parent = BPF_CORE_READ(dentry, d_parent);

		if (dentry == mnt_root || dentry == parent) {
			if (dentry != mnt_root)
				break; /* detached: not under this mount */
			if (mnt == mnt_parent)
				break; /* root of the mount tree: done */
			/* Continue from where this mount is attached. */
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			vfsmnt = (struct vfsmount *)((char *)mnt +
				bpf_core_field_offset(struct mount, mnt));
			continue;
		}

		name = BPF_CORE_READ(dentry, d_name);
		len = name.len;
		if (len == 0 || len > GADGET_NAME_LIMIT)
			break;
		/* Room for "/<name>" in front of pos? */
		if (pos < min_pos + len + 1)
			break;
		pos -= len;
		pos &= GADGET_SCRATCH_HALF - 1;
		len &= GADGET_NAME_LIMIT;
		bpf_probe_read_kernel(&scratch->buf[pos], len, name.name);
		pos -= 1;
		pos &= GADGET_SCRATCH_HALF - 1;
		scratch->buf[pos] = '/';
		dentry = parent;
	}

	if (pos == end) {
		if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
			/* The path is a root directory. */
			pos = end - 1;
			scratch->buf[pos] = '/';
		} else {
			/* Not in a mounted tree: use the dentry's own name. */
			name = BPF_CORE_READ(dentry, d_name);
			bpf_probe_read_kernel_str(&scratch->buf[0],
						  GADGET_NAME_LIMIT + 1,
						  name.name);
			pos = 0;
		}
	}

	return &scratch->buf[pos & (GADGET_SCRATCH_HALF - 1)];
}

/* Absolute path of `path`, at most GADGET_PATH_MAX - 1 characters. */
static __always_inline void *get_path_str(const struct path *path)
{
	return get_path_str_with_size(path, GADGET_PATH_MAX);
}

/* The struct file behind descriptor `fd_num` of the current task, or NULL. */
static __always_inline struct file *get_struct_file_for_fd(int fd_num)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds;
	struct file *f = NULL;
	unsigned int max_fds;

	if (fd_num < 0)
		return NULL;
	max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	if ((unsigned int)fd_num >= max_fds)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd_num]);
	return f;
}

/* Copies the absolute path of the current task's descriptor `fd_num` into
 * buf (buf_len <= GADGET_SCRATCH_HALF). Returns the length copied including
 * the NUL, or a negative value. */
static __always_inline long read_full_path_of_open_file_fd(int fd_num,
							   char *buf,
							   __u64 buf_len)
{
	struct file *file = get_struct_file_for_fd(fd_num);
	struct path f_path;
	void *str;

	if (!file)
		return -1;
	if (bpf_core_read(&f_path, sizeof(f_path), &file->f_path))
		return -1;
	str = get_path_str_with_size(&f_path, buf_len);
	if (!str)
		return -1;
	return bpf_probe_read_kernel_str(buf, buf_len, str);
}

#endif /* __RIG_GADGET_FILESYSTEM_H */

/*
 * The container's /proc and /sys, the masked and read-only paths, and
 * the switch of root: pivot_root with the old root detached, or chroot
 * where pivot_root cannot work.
 */
#ifndef LR_ROOTFS_H
#define LR_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

struct name_list;

/* A new procfs for the container's pid namespace (or, with the host's
 * pid namespace, a recursive bind of the host's /proc, which is all a
 * user namespace may have then: the mounts below it that came along
 * are added to HOST_MOUNTS, for rootfs_protect to cover). */
int rootfs_mount_proc(int rootfd, bool pid_private,
		      struct name_list *host_mounts, char *err, size_t errlen);

/* sysfs read-only; a read-only recursive bind of the host's /sys when
 * the network namespace is not ours to mount sysfs for (the mounts
 * below it that came along are added to HOST_MOUNTS). */
int rootfs_mount_sys(int rootfd, struct name_list *host_mounts, char *err,
		     size_t errlen);

/* Masks /proc/kcore, /proc/keys, ... and the host's mounts in
 * HOST_MOUNTS (paths from the root, sorted here; files under an empty
 * read-only file, directories under an empty read-only tmpfs) and makes
 * /proc/sys, /proc/irq, ... read-only. */
int rootfs_protect(int rootfd, struct name_list *host_mounts, char *err,
		   size_t errlen);

/* --read-only: the root mount (not the ones on it) read-only. */
int rootfs_make_read_only(char *err, size_t errlen);

/*
 * Makes ROOTFD the root: pivot_root(".", ".") and a lazy unmount of the
 * old root.  With NO_PIVOT, or when pivot_root fails with EINVAL (the
 * host root is an initramfs), moves the root mount over "/" and chroots
 * into it; *chrooted says so.
 */
int rootfs_enter(int rootfd, bool no_pivot, bool *chrooted, char *err,
		 size_t errlen);

#endif

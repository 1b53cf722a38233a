/*
 * The container's /dev: a tmpfs holding binds of the host's null, zero,
 * full, random, urandom and tty (device nodes made in a user namespace
 * would not work: its file systems are nodev), a private devpts
 * instance with ptmx, /dev/shm, /dev/mqueue and the fd, stdin, stdout,
 * stderr links.  Each host node is checked to be the device it should
 * be before it is bound, so a replaced /dev/null on the host side of a
 * nested setup cannot smuggle another file in.
 */
#ifndef LR_DEVFS_H
#define LR_DEVFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* /dev/shm's size without --shm-size, as podman's. */
#define DEVFS_SHM_DEFAULT (64ULL << 20)

/*
 * Builds /dev below ROOTFD.  PTS_GID_MAPPED says whether gid 5 (tty)
 * exists in the container, for devpts's gid= option.  IPC_PRIVATE: a
 * new mqueue instance can be mounted (else the host's is bound).
 * SHM_SIZE: bytes of /dev/shm.
 */
int devfs_setup(int rootfd, bool pts_gid_mapped, bool ipc_private,
		uint64_t shm_size, char *err, size_t errlen);

/* Opens a new pseudo-terminal on the container's devpts: returns the
 * master, *slave gets the peer (O_NOCTTY).  After devfs_setup. */
int devfs_open_pty(int rootfd, int *slave, char *err, size_t errlen);

/* Binds the terminal SLAVE onto /dev/console. */
int devfs_bind_console(int rootfd, int slave, char *err, size_t errlen);

#endif

/*
 * Messages between the launcher and the container's first process while
 * the container is built: a SOCK_SEQPACKET pair, one small record per
 * message, optionally carrying a file descriptor.
 */
#ifndef LR_SYNC_H
#define LR_SYNC_H

enum sync_msg {
	SYNC_NS_READY = 1, /* child: namespaces exist (maps written if self) */
	SYNC_MAPPED,       /* launcher: maps written, cgroups joined */
	SYNC_MOUNT_READY,  /* child: / is private, layerfs may mount */
	SYNC_MOUNTED,      /* launcher: layerfs is serving */
	SYNC_PTY,          /* child: here is the terminal's master (fd) */
	SYNC_STARTED,      /* child: the command runs (value: its pid) */
};

/* Sends a message, with FD attached when fd >= 0.  0 or -errno. */
int sync_send(int sock, enum sync_msg msg, int value, int fd);
/*
 * Waits for a message.  -EPIPE when the peer is gone (it exited), -EPROTO
 * on an unexpected message.  *fd (may be NULL) gets an attached fd or -1.
 */
int sync_recv(int sock, enum sync_msg want, int *value, int *fd);
/* Waits for whichever message comes next (for senders that race). */
int sync_recv_any(int sock, enum sync_msg *msg, int *value, int *fd);

#endif

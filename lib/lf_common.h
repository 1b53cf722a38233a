/* Small helpers shared by layerfs, layerrun and layertool. */
#ifndef LF_COMMON_H
#define LF_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#define LF_VERSION "0.1.0"

#define LF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LF_LIKELY(x) __builtin_expect(!!(x), 1)
#define LF_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Retry a system call interrupted by a signal. */
#define LF_RETRY(expr)                                                         \
	({                                                                     \
		long lf_retry_r_;                                              \
		do                                                             \
			lf_retry_r_ = (long)(expr);                            \
		while (lf_retry_r_ == -1 && errno == EINTR);                   \
		lf_retry_r_;                                                   \
	})

/* Closes an fd on scope exit: `int fd LF_AUTOCLOSE = -1;` */
static inline void lf_autoclose_(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define LF_AUTOCLOSE __attribute__((cleanup(lf_autoclose_)))

/* Prints "PROG: message" on stderr.  One line, no trailing newline needed. */
void lf_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* lf_err, then _exit(status): for a forked child, which must not run
 * the parent's atexit handlers or flush its stdio. */
void lf_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Prints "PROG: warning: message". */
void lf_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies IN to OUT (SIZE bytes, always terminated) with each control
 * byte (below 0x20, and DEL) written as \xNN, and a backslash as \\: a
 * name from a layer or an archive may hold a newline, to forge a line of
 * its own, or a terminal's escape sequence.  Bytes from 0x80 up pass as
 * they are: UTF-8 names stay readable, and a lone C1 byte is no control
 * to a UTF-8 terminal.  lf_err, lf_warn and lf_print_line do it for every
 * message.  Returns the length written. */
size_t lf_escape_controls(const char *in, char *out, size_t size);
/* Prints one line, escaped as above, and a newline, on F. */
void lf_print_line(FILE *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets the program name used by lf_err/lf_warn. */
void lf_set_progname(const char *name);
/* Where lf_err, lf_warn and lf_die write (stderr until set): a child
 * whose stderr is no longer its caller's can still tell it why it
 * failed. */
void lf_set_message_fd(int fd);
const char *lf_progname(void);

/* Full write of a buffer to an fd; 0 or -errno. */
int lf_write_all(int fd, const void *buf, size_t len);
/* Reads the rest of fd into a NUL-terminated malloc'd buffer; -EFBIG past
 * MAX bytes.  len may be NULL. */
int lf_read_fd(int fd, size_t max, char **out, size_t *len);
/* Reads a whole small file below dirfd (not through a symlink) the same
 * way, up to LF_READ_FILE_MAX bytes. */
#define LF_READ_FILE_MAX (64u << 20)
int lf_read_file_at(int dirfd, const char *path, char **out, size_t *len);
/* Writes a file atomically: tmp in the same directory, fsync, rename. */
int lf_write_file_atomic_at(int dirfd, const char *name, const void *buf,
			    size_t len, mode_t mode);
/* The same without the fsync, for runtime files that mean nothing after a
 * reboot (a launcher's state, a container's init layer): readers still
 * never see half a file, and a start saves a disk flush per file. */
int lf_replace_runtime_file_at(int dirfd, const char *name, const void *buf,
			       size_t len, mode_t mode);

/* Parses a non-negative decimal number that must fill the whole string. */
int lf_parse_u64(const char *s, uint64_t *out);

#endif

#include "lf_common.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *progname = "layerfs";
static int message_fd = STDERR_FILENO;

void lf_set_message_fd(int fd)
{
	message_fd = fd;
}

void lf_set_progname(const char *name)
{
	const char *slash = strrchr(name, '/');
	progname = slash ? slash + 1 : name;
}

const char *lf_progname(void)
{
	return progname;
}

size_t lf_escape_controls(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	if (size == 0)
		return 0;
	for (const unsigned char *c = (const unsigned char *)in; *c; c++) {
		bool control = *c < 0x20 || *c == 0x7f;
		size_t need = control ? 4 : *c == '\\' ? 2 : 1;
		if (n + need >= size)
			break;
		if (*c == '\\') { /* a name's own "\x0a" is no escape */
			out[n++] = '\\';
			out[n++] = '\\';
		} else if (control) {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[*c >> 4];
			out[n++] = hex[*c & 15];
		} else {
			out[n++] = (char)*c;
		}
	}
	out[n] = 0;
	return n;
}

void lf_print_line(FILE *f, const char *fmt, ...)
{
	char raw[8192], line[4 * sizeof(raw)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	lf_escape_controls(raw, line, sizeof(line));
	fputs(line, f);
	fputc('\n', f);
}

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
	char msg[4096], line[4096];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	int n = snprintf(line, sizeof(line), "%s: %s", progname, prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	size_t len = (size_t)n + lf_escape_controls(msg, line + n,
						    sizeof(line) - (size_t)n);
	if (len + 1 < sizeof(line)) {
		line[len++] = '\n';
		line[len] = 0;
	}
	/* One write so concurrent messages do not interleave mid-line. */
	if (write(message_fd, line, len) < 0)
		return;
}

void lf_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
}

void lf_die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
	_exit(status);
}

void lf_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage("warning: ", fmt, ap);
	va_end(ap);
}

int lf_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int lf_read_fd(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (used + 1 >= cap) {
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + used, cap - used - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	if (used > max) {
		free(buf);
		return -EFBIG;
	}
	buf[used] = 0;
	*out = buf;
	if (len)
		*len = used;
	return 0;
}

int lf_read_file_at(int dirfd, const char *path, char **out, size_t *len)
{
	int fd LF_AUTOCLOSE =
		openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	return lf_read_fd(fd, LF_READ_FILE_MAX, out, len);
}

static int replace_file_at(int dirfd, const char *name, const void *buf,
			   size_t len, mode_t mode, bool durable)
{
	char tmp[NAME_MAX + 1];
	if (snprintf(tmp, sizeof(tmp), ".%s.tmp%ld", name, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = openat(dirfd, tmp,
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			mode);
	if (fd < 0)
		return -errno;
	int r = lf_write_all(fd, buf, len);
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int lf_write_file_atomic_at(int dirfd, const char *name, const void *buf,
			    size_t len, mode_t mode)
{
	return replace_file_at(dirfd, name, buf, len, mode, true);
}

int lf_replace_runtime_file_at(int dirfd, const char *name, const void *buf,
			       size_t len, mode_t mode)
{
	return replace_file_at(dirfd, name, buf, len, mode, false);
}

int lf_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

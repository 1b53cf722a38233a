#include "fuse_check.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strfmt.h"

int fuse_device_check(char *err, size_t errlen)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	int e = errno;
	struct stat st;
	if (e == ENOENT)
		lr_fmt(err, errlen,
		       "/dev/fuse is missing: as root, modprobe fuse (in a "
		       "container: start it with --device /dev/fuse)");
	else if ((e == EACCES || e == EPERM) && stat("/dev/fuse", &st) == 0)
		lr_fmt(err, errlen,
		       "/dev/fuse (mode %04o) is not accessible to uid %u: as "
		       "root, chmod 0666 /dev/fuse (the mode most distributions "
		       "give it)",
		       (unsigned)(st.st_mode & 07777), (unsigned)getuid());
	else
		lr_fmt(err, errlen, "cannot open /dev/fuse: %s", strerror(e));
	return -e;
}

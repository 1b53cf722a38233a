#include "sealed_init.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_common.h"
#include "strfmt.h"

/* init_image.c */
extern const unsigned char lr_init_image[];
extern const unsigned char lr_init_image_end[];

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

int sealed_init_create(void)
{
	/* MFD_EXEC: kernels with vm.memfd_noexec would make it
	 * unexecutable otherwise; older kernels do not know the flag. */
	int fd = memfd_create("layerrun-init",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("layerrun-init",
				  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	size_t len = (size_t)(lr_init_image_end - lr_init_image);
	int r = lf_write_all(fd, lr_init_image, len);
	if (r == 0 && fchmod(fd, 0555) < 0)
		r = -errno;
	if (r == 0 &&
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int sealed_init_exec(int memfd, pid_t pid)
{
	char arg[24];
	lr_fmt(arg, sizeof(arg), "%d", (int)pid);
	char *argv[] = { (char *)"layerrun-init", arg, NULL };
	char *envp[] = { NULL };
	execveat(memfd, "", argv, envp, AT_EMPTY_PATH);
	return -errno;
}

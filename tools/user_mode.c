#include "user_mode.h"

#include <sys/stat.h>

/* 0 until user_mode_init: then the umask, still in force, applies. */
static mode_t user_umask;

void user_mode_init(void)
{
	user_umask = umask(0);
}

mode_t user_mode(mode_t mode)
{
	return mode & ~user_umask;
}

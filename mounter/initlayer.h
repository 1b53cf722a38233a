/*
 * The init layer: a read-only layer between the upper layer and the
 * image (layerfs initdir=) holding /etc/hosts, /etc/hostname and
 * /etc/resolv.conf, and the empty /proc, /sys and /dev mount points
 * where the image lacks them.
 * Written before the mount, never seen by a commit, since nothing of it
 * is in the upper layer; each run gets the host's current files.
 */
#ifndef LR_INITLAYER_H
#define LR_INITLAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "run_opts.h"

struct initlayer_spec {
	const char *hostname;
	bool host_net;            /* --net host: start from the host's hosts */
	char *const *dns;         /* --dns, replacing the host's nameservers */
	size_t ndns;
	const struct add_host *hosts; /* --add-host */
	size_t nhosts;
	char *const *lowers;      /* the image layers, top first, whose
				     directories' owners and modes the
				     init layer's directories copy */
	size_t nlowers;
};

/* Fills DIR (which exists and is empty). */
int initlayer_write(const char *dir, const struct initlayer_spec *s,
		    char *err, size_t errlen);

/* The content of /etc/resolv.conf for the container: the host's, with its
 * nameservers replaced by DNS when given.  malloc'd. */
char *initlayer_resolv_conf(const char *host, char *const *dns, size_t ndns);

#endif

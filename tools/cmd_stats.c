/*
 * layertool stats FILE: the copy-on-write counters layerfs writes with
 * -o stats=FILE (on SIGUSR1 and at unmount), as a table.  Counters this
 * version does not know are shown under their own names, so a newer
 * layerfs still reads fully.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "fsutil.h"
#include "json_util.h"
#include "lf_common.h"
#include "progress.h"
#include "strset.h"

static const char stats_help[] =
	"usage: layertool stats FILE\n"
	"\n"
	"Shows the statistics file layerfs writes when mounted with\n"
	"-o stats=FILE (kill -USR1 the daemon to refresh it; it is also\n"
	"written at unmount).\n"
	"\n"
	"Exit status: 0 shown, 1 usage, 2 FILE unreadable or not a layerfs\n"
	"statistics file.\n";

enum unit { U_COUNT, U_BYTES, U_KIB, U_NS, U_MS, U_BOOL };

struct field {
	const char *key, *label;
	enum unit unit;
};

struct section {
	const char *title;
	struct field fields[10];
};

static const struct section sections[] = {
	{ "transport",
	  { { "passthrough", "FUSE passthrough", U_BOOL },
	    { "passthrough_opens", "opens served by passthrough", U_COUNT },
	    { "writeback", "kernel writeback cache", U_BOOL },
	    { "io_uring_workers", "io_uring workers", U_COUNT },
	    { "io_uring_workers_pinned", "of them bound to their CPU",
	      U_COUNT },
	    { "io_uring_requests", "requests answered on io_uring", U_COUNT },
	    { "dev_fuse_workers", "/dev/fuse workers", U_COUNT },
	    { "dev_fuse_workers_started", "/dev/fuse workers started",
	      U_COUNT },
	    { "dev_fuse_spin", "/dev/fuse workers watch for requests",
	      U_BOOL },
	    { "dev_fuse_spin_hits", "requests taken while watching",
	      U_COUNT } } },
	{ "copy-up",
	  { { "copyups", "files copied up", U_COUNT },
	    { "copyup_bytes", "data copied", U_BYTES },
	    { "copyup_reflinked", "data shared by reflink", U_BYTES },
	    { "copyup_ns", "time spent copying up", U_NS },
	    { "meta_copyups", "metadata-only copies", U_COUNT },
	    { "dir_copyups", "directories copied up", U_COUNT } } },
	{ "whiteouts and renames",
	  { { "whiteouts", "whiteouts created", U_COUNT },
	    { "opaque_dirs", "directories made opaque", U_COUNT },
	    { "redirects", "directories renamed (redirects)", U_COUNT },
	    { "index_links", "hard links kept together", U_COUNT },
	    { "index_stale", "stale index entries taken out", U_COUNT },
	    { "index_released", "index entries of gone links removed",
	      U_COUNT } } },
	{ "lookups and listings",
	  { { "lookups", "lookups", U_COUNT },
	    { "negative_lookups", "lookups of missing names", U_COUNT },
	    { "dir_loads", "directory listings built", U_COUNT },
	    { "dir_load_layers", "layer directories read for them", U_COUNT },
	    { "dir_load_misses", "layers tried that lacked them", U_COUNT },
	    { "dir_evictions", "listings evicted from the cache", U_COUNT },
	    { "udba_reloads", "listings read again (udba=reval)",
	      U_COUNT } } },
	{ "programs",
	  { { "exec_prefetches", "lower programs prefetched", U_COUNT },
	    { "exec_prefetch_bytes", "data prefetched for them",
	      U_BYTES } } },
	{ "memory",
	  { { "nodes", "nodes in the table", U_COUNT },
	    { "dcache_bytes", "directory cache", U_BYTES },
	    { "rss_kib", "resident memory of the daemon", U_KIB } } },
};

static void value_text(int64_t v, enum unit u, char *buf, size_t size)
{
	char h[32];
	switch (u) {
	case U_BYTES:
		snprintf(buf, size, "%s", human_size((uint64_t)v, h));
		break;
	case U_KIB:
		snprintf(buf, size, "%s", human_size((uint64_t)v * 1024, h));
		break;
	case U_NS:
		if (v >= 1000000000)
			snprintf(buf, size, "%.2f s", (double)v / 1e9);
		else
			snprintf(buf, size, "%.2f ms", (double)v / 1e6);
		break;
	case U_MS:
		snprintf(buf, size, "%.1f s", (double)v / 1e3);
		break;
	default:
		snprintf(buf, size, "%" PRId64, v);
	}
}

static void show_layers(json_object *layers)
{
	printf("\nlayers (top first)\n  %-3s %-6s %10s  %s\n", "#", "kind",
	       "lookups", "path");
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		int64_t idx = (int64_t)i, lookups = 0;
		jint(l, "index", &idx);
		jint(l, "lookups", &lookups);
		const char *kind = jstr(l, "kind"), *path = jstr(l, "path");
		printf("  %-3" PRId64 " %-6s %10" PRId64 "  %s\n", idx,
		       kind ? kind : "?", lookups, path ? path : "?");
	}
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(stats_help, stdout);
			return LT_EXIT_OK;
		}
		return usage_error("stats", NULL);
	}
	if (argc - optind != 1)
		return usage_error("stats", "stats wants one FILE");
	const char *file = argv[optind];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	char *text = NULL;
	size_t len = 0;
	int r = fd < 0 ? -errno : lf_read_fd(fd, 16u << 20, &text, &len);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		lf_err("cannot read '%s': %s", file, strerror(-r));
		return LT_EXIT_INPUT;
	}
	json_object *o;
	char jerr[200];
	r = json_parse(text, len, &o, jerr, sizeof(jerr));
	free(text);
	int64_t version = 0;
	if (r == 0 && (!json_object_is_type(o, json_type_object) ||
		       !jint(o, "version", &version))) {
		snprintf(jerr, sizeof(jerr), "no version field");
		json_object_put(o);
		r = -EINVAL;
	}
	if (r < 0) {
		lf_err("'%s' is not a layerfs statistics file: %s", file, jerr);
		return LT_EXIT_INPUT;
	}
	if (version != 1)
		lf_warn("'%s' has version %" PRId64 "; this layertool knows 1",
			file, version);
	int64_t up = 0;
	char buf[64];
	printf("layerfs statistics: %s\n", file);
	if (jint(o, "uptime_ms", &up)) {
		value_text(up, U_MS, buf, sizeof(buf));
		printf("mounted for %s\n", buf);
	}
	struct strset known;
	strset_init(&known);
	strset_add(&known, "version");
	strset_add(&known, "uptime_ms");
	strset_add(&known, "layers");
	for (size_t s = 0; s < LF_ARRAY_SIZE(sections); s++) {
		printf("\n%s\n", sections[s].title);
		for (size_t f = 0; f < LF_ARRAY_SIZE(sections[s].fields); f++) {
			const struct field *fd = &sections[s].fields[f];
			if (!fd->key)
				break;
			strset_add(&known, fd->key);
			json_object *b;
			if (fd->unit == U_BOOL) {
				bool is = json_object_object_get_ex(o, fd->key,
								    &b) &&
					  json_object_is_type(
						  b, json_type_boolean);
				printf("  %-36s %14s\n", fd->label,
				       !is ? "-"
				       : json_object_get_boolean(b) ? "yes"
								    : "no");
				continue;
			}
			int64_t v;
			if (!jint(o, fd->key, &v)) {
				printf("  %-36s %14s\n", fd->label, "-");
				continue;
			}
			value_text(v, fd->unit, buf, sizeof(buf));
			printf("  %-36s %14s\n", fd->label, buf);
		}
	}
	bool other = false;
	json_object_object_foreach(o, key, val)
	{
		if (strset_has(&known, key) ||
		    !json_object_is_type(val, json_type_int))
			continue;
		if (!other)
			printf("\nother counters\n");
		other = true;
		printf("  %-36s %14" PRId64 "\n", key,
		       json_object_get_int64(val));
	}
	strset_free(&known);
	json_object *layers = jarr(o, "layers");
	if (layers)
		show_layers(layers);
	json_object_put(o);
	return LT_EXIT_OK;
}

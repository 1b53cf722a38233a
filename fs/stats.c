#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dcache.h"
#include "dev_spin.h"
#include "layerfs.h"
#include "lf_common.h"
#include "node.h"
#include "session_loop.h"
#include "uring.h"

uint64_t lfs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int lfs_stats_init(struct lfs_stats *s, unsigned nlayers)
{
	memset(s, 0, sizeof(*s));
	s->layer_lookups = calloc(nlayers ? nlayers : 1,
				  sizeof(atomic_uint_fast64_t));
	if (!s->layer_lookups)
		return -ENOMEM;
	s->mount_time_ns = lfs_now_ns();
	return 0;
}

void lfs_stats_free(struct lfs_stats *s)
{
	free(s->layer_lookups);
	s->layer_lookups = NULL;
}

static uint64_t get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	long v = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

int lfs_stats_write(struct lfs *fs, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	struct lfs_stats *s = &fs->stats;
	fprintf(f, "{\n  \"version\": 1,\n");
	fprintf(f, "  \"uptime_ms\": %llu,\n",
		(unsigned long long)((lfs_now_ns() - s->mount_time_ns) / 1000000));
	/* What INIT settled: how file data moves (README, Statistics). */
	bool settled = atomic_load_explicit(&fs->settled,
					    memory_order_acquire);
	fprintf(f, "  \"passthrough\": %s,\n  \"writeback\": %s,\n",
		settled && fs->passthrough ? "true" : "false",
		settled && fs->writeback ? "true" : "false");
	fprintf(f, "  \"io_uring_workers\": %u,\n", uring_workers());
	fprintf(f, "  \"io_uring_workers_pinned\": %u,\n",
		uring_workers_pinned());
	fprintf(f, "  \"io_uring_requests\": %llu,\n",
		(unsigned long long)uring_requests());
	fprintf(f, "  \"dev_fuse_workers\": %u,\n", session_loop_workers());
	fprintf(f, "  \"dev_fuse_workers_started\": %llu,\n",
		session_loop_workers_started());
	fprintf(f, "  \"dev_fuse_spin\": %s,\n",
		dev_spin_enabled() ? "true" : "false");
	fprintf(f, "  \"dev_fuse_spin_hits\": %llu,\n",
		(unsigned long long)dev_spin_hits());
#define FIELD(name) \
	fprintf(f, "  \"%s\": %llu,\n", #name, (unsigned long long)get(&s->name))
	FIELD(copyups);
	FIELD(copyup_bytes);
	FIELD(copyup_reflinked);
	FIELD(copyup_ns);
	FIELD(meta_copyups);
	FIELD(passthrough_opens);
	FIELD(dir_copyups);
	FIELD(whiteouts);
	FIELD(opaque_dirs);
	FIELD(redirects);
	FIELD(index_links);
	FIELD(index_stale);
	FIELD(index_released);
	FIELD(lookups);
	FIELD(negative_lookups);
	FIELD(dir_loads);
	FIELD(dir_load_layers);
	FIELD(dir_load_misses);
	FIELD(dir_evictions);
	FIELD(udba_reloads);
	FIELD(exec_prefetches);
	FIELD(exec_prefetch_bytes);
#undef FIELD
	fprintf(f, "  \"nodes\": %zu,\n", node_count(fs));
	fprintf(f, "  \"dcache_bytes\": %zu,\n", dcache_total_bytes());
	fprintf(f, "  \"rss_kib\": %ld,\n", rss_kib());
	fprintf(f, "  \"layers\": [\n");
	for (int i = 0; i < fs->nlayers; i++) {
		const char *kind = fs->layers[i].kind == LAYER_UPPER ? "upper"
				   : fs->layers[i].kind == LAYER_INIT ? "init"
								       : "lower";
		fprintf(f, "    {\"index\": %d, \"kind\": \"%s\", \"path\": ", i,
			kind);
		json_string(f, fs->layers[i].path);
		fprintf(f, ", \"lookups\": %llu}%s\n",
			(unsigned long long)get(&s->layer_lookups[i]),
			i + 1 < fs->nlayers ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (fclose(f) != 0) {
		free(buf);
		return -EIO;
	}
	/* Write next to the target and rename: readers never see half. */
	char tmp[PATH_MAX];
	int r = 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		free(buf);
		return -ENAMETOOLONG;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		r = -errno;
	if (r == 0)
		r = lf_write_all(fd, buf, len);
	if (fd >= 0)
		close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	free(buf);
	return r;
}

void lfs_stats_save(struct lfs *fs)
{
	const char *path = fs->opt->stats_file;
	if (!path)
		return;
	int r = lfs_stats_write(fs, path);
	if (r < 0)
		lf_warn("cannot write stats to '%s': %s", path, strerror(-r));
}

/*
 * SIGUSR1's writes are made by a thread of their own, so that a slow
 * disk, or a statistics file inside this very mount, never holds up the
 * supervisor that takes the signal: it also starts the workers and takes
 * SIGTERM.  Signals that come while a write is under way make one more
 * write after it, not one each.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t tid;
	bool started, pending, quit;
} saver = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .wake = PTHREAD_COND_INITIALIZER };

static void *saver_main(void *arg)
{
	struct lfs *fs = arg;
	pthread_mutex_lock(&saver.lock);
	for (;;) {
		while (!saver.pending && !saver.quit)
			pthread_cond_wait(&saver.wake, &saver.lock);
		if (saver.quit)
			break;
		saver.pending = false;
		pthread_mutex_unlock(&saver.lock);
		const char *path = fs->opt->stats_file;
		int r = lfs_stats_write(fs, path);
		pthread_mutex_lock(&saver.lock);
		/* A write the unmount cut short (FILE inside the mount) is
		 * made again after it: no warning for that one. */
		if (r < 0 && !saver.quit)
			lf_warn("cannot write stats to '%s': %s", path,
				strerror(-r));
	}
	pthread_mutex_unlock(&saver.lock);
	return NULL;
}

void lfs_stats_save_later(struct lfs *fs)
{
	if (!fs->opt->stats_file)
		return;
	pthread_mutex_lock(&saver.lock);
	saver.pending = true;
	if (saver.started) {
		pthread_cond_signal(&saver.wake);
		pthread_mutex_unlock(&saver.lock);
		return;
	}
	/* The thread inherits the caller's mask: every signal blocked. */
	int r = pthread_create(&saver.tid, NULL, saver_main, fs);
	saver.started = r == 0;
	if (r != 0)
		saver.pending = false;
	pthread_mutex_unlock(&saver.lock);
	if (r != 0) {
		/* No thread to spare: write now rather than never. */
		lf_warn("cannot start the statistics writer: %s", strerror(r));
		lfs_stats_save(fs);
	}
}

void lfs_stats_saver_end(void)
{
	pthread_mutex_lock(&saver.lock);
	saver.quit = true;
	pthread_cond_signal(&saver.wake);
	pthread_mutex_unlock(&saver.lock);
}

void lfs_stats_saver_join(void)
{
	lfs_stats_saver_end();
	pthread_mutex_lock(&saver.lock);
	bool started = saver.started;
	saver.started = false;
	pthread_mutex_unlock(&saver.lock);
	if (started)
		pthread_join(saver.tid, NULL);
}

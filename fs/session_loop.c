/*
 * The request loop (session_loop.h).
 *
 * libfuse's own multi-threaded loop keeps one worker spare: a worker
 * that takes a request and finds no other one waiting starts a thread
 * before it handles the request, so every start of the pool puts a
 * thread creation in front of a request, and a container's first
 * requests (its start is nothing but a chain of them, each waited for)
 * made two or three threads that way, besides the thread libfuse's loop
 * starts its first worker in and the one that waited for SIGUSR1.
 *
 * Here the calling thread supervises: it starts the first worker, starts
 * each spare when a worker asks for one (so the asking worker goes on
 * with its request at once, and the thread is made on another CPU while
 * it does), retires what the pool no longer needs, and takes the
 * daemon's signals through a signalfd, the statistics' SIGUSR1 included.
 * A spare is made as soon as no worker is waiting, up to the maximum,
 * as libfuse does.  Workers beyond half the maximum that wait are
 * surplus.  This loop used to end one as soon as it finished a request
 * with that many waiting; under a steady load of a few clients the
 * number waiting crosses that line with nearly every request, and two
 * processes walking a tree made the pool start and end 573 threads in
 * 0.3 s, each start a clone, a stack and a worker whose caches
 * (dirfd_cache.h) begin empty.  So a surplus worker ends only once the
 * pool has not run out of waiting workers for RETIRE_AFTER_NS: a load
 * keeps what it needs while it lasts, and a burst's surplus goes once
 * it is over (as those workers finish their next requests).
 */
#include "session_loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "layerfs.h"
#include "lf_common.h"
#include "stats.h"

/* How long the pool keeps workers beyond half its maximum after it last
 * had none waiting.  A second: far above the gaps between the requests
 * of a busy client, short enough that a burst's threads are soon
 * given back. */
#define RETIRE_AFTER_NS 1000000000ull

/* Threads the pool runs, and has started since the mount (statistics);
 * one pool per daemon. */
static atomic_uint running;
static atomic_ullong started;

/* A coarse clock: read on every request that leaves no worker waiting,
 * where the time of a tick is precise enough. */
static uint64_t coarse_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct worker {
	struct pool *pool;
	pthread_t tid;
	bool done; /* returned, or about to: the supervisor joins it */
	struct worker *next;
};

struct pool {
	struct fuse_session *se;
	pthread_mutex_t lock;
	unsigned workers;    /* started and not ended */
	unsigned idle;	     /* of them, waiting for a request */
	unsigned max, max_idle;
	bool spare_wanted;   /* asked of the supervisor, not yet made */
	/* CLOCK_MONOTONIC_COARSE when a worker last took a request and
	 * left none waiting. */
	uint64_t all_busy_ns;
	int error;	     /* the first failed read, as -errno */
	int wake_fd;	     /* eventfd: a spare is wanted, or a worker ended */
	struct worker *list; /* every thread not yet joined */
};

static void wake_supervisor(struct pool *p)
{
	uint64_t one = 1;
	if (write(p->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is far from full: it is read at each wake. */
	}
}

static void free_buffer(void *arg)
{
	struct fuse_buf *buf = arg;
	free(buf->mem);
}

/* Took a request: asks for a spare when no other worker is left
 * waiting. */
static void claim(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->idle--;
	if (p->idle == 0)
		p->all_busy_ns = coarse_now_ns();
	bool ask = p->idle == 0 && p->workers < p->max && !p->spare_wanted;
	if (ask)
		p->spare_wanted = true;
	pthread_mutex_unlock(&p->lock);
	if (ask)
		wake_supervisor(p);
}

/* Done with a request: waits for the next, or ends if enough others
 * wait already and the pool has not been short of workers lately
 * (returns false then). */
static bool release(struct pool *p, struct worker *w)
{
	pthread_mutex_lock(&p->lock);
	bool stay = p->idle < p->max_idle ||
		    coarse_now_ns() - p->all_busy_ns < RETIRE_AFTER_NS;
	if (stay) {
		p->idle++;
	} else {
		p->workers--;
		w->done = true;
		atomic_fetch_sub(&running, 1);
	}
	pthread_mutex_unlock(&p->lock);
	return stay;
}

/* The session ended (R: what the last read returned) while W waited. */
static void leave(struct pool *p, struct worker *w, int r)
{
	pthread_mutex_lock(&p->lock);
	if (r < 0 && !p->error)
		p->error = r;
	p->idle--;
	p->workers--;
	w->done = true;
	atomic_fetch_sub(&running, 1);
	pthread_mutex_unlock(&p->lock);
	fuse_session_exit(p->se);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct fuse_buf buf = { .mem = NULL };
	/* Cancelled only while it waits for a request (at the end, by the
	 * supervisor), never in the middle of one. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(free_buffer, &buf);
	bool stay = true;
	int r = 0;
	while (stay && !fuse_session_exited(p->se)) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		r = fuse_session_receive_buf(p->se, &buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (r == -EINTR) {
			r = 0;
			continue;
		}
		/* 0: unmounted (libfuse has ended the session). */
		if (r <= 0)
			break;
		claim(p);
		fuse_session_process_buf(p->se, &buf);
		stay = release(p, w);
	}
	if (stay)
		leave(p, w, r < 0 ? r : 0);
	wake_supervisor(p);
	pthread_cleanup_pop(1);
	return NULL;
}

/* With the lock held. */
static int start_worker(struct pool *p)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->pool = p;
	int e = pthread_create(&w->tid, NULL, worker_main, w);
	if (e != 0) {
		free(w);
		return -e;
	}
	p->workers++;
	p->idle++;
	atomic_fetch_add(&running, 1);
	atomic_fetch_add(&started, 1);
	w->next = p->list;
	p->list = w;
	return 0;
}

/* Joins and frees the workers of LIST (taken off the pool). */
static void join_all(struct worker *list)
{
	while (list) {
		struct worker *w = list;
		list = w->next;
		pthread_join(w->tid, NULL);
		free(w);
	}
}

/* Joins the workers that ended, and returns how many remain. */
static unsigned join_ended(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	struct worker *ended = NULL, **link = &p->list;
	while (*link) {
		struct worker *w = *link;
		if (w->done) {
			*link = w->next;
			w->next = ended;
			ended = w;
		} else {
			link = &w->next;
		}
	}
	unsigned left = p->workers;
	pthread_mutex_unlock(&p->lock);
	join_all(ended);
	return left;
}

static void stop_all(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	for (struct worker *w = p->list; w; w = w->next)
		if (!w->done)
			pthread_cancel(w->tid);
	struct worker *list = p->list;
	p->list = NULL;
	pthread_mutex_unlock(&p->lock);
	join_all(list);
	atomic_store(&running, 0);
}

unsigned session_loop_workers(void)
{
	return atomic_load(&running);
}

unsigned long long session_loop_workers_started(void)
{
	return atomic_load(&started);
}

static void taken_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

void session_loop_block_signals(void)
{
	sigset_t set;
	taken_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A reply to a process that went away must not end the daemon. */
	signal(SIGPIPE, SIG_IGN);
}

/* Reads what woke the supervisor; false once the loop must end. */
static bool take_events(struct pool *p, struct lfs *fs, int sig_fd,
			const struct pollfd *pf)
{
	if (pf[1].revents & POLLIN) {
		struct signalfd_siginfo si;
		while (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGUSR1)
				lfs_stats_save_later(fs);
			else
				fuse_session_exit(p->se);
		}
	}
	if (pf[0].revents & POLLIN) {
		uint64_t n;
		if (read(p->wake_fd, &n, sizeof(n)) < 0) {
			/* EAGAIN: another wake read it already. */
		}
	}
	if (fuse_session_exited(p->se))
		return false;
	pthread_mutex_lock(&p->lock);
	bool spare = p->spare_wanted && p->workers < p->max;
	p->spare_wanted = false;
	int r = spare ? start_worker(p) : 0;
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		lf_warn("cannot start a worker thread: %s", strerror(-r));
	/* A pool that lost every worker serves nothing more. */
	return join_ended(p) > 0;
}

int session_loop_run(struct fuse_session *se, struct lfs *fs,
		     unsigned max_workers)
{
	struct pool p = {
		.se = se,
		.max = max_workers ? max_workers : 1,
	};
	p.max_idle = p.max / 2 ? p.max / 2 : 1;
	pthread_mutex_init(&p.lock, NULL);
	sigset_t set;
	taken_signals(&set);
	int sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	p.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r = sig_fd < 0 || p.wake_fd < 0 ? -errno : 0;
	if (r == 0) {
		pthread_mutex_lock(&p.lock);
		r = start_worker(&p);
		pthread_mutex_unlock(&p.lock);
	}
	if (r < 0)
		lf_err("cannot start the request loop: %s", strerror(-r));
	while (r == 0) {
		struct pollfd pf[2] = { { p.wake_fd, POLLIN, 0 },
					{ sig_fd, POLLIN, 0 } };
		if (poll(pf, 2, -1) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (!take_events(&p, fs, sig_fd, pf))
			break;
	}
	fuse_session_exit(se);
	stop_all(&p);
	if (r == 0)
		r = p.error;
	if (sig_fd >= 0)
		close(sig_fd);
	if (p.wake_fd >= 0)
		close(p.wake_fd);
	pthread_mutex_destroy(&p.lock);
	return r;
}

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
 * It watches the rings' workers for a stall by the same rule
 * (session_loop_watch_also; uring.c grows a ring's workers by it).
 *
 * How many workers.  Up to half the CPUs (the base: one on 1 or 2
 * CPUs, since every request also costs its client a CPU), a spare is
 * made as soon as no worker is waiting, as libfuse does.  Beyond the
 * base, only once every worker has been busy for STALL_NS or one waits
 * on the disk: each waiting worker is woken for the next request that
 * comes, while a busy one would have taken it from the queue as soon as
 * it was done, so workers beyond what the CPUs can run only add
 * wake-ups (eight processes walking a tree, 2 CPUs: 0.21-0.27 s with
 * this rule, 0.33-0.40 s with the eight workers the pool reached when
 * it made a spare whenever none waited).  Requests that block (a layer
 * that does not answer, a long copy-up, a disk read) are what the rest
 * of the maximum is for.  The supervisor watches for them, every
 * STALL_NS while the pool is short of waiting workers, and only then.
 *
 * Workers beyond the base end when they finish a request while another
 * waits, once the pool has grown none for RETIRE_AFTER_NS.  Ending them
 * as soon as half the maximum waited, as this loop used to, made two
 * processes walking a tree start and end 573 threads in 0.3 s, each a
 * clone, a stack and a worker whose caches begin empty: the number
 * waiting crossed that line with nearly every request.
 */
#include "session_loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "layerfs.h"
#include "lf_common.h"
#include "stats.h"
#include "thread_state.h"

#define STALL_NS SESSION_LOOP_STALL_NS
#define STALL_MS ((int)(STALL_NS / 1000000))

/* How long the pool keeps the workers it grew past its base after it
 * last grew.  A second: a burst's threads are soon given back, while a
 * load that keeps blocking keeps them. */
#define RETIRE_AFTER_NS 1000000000ull

/* Threads the pool runs, and has started since the mount (statistics);
 * one pool per daemon. */
static atomic_uint running;
static atomic_ullong started;

/* The other workers' look (session_loop_watch_also), whether it was
 * asked for, and the running loop's wake eventfd (-1 when none runs). */
static _Atomic(session_loop_look_fn) other_look;
static atomic_bool other_look_asked;
static pthread_mutex_t wake_fd_lock = PTHREAD_MUTEX_INITIALIZER;
static int running_wake_fd = -1;


struct worker {
	struct pool *pool;
	pthread_t tid;
	_Atomic pid_t task;   /* its thread id, for /proc (0: not yet known) */
	bool in_request;      /* between claim and release */
	bool done; /* returned, or about to: the supervisor joins it */
	struct worker *next;
};

struct pool {
	struct fuse_session *se;
	pthread_mutex_t lock;
	unsigned workers;    /* started and not ended */
	unsigned idle;	     /* of them, waiting for a request */
	unsigned base, max;  /* half the CPUs; threads= or four per CPU */
	bool spare_wanted;   /* asked of the supervisor, not yet made */
	/* Times the last waiting worker took a request (a spell with none
	 * waiting began), and that count at the supervisor's last look, made
	 * at looked_ns: unchanged, the spell now is one that had begun by
	 * then, or the load is gone.  No clock is read per request. */
	unsigned long busy_spells, seen_spells;
	uint64_t looked_ns;
	bool watching;       /* the supervisor looks every STALL_NS */
	bool looking_other;  /* and calls other_look then */
	uint64_t grown_ns;   /* when the pool last grew past its base */
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
 * waiting and the pool is below its base, or has the supervisor watch
 * for a stall when it is not. */
static void claim(struct pool *p, struct worker *w)
{
	bool wake = false;
	pthread_mutex_lock(&p->lock);
	w->in_request = true;
	p->idle--;
	if (p->idle == 0) {
		p->busy_spells++;
		if (p->workers < p->base) {
			wake = !p->spare_wanted;
			p->spare_wanted = true;
		} else if (p->workers < p->max && !p->watching) {
			wake = p->watching = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (wake)
		wake_supervisor(p);
}

/* Done with a request: waits for the next, or ends if it is beyond the
 * base, another worker waits and the pool has not grown lately (returns
 * false then). */
static bool release(struct pool *p, struct worker *w)
{
	pthread_mutex_lock(&p->lock);
	w->in_request = false;
	bool stay = p->workers <= p->base || p->idle == 0 ||
		    lfs_now_ns() - p->grown_ns < RETIRE_AFTER_NS;
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
	atomic_store(&w->task, gettid());
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
		claim(p, w);
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

/* Whether a worker in a request waits on the disk, where one more
 * worker would serve the requests behind it meanwhile, which a worker
 * on a CPU would soon take itself.  Under the lock, which a worker
 * takes only between requests: a look at /proc at most every STALL_NS,
 * while no worker waits. */
static bool one_waits_on_io(struct pool *p)
{
	for (struct worker *w = p->list; w; w = w->next) {
		pid_t task = atomic_load(&w->task);
		if (w->in_request && task > 0 && thread_waits_on_disk(task))
			return true;
	}
	return false;
}

void session_loop_watch_also(session_loop_look_fn look)
{
	atomic_store(&other_look, look);
}

void session_loop_look_soon(void)
{
	atomic_store(&other_look_asked, true);
	pthread_mutex_lock(&wake_fd_lock);
	uint64_t one = 1;
	if (running_wake_fd >= 0 &&
	    write(running_wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is far from full: it is read at each wake. */
	}
	pthread_mutex_unlock(&wake_fd_lock);
}

static void publish_wake_fd(int fd)
{
	pthread_mutex_lock(&wake_fd_lock);
	running_wake_fd = fd;
	pthread_mutex_unlock(&wake_fd_lock);
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
	if (p->watching) {
		uint64_t now = lfs_now_ns();
		bool same_spell = p->busy_spells == p->seen_spells;
		bool stalled = same_spell && now - p->looked_ns >= STALL_NS;
		if (p->idle == 0 && p->workers < p->max &&
		    (stalled || one_waits_on_io(p))) {
			spare = true;
			p->grown_ns = now;
		} else if (p->idle > 0 && same_spell) {
			p->watching = false; /* a quiet look: the load is gone */
		}
		p->seen_spells = p->busy_spells;
		p->looked_ns = now;
	}
	int r = spare ? start_worker(p) : 0;
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		lf_warn("cannot start a worker thread: %s", strerror(-r));
	session_loop_look_fn look = atomic_load(&other_look);
	if (look &&
	    (atomic_exchange(&other_look_asked, false) || p->looking_other))
		p->looking_other = look(lfs_now_ns());
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
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned half = cpus > 1 ? (unsigned)(cpus / 2) : 1;
	p.base = half < p.max ? half : p.max;
	pthread_mutex_init(&p.lock, NULL);
	sigset_t set;
	taken_signals(&set);
	int sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	p.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r = sig_fd < 0 || p.wake_fd < 0 ? -errno : 0;
	if (r == 0) {
		publish_wake_fd(p.wake_fd);
		pthread_mutex_lock(&p.lock);
		r = start_worker(&p);
		pthread_mutex_unlock(&p.lock);
	}
	if (r < 0)
		lf_err("cannot start the request loop: %s", strerror(-r));
	while (r == 0) {
		struct pollfd pf[2] = { { p.wake_fd, POLLIN, 0 },
					{ sig_fd, POLLIN, 0 } };
		pthread_mutex_lock(&p.lock);
		int timeout = p.watching || p.looking_other ? STALL_MS : -1;
		pthread_mutex_unlock(&p.lock);
		if (poll(pf, 2, timeout) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (!take_events(&p, fs, sig_fd, pf))
			break;
	}
	fuse_session_exit(se);
	publish_wake_fd(-1);
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

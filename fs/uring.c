#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cpu_spare.h"
#include "fuse_abi.h"
#include "kernel_order.h"
#include "layerfs.h"
#include "lf_common.h"
#include "reply_trace.h"
#include "session_loop.h"
#include "stats.h"
#include "thread_state.h"
#include "transport.h"
#include "uring_cpu.h"

/* user_data of the completions a worker waits for. */
#define TAG_STOP 1 /* the stop eventfd became readable */
#define TAG_SLOT 2 /* the slot holds a request (or the ring ended) */

/* Room before the payload for the request's fixed headers, so that
 * headers and payload form the one contiguous message libfuse parses
 * without the payload (a WRITE's data) being copied. */
#define HEAD_ROOM 4096

/* The workers of one CPU's queue. */
struct uring_queue {
	_Atomic unsigned started; /* changed under workers_lock */
	_Atomic unsigned idle; /* waiting for a request */
	/* Times its last waiting worker took a request (a spell with none
	 * waiting began); the count at the supervisor's look that first saw
	 * it, and when that was (uring_look's alone). */
	_Atomic unsigned long spells;
	unsigned long seen_spells;
	uint64_t seen_ns;
};

struct uring_worker {
	pthread_t thread;
	bool joinable;
	unsigned qid;
	struct uring_queue *queue;
	struct io_uring ring;
	/* The registered slot: the kernel writes a request's headers into
	 * hdr and its payload (a name, WRITE data) into payload, and reads
	 * the reply back from the same two buffers. */
	struct lfs_uring_req_header *hdr;
	char *area; /* HEAD_ROOM bytes, then the payload */
	char *payload;
	struct iovec iov[2];
	/* The request being answered. */
	uint64_t unique, commit_id;
	bool committed;
	_Atomic uint64_t served;
	_Atomic pid_t task; /* its thread id, for /proc (0: not yet known) */
	atomic_bool in_request;
	atomic_bool pinned; /* runs on its queue's CPU only (statistics) */
	bool yields; /* SCHED_IDLE now (pinned workers, uring_cpu_yield) */
};

static struct {
	struct fuse_session *se;
	int dev_fd;
	int stop_fd;
	size_t payload_cap;
	uint64_t spin_ns; /* spin_us= */
	struct uring_worker *workers; /* per_queue slots per queue */
	struct uring_queue *queues;
	unsigned per_queue;
	unsigned nslots;
	bool stopping; /* under workers_lock */
	bool joined;   /* uring_stop joined the workers */
	/* The supervisor looks at the queues (uring_look), or has been
	 * asked to. */
	atomic_bool watched;
	atomic_bool warned;
} U = { .dev_fd = -1, .stop_fd = -1 };

/* Held while the workers array is freed, and by the statistics. */
static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;

/* The worker whose request this thread is answering. */
static __thread struct uring_worker *answering;

/* The kernel makes one queue per possible CPU (not per online one). */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	unsigned count = 0;
	if (f) {
		unsigned a, b;
		while (fscanf(f, "%u", &a) == 1) {
			b = a;
			int c = fgetc(f);
			if (c == '-') {
				if (fscanf(f, "%u", &b) != 1)
					break;
				c = fgetc(f);
			}
			count += b >= a ? b - a + 1 : 0;
			if (c != ',')
				break;
		}
		fclose(f);
	}
	if (count == 0) {
		long n = sysconf(_SC_NPROCESSORS_CONF);
		count = n > 0 ? (unsigned)n : 1;
	}
	return count;
}

static void warn_once(const char *what, int err)
{
	if (!atomic_exchange(&U.warned, true))
		lf_warn("FUSE over io_uring: %s: %s; requests keep going "
			"through /dev/fuse",
			what, strerror(err));
}

static struct io_uring_sqe *slot_sqe(struct uring_worker *w, uint32_t op)
{
	/* The ring has room for the slot's entry and the stop poll, and
	 * the worker submits before it asks for another. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	/* 128-byte entries: the command area runs past the first 64. */
	memset((char *)sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = U.dev_fd;
	sqe->cmd_op = op;
	sqe->user_data = TAG_SLOT;
	struct lfs_uring_cmd_req *cmd = (void *)sqe->cmd;
	cmd->qid = (uint16_t)w->qid;
	cmd->commit_id = w->commit_id;
	return sqe;
}

/* Queues the reply now in the slot; io_uring_enter sends it and waits
 * for the next request in one call. */
static void commit(struct uring_worker *w)
{
	kernel_order_answer();
	slot_sqe(w, LFS_URING_CMD_COMMIT_AND_FETCH);
	w->committed = true;
}

static void commit_error(struct uring_worker *w, int err)
{
	struct lfs_out_header out = {
		.len = sizeof(out), .error = -err, .unique = w->unique };
	reply_trace_reply(&out);
	memcpy(w->hdr->in_out, &out, sizeof(out));
	w->hdr->ring_ent_in_out.payload_sz = 0;
	commit(w);
}

bool uring_reply(const struct iovec *iov, int count, ssize_t *written)
{
	struct uring_worker *w = answering;
	if (!w || w->committed || count < 1 ||
	    iov[0].iov_len != sizeof(struct lfs_out_header))
		return false;
	struct lfs_out_header out;
	memcpy(&out, iov[0].iov_base, sizeof(out));
	if (out.unique != w->unique)
		return false; /* a notification, or not this request */
	size_t used = 0;
	for (int i = 1; i < count; i++) {
		size_t n = iov[i].iov_len;
		if (n > U.payload_cap - used) {
			commit_error(w, EIO);
			*written = -1;
			errno = EINVAL;
			return true;
		}
		/* A READ handler may have written straight into the
		 * payload (uring_reply_buffer); other replies may point
		 * into the request still in it. */
		if (iov[i].iov_base != w->payload + used)
			memmove(w->payload + used, iov[i].iov_base, n);
		used += n;
	}
	out.len = (uint32_t)(sizeof(out) + used);
	memcpy(w->hdr->in_out, &out, sizeof(out));
	w->hdr->ring_ent_in_out.payload_sz = (uint32_t)used;
	commit(w);
	*written = (ssize_t)out.len;
	return true;
}

void *uring_reply_buffer(size_t *capacity)
{
	struct uring_worker *w = answering;
	if (!w || w->committed)
		return NULL;
	*capacity = U.payload_cap;
	return w->payload;
}

/* Hands the request in the slot to libfuse, as one contiguous message:
 * fuse_in_header, the opcode's header, the payload. */
static void serve(struct uring_worker *w)
{
	struct lfs_uring_req_header *hd = w->hdr;
	kernel_order_request();
	struct lfs_in_header in;
	memcpy(&in, hd->in_out, sizeof(in));
	transport_translate_request(&in);
	uint32_t payload = hd->ring_ent_in_out.payload_sz;
	w->unique = in.unique;
	w->commit_id = hd->ring_ent_in_out.commit_id;
	w->committed = false;
	/* in.len counts all of the request: what is neither the
	 * fuse_in_header nor the payload is the opcode's header. */
	size_t fixed = sizeof(in) + (size_t)payload;
	if (payload > U.payload_cap || in.len < fixed ||
	    in.len - fixed > sizeof(hd->op_in)) {
		commit_error(w, EIO);
		return;
	}
	size_t op = in.len - fixed;
	char *msg = w->payload - op - sizeof(in);
	memcpy(msg + sizeof(in), hd->op_in, op);
	memcpy(msg, &in, sizeof(in));

	struct fuse_buf buf = { .size = in.len, .mem = msg };
	answering = w;
	fuse_session_process_buf(U.se, &buf);
	answering = NULL;
	atomic_fetch_add_explicit(&w->served, 1, memory_order_relaxed);
	/* Every request through a ring wants an answer (FORGET does not
	 * come this way); without one the slot would stay with the
	 * kernel's request forever. */
	if (!w->committed)
		commit_error(w, EIO);
}

/*
 * Under ThreadSanitizer, the workers' rings are mapped and unmapped one
 * at a time.  A ring mapped at the address another worker has just
 * unmapped (a worker started as the mount goes away) is then ordered
 * after that unmap for ThreadSanitizer too, which does not see
 * liburing's own mmap and munmap calls and would take the two rings for
 * one piece of memory shared without a lock.  Other builds need no such
 * order (mmap and munmap are thread-safe), and with it the workers that
 * end together at an unmount waited for each other, each wait one more
 * wake-up on another CPU (0.3 ms in a trace on a VM whose idle CPUs
 * halt).
 */
#ifdef LFS_TSAN
static pthread_mutex_t ring_map_lock = PTHREAD_MUTEX_INITIALIZER;
static void ring_map_begin(void)
{
	pthread_mutex_lock(&ring_map_lock);
}
static void ring_map_end(void)
{
	pthread_mutex_unlock(&ring_map_lock);
}
#else
static void ring_map_begin(void)
{
}
static void ring_map_end(void)
{
}
#endif

static int setup_ring(struct uring_worker *w)
{
	/* Only this thread submits, and completions' work runs when it
	 * waits: the request is copied in by the thread that serves it. */
	struct io_uring_params p = {
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG };
	ring_map_begin();
	int r = io_uring_queue_init_params(4, &w->ring, &p);
	if (r == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_SQE128;
		r = io_uring_queue_init_params(4, &w->ring, &p);
	}
	ring_map_end();
	return r;
}

/*
 * A worker that has just answered watches its ring for the next request
 * for spin_us= before it sleeps (dev_spin.h does the same on /dev/fuse).
 * A process walking a tree sends its next request a few microseconds
 * after the last answer; finding it while still awake saves the two
 * wake-ups a sleeping worker costs (warm `ls -l` of 100k files 1.34 ->
 * 1.02 s on the bench machine; 10, 20 and 30 us measured the same, 50
 * made reading files slower).  Only while the machine has a CPU to spare
 * (cpu_spare_now): with every CPU wanted, 8 processes reading the tree
 * took 0.076 s with the check and 0.088-0.106 s without it (0.072-0.077 s
 * with no spinning at all).
 *
 * If a CPU is spare (SPARE, cpu_spare_now's answer), the reply is sent
 * here and the ring watched; otherwise the reply goes with the wait, in
 * one io_uring_enter.
 */
static void spin_for_request(struct uring_worker *w, bool spare)
{
	if (!spare || U.spin_ns == 0)
		return;
	io_uring_submit(&w->ring);
	uint64_t end = lfs_now_ns() + U.spin_ns;
	unsigned n = 0;
	while (!io_uring_cq_ready(&w->ring)) {
		if (IO_URING_READ_ONCE(*w->ring.sq.kflags) & IORING_SQ_TASKRUN) {
			io_uring_get_events(&w->ring);
			continue;
		}
		if ((++n & 15) == 0 && !cpu_spare_watch_on(end))
			break;
	}
}

static void register_slot(struct uring_worker *w)
{
	struct io_uring_sqe *sqe = slot_sqe(w, LFS_URING_CMD_REGISTER);
	sqe->addr = (uintptr_t)w->iov;
	sqe->len = 2;
}

static void took_request(struct uring_worker *w);
static void signal_stop(void);

/* One completion of the worker's ring; false when the worker is done. */
static bool on_completion(struct uring_worker *w,
			  const struct io_uring_cqe *cqe, bool *registered)
{
	if (cqe->user_data == TAG_STOP)
		return false;
	if (cqe->res >= 0) {
		*registered = true;
		took_request(w);
		serve(w);
		atomic_store_explicit(&w->in_request, false,
				      memory_order_relaxed);
		/* Waiting again once the reply is sent. */
		atomic_fetch_add(&w->queue->idle, 1);
		return true;
	}
	int e = -cqe->res;
	if (e == ENOTCONN || e == ECONNABORTED) {
		/* The mount went away.  The kernel may not end every other
		 * worker's fetch: they are told now, while the session loop
		 * is still learning it through /dev/fuse, rather than when
		 * uring_stop is reached (on a VM whose idle CPUs halt, that
		 * was the last of three wake-ups in a row). */
		signal_stop();
		return false;
	}
	if (!*registered) {
		warn_once("registering with the kernel", e);
		atomic_fetch_sub(&w->queue->idle, 1);
		return false;
	}
	/* A failed commit leaves the slot with the kernel: a new one keeps
	 * this CPU's queue served. */
	lf_warn("FUSE over io_uring: a reply failed: %s", strerror(e));
	*registered = false;
	register_slot(w);
	return true;
}

static void *worker_main(void *arg)
{
	struct uring_worker *w = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	char name[16];
	snprintf(name, sizeof(name), "lfs-ring-%u", w->qid);
	pthread_setname_np(pthread_self(), name);
	atomic_store(&w->task, gettid());
	bool bound = uring_cpu_bind(w->qid);
	atomic_store(&w->pinned, bound);

	int r = setup_ring(w);
	if (r < 0) {
		warn_once("cannot set up a ring", -r);
		return NULL;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	io_uring_prep_poll_add(sqe, U.stop_fd, POLLIN);
	sqe->user_data = TAG_STOP;
	register_slot(w);
	atomic_fetch_add(&w->queue->idle, 1);

	bool registered = false, stop = false;
	while (!stop) {
		if (registered) {
			/* One look at the load for both. */
			bool spare = cpu_spare_now();
			uring_cpu_yield(bound, spare, &w->yields);
			spin_for_request(w, spare);
		}
		r = io_uring_submit_and_wait(&w->ring, 1);
		if (r < 0 && r != -EINTR) {
			warn_once("io_uring_enter", -r);
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			seen++;
			if (!on_completion(w, cqe, &registered))
				stop = true;
		}
		io_uring_cq_advance(&w->ring, seen);
	}
	/* A request that came in the same batch as the stop was served,
	 * and its reply is still queued: closing the ring would drop it,
	 * and the kernel would end that request ECONNABORTED at the
	 * unmount though its work was done.  Its fetch half may still
	 * take one more request, which ends like those never read. */
	if (stop && io_uring_sq_ready(&w->ring))
		io_uring_submit(&w->ring);
	/* Closing the ring gives the kernel back the slot. */
	ring_map_begin();
	io_uring_queue_exit(&w->ring);
	ring_map_end();
	return NULL;
}

static unsigned workers_per_queue(const struct lfs *fs, unsigned nqueues)
{
	/* threads=N spreads N over the queues (each needs one: the kernel
	 * uses the rings only once every CPU's queue has a worker). */
	if (fs->opt->threads)
		return fs->opt->threads >= nqueues ? fs->opt->threads / nqueues
						   : 1;
	/* Otherwise enough that a worker stuck in a slow request (a big
	 * copy-up, an fsync) leaves others for its CPU: 4 per queue on
	 * small machines, fewer on large ones, where the other CPUs' queues
	 * have theirs (about 16 workers in all, at least one per CPU). */
	unsigned per = 16 / nqueues;
	return per < 1 ? 1 : per > 4 ? 4 : per;
}

/* Starts the next worker of queue q, if it has one left to start.
 * Called with workers_lock held. */
static void start_worker_locked(unsigned q)
{
	struct uring_queue *queue = &U.queues[q];
	if (U.stopping || queue->started >= U.per_queue)
		return;
	struct uring_worker *w = &U.workers[q * U.per_queue + queue->started];
	long page = sysconf(_SC_PAGESIZE);
	if (!w->hdr &&
	    posix_memalign((void **)&w->hdr, 64, sizeof(*w->hdr)) != 0)
		w->hdr = NULL;
	if (!w->area && posix_memalign((void **)&w->area, (size_t)page,
				       HEAD_ROOM + U.payload_cap) != 0)
		w->area = NULL;
	if (!w->hdr || !w->area) {
		/* Kept for a later try; freed by uring_stop. */
		warn_once("cannot start a worker", ENOMEM);
		return;
	}
	memset(w->hdr, 0, sizeof(*w->hdr));
	w->qid = q;
	w->queue = queue;
	w->payload = w->area + HEAD_ROOM;
	w->iov[0] = (struct iovec){ w->hdr, sizeof(*w->hdr) };
	w->iov[1] = (struct iovec){ w->payload, U.payload_cap };
	int e = pthread_create(&w->thread, NULL, worker_main, w);
	if (e != 0) {
		warn_once("cannot start a worker", e);
		return;
	}
	w->joinable = true;
	queue->started++;
}

/*
 * Each queue starts with one worker and grows, up to per_queue, only
 * once every worker of it has been held by the same spell for
 * SESSION_LOOP_STALL_NS, or one of them waits on the disk in a request:
 * the rule by which the /dev/fuse pool grows past its base
 * (session_loop.c), watched by the same supervisor.  A queue used to
 * gain a worker whenever its last waiting one took a request, so the
 * first requests of every mount started a thread and a ring per CPU,
 * which the unmount then closed again: a container's start made four,
 * and the mount and unmount of the bench's image took 5.45 ms, against
 * 4.95 ms now (fuse-overlayfs 4.83 ms).  A request that does not
 * block is answered long before another worker could be started, and
 * on the CPU it came from nothing else would run meanwhile.
 */
static void took_request(struct uring_worker *w)
{
	atomic_store_explicit(&w->in_request, true, memory_order_relaxed);
	struct uring_queue *q = w->queue;
	if (atomic_fetch_sub(&q->idle, 1) != 1)
		return;
	/* A spell began: the supervisor is to watch it, if it does not
	 * already and the queue may grow.  The count goes first (uring_look
	 * says why). */
	atomic_fetch_add(&q->spells, 1);
	if (atomic_load_explicit(&q->started, memory_order_relaxed) <
		    U.per_queue &&
	    !atomic_load(&U.watched) && !atomic_exchange(&U.watched, true))
		session_loop_look_soon();
}

/* Whether a worker of queue Q serving a request waits on the disk. */
static bool queue_waits_on_disk(const struct uring_queue *q)
{
	unsigned first = (unsigned)(q - U.queues) * U.per_queue;
	for (unsigned i = first; i < first + U.per_queue; i++) {
		struct uring_worker *w = &U.workers[i];
		pid_t task = atomic_load(&w->task);
		if (w->joinable && atomic_load(&w->in_request) && task > 0 &&
		    thread_waits_on_disk(task))
			return true;
	}
	return false;
}

/*
 * The supervisor's look at the queues (session_loop_watch_also): starts
 * a worker for a queue held by one spell for SESSION_LOOP_STALL_NS or
 * waiting on the disk, and asks for another look while a queue is busy
 * or began a spell since the last one.  A worker that begins a spell
 * counts it before it reads `watched`, and the look clears `watched`
 * before it reads the counts: either that worker sees it cleared and
 * asks for a look, or this look sees its spell.
 */
static bool uring_look(uint64_t now)
{
	atomic_store(&U.watched, false);
	bool again = false;
	pthread_mutex_lock(&workers_lock);
	for (unsigned q = 0; q < U.nslots / U.per_queue && !U.stopping; q++) {
		struct uring_queue *queue = &U.queues[q];
		unsigned long spells = atomic_load(&queue->spells);
		bool busy = atomic_load(&queue->idle) == 0;
		if (spells != queue->seen_spells) {
			queue->seen_spells = spells;
			queue->seen_ns = now;
			again = true;
		}
		if (!busy || queue->started >= U.per_queue)
			continue;
		again = true;
		if (now - queue->seen_ns >= SESSION_LOOP_STALL_NS ||
		    queue_waits_on_disk(queue)) {
			start_worker_locked(q);
			queue->seen_ns = now; /* the next one after another */
		}
	}
	pthread_mutex_unlock(&workers_lock);
	if (again)
		atomic_store(&U.watched, true);
	return again;
}

void uring_start(struct lfs *fs, int dev_fd, uint32_t max_write,
		 uint16_t max_pages)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = max_pages > 32 ? max_pages : 32; /* kernel default */
	size_t cap = pages * (size_t)page;
	if (max_write > cap)
		cap = max_write;
	if (cap < 8192)
		cap = 8192;

	uring_cpu_start(fs->opt->io_uring_pin_given, fs->opt->io_uring_pin);
	unsigned nqueues = possible_cpus();
	U.per_queue = workers_per_queue(fs, nqueues);
	U.se = fs->se;
	U.dev_fd = dev_fd;
	U.payload_cap = cap;
	U.spin_ns = (uint64_t)fs->opt->spin_us * 1000;
	U.stop_fd = eventfd(0, EFD_CLOEXEC);
	U.workers = calloc((size_t)nqueues * U.per_queue, sizeof(*U.workers));
	U.queues = calloc(nqueues, sizeof(*U.queues));
	if (U.stop_fd < 0 || !U.workers || !U.queues) {
		warn_once("cannot start", errno ? errno : ENOMEM);
		return;
	}
	U.nslots = nqueues * U.per_queue;
	/* One worker per queue now (the kernel uses the rings once each
	 * queue has one); the others when a request holds a queue's workers
	 * (took_request).  Starting them all at once slowed the mount's
	 * first requests. */
	pthread_mutex_lock(&workers_lock);
	for (unsigned q = 0; q < nqueues; q++)
		start_worker_locked(q);
	pthread_mutex_unlock(&workers_lock);
	if (U.per_queue > 1)
		session_loop_watch_also(uring_look);
}

/* Tells every worker to end: none starts from now on, and the running
 * ones see the stop eventfd (those waiting for a request) or the
 * unmount's end of their fetch.  From any thread, more than once. */
static void signal_stop(void)
{
	pthread_mutex_lock(&workers_lock);
	bool first = !U.stopping;
	U.stopping = true;
	pthread_mutex_unlock(&workers_lock);
	uint64_t one = 1;
	if (first && U.stop_fd >= 0 && write(U.stop_fd, &one, sizeof(one)) < 0)
		lf_warn("cannot stop the io_uring workers: %s",
			strerror(errno));
}

void uring_stop(void)
{
	if (!U.workers || U.joined)
		return;
	signal_stop();
	for (unsigned i = 0; i < U.nslots; i++) {
		struct uring_worker *w = &U.workers[i];
		if (w->joinable)
			pthread_join(w->thread, NULL);
	}
	U.joined = true;
}

void uring_free(void)
{
	if (!U.workers)
		return;
	uring_stop();
	/* The statistics may be reading the workers' counts. */
	pthread_mutex_lock(&workers_lock);
	for (unsigned i = 0; i < U.nslots; i++) {
		free(U.workers[i].hdr);
		free(U.workers[i].area);
	}
	free(U.workers);
	free(U.queues);
	U.workers = NULL;
	U.queues = NULL;
	U.nslots = 0;
	pthread_mutex_unlock(&workers_lock);
	if (U.stop_fd >= 0)
		close(U.stop_fd);
	U.stop_fd = -1;
}

unsigned uring_workers(void)
{
	unsigned n = 0;
	pthread_mutex_lock(&workers_lock);
	for (unsigned i = 0; i < U.nslots; i++)
		n += U.workers[i].joinable;
	pthread_mutex_unlock(&workers_lock);
	return n;
}

unsigned uring_workers_pinned(void)
{
	unsigned n = 0;
	pthread_mutex_lock(&workers_lock);
	for (unsigned i = 0; i < U.nslots; i++)
		n += U.workers[i].joinable && atomic_load(&U.workers[i].pinned);
	pthread_mutex_unlock(&workers_lock);
	return n;
}

uint64_t uring_requests(void)
{
	uint64_t sum = 0;
	pthread_mutex_lock(&workers_lock);
	for (unsigned i = 0; i < U.nslots; i++)
		sum += atomic_load_explicit(&U.workers[i].served,
					    memory_order_relaxed);
	pthread_mutex_unlock(&workers_lock);
	return sum;
}

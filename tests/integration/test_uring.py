"""FUSE over io_uring (fs/uring.h): with the fuse module's enable_uring
parameter on, requests reach the daemon through per-CPU rings, and every
operation gives the same results as through /dev/fuse.

The parameter is the machine's: these tests turn it on for themselves
(root only) and put the old value back.  They need Linux 6.14 built with
CONFIG_FUSE_IO_URING (the parameter exists); elsewhere they say skipped.
"""

import contextlib
import errno
import os
import signal
import subprocess
import threading
import time

import lfstest
from lfstest import LayerfsTestCase
from test_scale import read_stats

MiB = 1 << 20
SCHED_OTHER, SCHED_IDLE = 0, 5
PARAM = "/sys/module/fuse/parameters/enable_uring"


def why_no_uring():
    if not lfstest.is_root():
        return "needs root (to turn on the fuse module's enable_uring)"
    if not os.path.exists(PARAM):
        return "kernel without FUSE over io_uring (Linux 6.14+, " \
               "CONFIG_FUSE_IO_URING)"
    return None


def set_param(value):
    with open(PARAM, "w") as f:
        f.write(value)


class UringCase(LayerfsTestCase):
    @classmethod
    def setUpClass(cls):
        cls.saved = None
        if why_no_uring() is None:
            with open(PARAM) as f:
                cls.saved = f.read().strip()
            set_param("Y")

    @classmethod
    def tearDownClass(cls):
        if cls.saved is not None:
            set_param(cls.saved)

    def setUp(self):
        super().setUp()
        why = why_no_uring()
        if why:
            self.skipTest(why)
        self.stats = self.path("stats.json")

    def stats_of(self, m):
        return read_stats(self, m.pid, self.stats)

    def wait_for_ring(self, m, probe):
        """Repeats probe() until a request has come through a ring: the
        workers register right after INIT, so the first requests may
        still take /dev/fuse."""
        deadline = time.time() + 10
        while time.time() < deadline:
            probe()
            s = self.stats_of(m)
            if s["io_uring_requests"] > 0:
                return s
            time.sleep(0.05)
        self.fail("no request came through io_uring: %s" % s)

    def probe_root_listing(self, m):
        """A probe for wait_for_ring: a stat of a name m has never seen,
        so that every call is a request, answered from the root's merged
        listing (loaded at the first, from every layer's root) and
        reading nothing below it."""
        names = iter(range(1 << 30))

        def probe():
            with contextlib.suppress(FileNotFoundError):
                os.stat(os.path.join(m.path, "absent-%d" % next(names)))
        return probe


def possible_cpus():
    """The CPUs the kernel makes a queue for (possible, not only
    online)."""
    with open("/sys/devices/system/cpu/possible") as f:
        cpus = []
        for part in f.read().strip().split(","):
            a, _, b = part.partition("-")
            cpus += range(int(a), int(b or a) + 1)
    return cpus


@contextlib.contextmanager
def on_one_cpu():
    """Runs what the block does from one CPU of ours (threads it starts
    keep it), so that its requests go to that CPU's queue; gives the
    CPU."""
    saved = os.sched_getaffinity(0)
    cpu = min(saved)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, saved)


def cpu_list(cpus):
    """The kernel's list form of a CPU set: 0-3,6."""
    runs, out = [], []
    for c in sorted(cpus):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    for a, b in runs:
        out.append(str(a) if a == b else "%d-%d" % (a, b))
    return ",".join(out)


class Uring(UringCase):
    def setUp(self):
        super().setUp()
        self.big = os.urandom(5 * MiB + 4321)
        self.low = self.layer("low", {
            "f": "lower data\n",
            "big": self.big,
            "dir/a": "a\n",
            "dir/b": "b\n",
            "gone": "x\n",
            "link": ("symlink", "dir/a"),
        })
        many = self.path("low", "many")
        os.makedirs(many)
        for i in range(3000):
            with open(os.path.join(many, "entry-%05d" % i), "w") as f:
                f.write(str(i))

    def mount_ring(self, opts=()):
        m = self.mount_rw([self.low], opts=("stats=" + self.stats,) +
                          tuple(opts))
        s = self.wait_for_ring(m, lambda: os.stat(os.path.join(m.path,
                                                               "f")))
        self.assertGreater(s["io_uring_workers"], 0)
        return m

    def test_requests_are_served_through_the_rings(self):
        m = self.mount_ring()
        before = self.stats_of(m)["io_uring_requests"]
        names = os.listdir(os.path.join(m.path, "many"))
        self.assertEqual(len(names), 3000)
        for n in names:
            with open(os.path.join(m.path, "many", n)) as f:
                self.assertEqual(f.read(), str(int(n[6:])))
        after = self.stats_of(m)["io_uring_requests"]
        # Each file at least opens through a ring (OPEN, READ, FLUSH,
        # RELEASE; a daemon on /dev/fuse would count none).
        self.assertGreaterEqual(after - before, 3000)

    def check_view_and_cow(self, m):
        p = m.path
        # Reads: a multi-MiB lower file in requests of up to 1 MiB.
        with open(os.path.join(p, "big"), "rb") as f:
            self.assertEqual(f.read(), self.big)
        with open(os.path.join(p, "big"), "rb") as f:
            f.seek(3 * MiB + 17)
            self.assertEqual(f.read(100), self.big[3 * MiB + 17:
                                                   3 * MiB + 117])
        self.assertEqual(sorted(os.listdir(os.path.join(p, "many"))),
                         ["entry-%05d" % i for i in range(3000)])
        self.assertEqual(os.readlink(os.path.join(p, "link")), "dir/a")
        # Writes and copy-up: big writes carry their data in the ring's
        # payload buffer.
        data = os.urandom(3 * MiB + 5)
        with open(os.path.join(p, "new"), "wb") as f:
            f.write(data)
        with open(os.path.join(p, "new"), "rb") as f:
            self.assertEqual(f.read(), data)
        with open(os.path.join(p, "f"), "a") as f:
            f.write("appended\n")
        with open(os.path.join(p, "f")) as f:
            self.assertEqual(f.read(), "lower data\nappended\n")
        with open(os.path.join(m.upper, "f")) as f:
            self.assertEqual(f.read(), "lower data\nappended\n")
        os.unlink(os.path.join(p, "gone"))
        self.assertFalse(os.path.exists(os.path.join(p, "gone")))
        self.assertTrue(os.path.exists(os.path.join(self.low, "gone")))
        os.rename(os.path.join(p, "dir"), os.path.join(p, "moved"))
        self.assertEqual(sorted(os.listdir(os.path.join(p, "moved"))),
                         ["a", "b"])
        os.mkdir(os.path.join(p, "d2"))
        os.rmdir(os.path.join(p, "d2"))
        # Extended attributes, both ways through the payload.
        value = os.urandom(3000)
        os.setxattr(os.path.join(p, "new"), "user.big", value)
        self.assertEqual(os.getxattr(os.path.join(p, "new"), "user.big"),
                         value)
        self.assertIn("user.big", os.listxattr(os.path.join(p, "new")))
        with self.assertRaises(OSError) as cm:
            os.stat(os.path.join(p, "no-such-file"))
        self.assertEqual(cm.exception.errno, errno.ENOENT)

    def test_error_replies_through_the_rings_are_traced(self):
        # LFS_TRACE_ERRORS (set for every test daemon) sees an error
        # answered through a ring as one answered on /dev/fuse.
        self.require_root()  # CAP_MKNOD for the refused mknod
        m = self.mount_ring()
        before = self.stats_of(m)["io_uring_requests"]
        lfstest.daemon_refuses_a_request(m.path, "c")
        self.assertGreater(self.stats_of(m)["io_uring_requests"], before)
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        self.assertRegex(
            m.stderr(),
            r"(?m)^layerfs: MKNOD of node 1 for pid %d answered EPERM "
            r"\(Operation not permitted\)$" % os.getpid())

    def test_view_and_copy_on_write(self):
        m = self.mount_ring()
        self.check_view_and_cow(m)
        self.assertGreater(self.stats_of(m)["io_uring_requests"], 100)

    def test_view_and_copy_on_write_without_passthrough(self):
        # Every READ and WRITE then goes through the rings.
        m = self.mount_ring(opts=("passthrough=0",))
        self.check_view_and_cow(m)

    def test_parallel_readers_get_their_own_answers(self):
        m = self.mount_ring(opts=("passthrough=0",))
        errors = []

        def reader(k):
            try:
                for i in range(k, 3000, 4):
                    with open(os.path.join(m.path, "many",
                                           "entry-%05d" % i)) as f:
                        if f.read() != str(i):
                            errors.append(i)
                    if k == 0 and i % 300 == 0:
                        with open(os.path.join(m.path, "big"), "rb") as f:
                            if f.read() != self.big:
                                errors.append("big")
            except OSError as e:
                errors.append(e)

        threads = [threading.Thread(target=reader, args=(k,))
                   for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_unmount_ends_the_daemon(self):
        m = self.mount_ring()
        self.check_view_and_cow(m)
        self.assertEqual(m.unmount(timeout=20), 0)

    def test_sigterm_unmounts_and_ends_the_daemon(self):
        m = self.mount_ring()
        self.check_view_and_cow(m)
        os.kill(m.pid, signal.SIGTERM)
        self.assertEqual(m.proc.wait(timeout=20), 0)
        self.assertIsNone(lfstest.mounted_fstype(m.path))
        # What the mount wrote is in the upper layer.
        with open(os.path.join(m.upper, "f")) as f:
            self.assertEqual(f.read(), "lower data\nappended\n")

    def test_workers_spread_over_the_queues(self):
        # threads=N gives each CPU's queue N / CPUs workers, at least one.
        m = self.mount_ring(opts=("threads=1",))
        self.assertEqual(self.stats_of(m)["io_uring_workers"],
                         len(possible_cpus()))
        self.check_view_and_cow(m)

    def test_requests_that_do_not_block_start_no_worker(self):
        # Each queue starts with one worker and gains one only when a
        # request holds its workers for 2 ms or waits on the disk
        # (uring.c, took_request): a walk and a read of a tree the page
        # cache holds leave every queue its one worker.  Queues used to
        # gain one at the first request they took.
        if lfstest.SLOW_DAEMON:
            self.skipTest("a sanitizer or valgrind makes each request "
                          "several times slower: one that does not block "
                          "may hold its queue past the 2 ms that adds a "
                          "worker")
        low = self.layer("tree", {"d%02d/f%02d" % (d, f): "%d %d\n" % (d, f)
                                  for d in range(20) for f in range(20)})
        m = self.mount_rw([low], opts=("stats=" + self.stats,))
        self.wait_for_ring(m, lambda: os.stat(os.path.join(m.path, "d00")))
        with on_one_cpu() as cpu:
            for _ in range(3):
                for d in sorted(os.listdir(m.path)):
                    for f in sorted(os.listdir(os.path.join(m.path, d))):
                        with open(os.path.join(m.path, d, f)) as fh:
                            self.assertEqual(fh.read(), "%d %d\n"
                                             % (int(d[1:]), int(f[1:])))
        s = self.stats_of(m)
        self.assertGreaterEqual(s["io_uring_requests"], 400 * 3)
        self.assertEqual(s["io_uring_workers"], len(possible_cpus()))
        self.assertEqual(len(self.ring_threads(m)[cpu]), 1)

    def test_a_stuck_request_does_not_hold_up_its_cpus_others(self):
        # While one request waits on a layer that does not answer (a
        # layer inside another layerfs mount whose daemon is stopped),
        # its queue gains a worker, and a request from the same CPU that
        # needs only the other layer is served.  With one worker per
        # queue at most (threads= the CPUs) it waits too, which shows
        # the check can fail.
        fast, inner = self.layers_one_of_them_stoppable()
        one_each = "threads=%d" % len(possible_cpus())
        for case, (threads, served) in enumerate(((None, True),
                                                  (one_each, False))):
            slow = "s%d" % case
            with self.subTest(threads=threads or "default"):
                opts = ("stats=" + self.stats,) + \
                    ((threads,) if threads else ())
                m = self.mount([fast, inner.path], opts=opts,
                               mnt=self.path("outer-%s" % served))
                # The root listed while the inner daemon runs; "file"
                # is then found in the top layer alone.  Nothing below
                # the root is read before the stop, however many probes
                # the rings take to start.
                self.wait_for_ring(m, self.probe_root_listing(m))
                self.check_past_a_stuck_request(m, inner, slow, served,
                                                senders=on_one_cpu)

    def ring_threads(self, m):
        """{queue CPU: [(allowed CPU list, scheduling policy)]} of the
        daemon's ring workers, named lfs-ring-N for queue N."""
        out = {}
        task = "/proc/%d/task" % m.pid
        for tid in os.listdir(task):
            try:
                with open(os.path.join(task, tid, "comm")) as f:
                    comm = f.read().strip()
                with open(os.path.join(task, tid, "status")) as f:
                    allowed = [l.split(":", 1)[1].strip() for l in f
                               if l.startswith("Cpus_allowed_list:")][0]
                with open(os.path.join(task, tid, "stat")) as f:
                    # Field 41, counted after the parenthesised name.
                    policy = int(f.read().rsplit(")", 1)[1].split()[38])
            except FileNotFoundError:
                continue  # a thread that ended meanwhile
            if comm.startswith("lfs-ring-"):
                out.setdefault(int(comm[9:]), []).append((allowed, policy))
        return out

    def settled_workers(self, m, deadline=10, ready=lambda t, s: True):
        """(ring_threads, statistics) read while no worker starts: the
        statistics taken before and after the threads agree, and count
        as many workers as have their name, and ready(threads,
        statistics) holds.  A queue may gain a worker at any time (a
        request that outlasts the session loop's look, as under the
        sanitizers), and a new worker is counted before it names and
        binds itself; a single reading of each raced that.  Past the
        deadline, the last reading."""
        end = time.monotonic() + deadline
        while True:
            before = self.stats_of(m)
            threads = self.ring_threads(m)
            after = self.stats_of(m)
            keys = ("io_uring_workers", "io_uring_workers_pinned")
            if all(before[k] == after[k] for k in keys) and \
                    sum(map(len, threads.values())) == \
                    after["io_uring_workers"] and ready(threads, after):
                return threads, after
            if time.monotonic() > end:
                return threads, after  # the caller's checks say what
            time.sleep(0.05)

    def check_pinned(self, m):
        online = os.sched_getaffinity(0)

        def bound(threads, s):
            # A new worker names itself, then binds to its CPU, then
            # counts as pinned (uring.c, worker_main): it may be seen
            # in between.  Each online CPU's workers have done all.
            want = [(allowed, str(cpu)) for cpu, workers in threads.items()
                    if cpu in online for allowed, _ in workers]
            return all(a == c for a, c in want) and \
                s["io_uring_workers_pinned"] == len(want)
        threads, s = self.settled_workers(m, ready=bound)
        self.assertEqual(sum(map(len, threads.values())),
                         s["io_uring_workers"])
        # Each online CPU's workers run there alone; an offline CPU's
        # queue (possible, not online) keeps its workers unbound.
        pinned = 0
        for cpu, workers in threads.items():
            for allowed, _ in workers:
                if cpu in online:
                    self.assertEqual(allowed, str(cpu))
                    pinned += 1
                else:
                    self.assertNotEqual(allowed, str(cpu))
        self.assertGreater(pinned, 0)
        self.assertEqual(s["io_uring_workers_pinned"], pinned)

    def check_unbound(self, m):
        self.assertEqual(self.stats_of(m)["io_uring_workers_pinned"], 0)
        mine = cpu_list(os.sched_getaffinity(0))
        for workers in self.ring_threads(m).values():
            for allowed, policy in workers:
                self.assertEqual(allowed, mine)
                self.assertEqual(policy, SCHED_OTHER)

    def test_workers_run_on_their_queues_cpu(self):
        # Root may yield a CPU and take it back: bound by default.
        m = self.mount_ring()
        self.check_view_and_cow(m)
        self.check_pinned(m)

    def test_pin_off_leaves_workers_to_the_scheduler(self):
        m = self.mount_ring(opts=("io_uring_pin=0",))
        self.check_view_and_cow(m)
        self.check_unbound(m)

    def mount_ring_under(self, wrapper, opts=()):
        """mount_ring with the daemon started through wrapper."""
        if not lfstest.have_tool(wrapper[0]):
            self.skipTest("needs %s (util-linux)" % wrapper[0])
        saved = lfstest.DAEMON_WRAPPER
        lfstest.DAEMON_WRAPPER = wrapper + saved
        try:
            return self.mount_ring(opts=opts)
        finally:
            lfstest.DAEMON_WRAPPER = saved

    def without_cap_sys_nice(self, opts=()):
        return self.mount_ring_under(
            ["setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice",
             "--"], opts)

    def test_a_daemon_that_cannot_yield_leaves_workers_unbound(self):
        # Without CAP_SYS_NICE a worker could go to SCHED_IDLE but not
        # come back: not bound by default, and never SCHED_IDLE.
        m = self.without_cap_sys_nice()
        self.check_view_and_cow(m)
        self.check_unbound(m)

    def test_pin_on_binds_workers_that_cannot_yield(self):
        m = self.without_cap_sys_nice(opts=("io_uring_pin=1",))
        self.check_view_and_cow(m)
        self.check_pinned(m)
        for workers in self.ring_threads(m).values():
            for _, policy in workers:
                self.assertEqual(policy, SCHED_OTHER)

    def policy_after_requests(self, m, cpu):
        """Sends requests from `cpu` (GETXATTRs, which the kernel never
        caches) and gives the policy of that queue's one worker."""
        path = os.path.join(m.path, "f")
        for _ in range(300):
            try:
                os.getxattr(path, "user.none")
            except OSError as e:
                self.assertEqual(e.errno, errno.ENODATA)
        workers = self.ring_threads(m)[cpu]
        self.assertEqual(len(workers), 1)
        return workers[0][1]

    def test_workers_yield_their_cpu_only_while_one_is_spare(self):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.skipTest("needs two CPUs")
        # One worker per queue, so that the queue's policy is its.
        m = self.mount_ring(opts=("threads=%d" % os.cpu_count(),))
        hogs = []
        try:
            with on_one_cpu() as cpu:
                # An idle machine (the load is looked at once a
                # millisecond, and another test's processes may still be
                # ending).
                deadline = time.time() + 10
                while self.policy_after_requests(m, cpu) != SCHED_IDLE:
                    if time.time() > deadline:
                        self.fail("the worker never went to SCHED_IDLE")
                    time.sleep(0.1)
                # Every CPU wanted: back to SCHED_OTHER.
                for _ in range(len(cpus) + 1):
                    hogs.append(subprocess.Popen(
                        ["sh", "-c", "while :; do :; done"]))
                time.sleep(0.2)
                deadline = time.time() + 10
                while self.policy_after_requests(m, cpu) != SCHED_OTHER:
                    if time.time() > deadline:
                        self.fail("the worker stayed SCHED_IDLE under "
                                  "load")
                    time.sleep(0.05)
        finally:
            for h in hogs:
                h.kill()
                h.wait()

    def test_pinning_stays_within_the_daemons_cpus(self):
        # Started on CPU 0 alone (taskset): the other queues' workers
        # keep that set rather than get a CPU the user did not give.
        if 0 not in os.sched_getaffinity(0) or \
                len(os.sched_getaffinity(0)) < 2:
            self.skipTest("needs CPU 0 and another")
        m = self.mount_ring_under(["taskset", "-c", "0"],
                                  opts=("io_uring_pin=1",))
        self.check_view_and_cow(m)
        # Queue 0's workers are on CPU 0 from the start, but count as
        # pinned only once they have bound themselves.
        threads, s = self.settled_workers(
            m, ready=lambda t, s: s["io_uring_workers_pinned"] ==
            len(t.get(0, [])))
        for cpu, workers in threads.items():
            self.assertEqual([a for a, _ in workers], ["0"] * len(workers))
        self.assertEqual(s["io_uring_workers_pinned"], len(threads[0]))

    def test_killed_daemon_leaves_a_dead_mount_not_a_hang(self):
        m = self.mount_ring()
        os.kill(m.pid, signal.SIGKILL)
        m.proc.wait(timeout=20)
        # The kernel ends the connection: ENOTCONN, or ECONNABORTED for
        # a request that met the rings being torn down (the kernel
        # closes them a moment after the process is gone).
        for _ in range(3):
            r = subprocess.run(["stat", m.path], capture_output=True,
                               text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stderr, "not connected|connection abort")
        lfstest.force_unmount(m.path)


class UringOff(UringCase):
    def setUp(self):
        super().setUp()
        self.low = self.layer("low", {"f": "lower data\n"})

    def check_no_ring(self, m):
        for _ in range(50):
            with open(os.path.join(m.path, "f")) as f:
                self.assertEqual(f.read(), "lower data\n")
        s = self.stats_of(m)
        self.assertEqual(s["io_uring_workers"], 0)
        self.assertEqual(s["io_uring_requests"], 0)

    def test_option_off_keeps_dev_fuse(self):
        m = self.mount_rw([self.low], opts=("stats=" + self.stats,
                                            "io_uring=0"))
        self.check_no_ring(m)

    def test_kernel_parameter_off_keeps_dev_fuse(self):
        set_param("N")
        try:
            m = self.mount_rw([self.low], opts=("stats=" + self.stats,))
        finally:
            set_param("Y")
        self.check_no_ring(m)


if __name__ == "__main__":
    lfstest.main()

"""Several processes creating, writing, renaming and deleting at once, in
the same and in different directories, over a lower layer they also
change.  Each worker owns its names, so the expected end state is known
exactly: the merged tree must equal the union of the workers' models.

LFS_CONCURRENCY_OPS sets the number of operations per worker (the stress
target raises it); the seed is printed so a failure can be replayed with
LFS_SEED."""

import errno
import os
import random
import signal
import sys
import threading
import time
from multiprocessing import Process, Queue, Value

import lfstest
from lfstest import LayerfsTestCase

WORKERS = 4
OPS = int(os.environ.get("LFS_CONCURRENCY_OPS", "1500"))
DIRS = ["shared", "shared/deep", "mine%d"]


def worker(root, wid, seed, ops, q):
    rnd = random.Random(seed * 1000 + wid)
    model = {}  # relative path -> bytes, or None for a directory
    # The lower files this worker owns (created by the test in the lower
    # layer) start in the model.
    for i in range(5):
        model["shared/low%d_%d" % (wid, i)] = ("lower %d %d\n" % (wid, i)).encode()
    model["mine%d" % wid] = None
    own_dirs = ["shared", "shared/deep", "mine%d" % wid]
    try:
        for n in range(ops):
            op = rnd.choice(["create", "write", "append", "rename",
                             "unlink", "mkdir", "rmdir", "read", "stat",
                             "chmod"])
            files = sorted(k for k, v in model.items() if v is not None)
            dirs = sorted(k for k, v in model.items()
                          if v is None and k.startswith("mine%d/" % wid))
            if op == "create":
                d = rnd.choice(own_dirs + dirs)
                rel = "%s/w%d_%d" % (d, wid, n)
                data = os.urandom(rnd.randint(0, 3000))
                with open(os.path.join(root, rel), "wb") as f:
                    f.write(data)
                model[rel] = data
            elif op in ("write", "append") and files:
                rel = rnd.choice(files)
                data = os.urandom(rnd.randint(1, 2000))
                with open(os.path.join(root, rel),
                          "ab" if op == "append" else "wb") as f:
                    f.write(data)
                model[rel] = (model[rel] + data) if op == "append" else data
            elif op == "rename" and files:
                rel = rnd.choice(files)
                d = rnd.choice(own_dirs + dirs)
                new = "%s/w%d_r%d" % (d, wid, n)
                os.rename(os.path.join(root, rel), os.path.join(root, new))
                model[new] = model.pop(rel)
            elif op == "unlink" and files:
                rel = rnd.choice(files)
                os.unlink(os.path.join(root, rel))
                del model[rel]
            elif op == "mkdir":
                rel = "mine%d/d%d" % (wid, n)
                os.mkdir(os.path.join(root, rel))
                model[rel] = None
            elif op == "rmdir" and dirs:
                rel = rnd.choice(dirs)
                if not any(k.startswith(rel + "/") for k in model):
                    os.rmdir(os.path.join(root, rel))
                    del model[rel]
            elif op == "read" and files:
                rel = rnd.choice(files)
                with open(os.path.join(root, rel), "rb") as f:
                    got = f.read()
                if got != model[rel]:
                    raise AssertionError("worker %d op %d: %s has %d bytes, "
                                         "expected %d" % (wid, n, rel,
                                                          len(got),
                                                          len(model[rel])))
            elif op == "stat" and files:
                rel = rnd.choice(files)
                st = os.stat(os.path.join(root, rel))
                if st.st_size != len(model[rel]):
                    raise AssertionError("worker %d op %d: size of %s"
                                         % (wid, n, rel))
            elif op == "chmod" and files:
                os.chmod(os.path.join(root, rnd.choice(files)), 0o640)
        q.put((wid, "ok", model))
    except Exception as e:  # reported to the parent, which fails the test
        q.put((wid, "error at op %d (%s): %r" % (n, op, e), None))


# Contended names: every worker links, renames, exchanges, unlinks,
# writes, reads, stats and chmods the same 18 names, which start as 8
# lower files and 4 more lower links to them.  Nothing can be predicted
# but this: only ENOENT and EEXIST may come back (a name another worker
# just took), every inode shows as many links as it has names, and a
# remount shows the same tree.
LINKED = [d + n for d in ("", "d1/", "d2/") for n in "abcdef"]
RACE_ERRNOS = {errno.ENOENT, errno.EEXIST}


def link_worker(root, seed, ops, q):
    rnd = random.Random(seed)
    odd = {}
    for n in range(ops):
        a = os.path.join(root, rnd.choice(LINKED))
        b = os.path.join(root, rnd.choice(LINKED))
        op = rnd.choice(["link", "unlink", "rename", "exchange", "append",
                         "read", "stat", "create", "chmod"])
        try:
            if op == "link":
                os.link(a, b)
            elif op == "unlink":
                os.unlink(a)
            elif op == "rename":
                os.rename(a, b)
            elif op == "exchange":
                lfstest.renameat2(a, b, lfstest.RENAME_EXCHANGE)
            elif op == "append":
                with open(a, "a") as f:
                    f.write("+")
            elif op == "read":
                with open(a, "rb") as f:
                    f.read()
            elif op == "stat":
                os.stat(a)
            elif op == "chmod":
                os.chmod(a, 0o640)  # a lower file: a metadata-only copy
            else:
                fd = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(fd, b"new")
                os.close(fd)
        except OSError as e:
            if e.errno not in RACE_ERRNOS:
                key = "%s: %s" % (op, os.strerror(e.errno))
                odd[key] = odd.get(key, 0) + 1
    q.put(odd)


def read_worker(root, rounds, seed, q):
    """lstat, open and read every file under root, in an order of its
    own, rounds times; puts the number of files read."""
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root)
                   for f in fs)
    random.Random(seed).shuffle(files)
    n = 0
    for _ in range(rounds):
        for path in files:
            os.lstat(path)
            with open(path, "rb") as f:
                f.read()
            n += 1
    q.put(n)


def in_workers(target, arglists):
    """target(*args, queue) in a process for each args at once; the one
    thing each puts on the queue, in the order they come."""
    q = Queue()
    procs = [Process(target=target, args=tuple(args) + (q,))
             for args in arglists]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


def replacing(unlink_every=0):
    """A change for Concurrency._open_racing: its changer's n-th call
    writes "version n" to a file of its own beside the path and renames
    it onto the path, as programs update a file atomically; with
    unlink_every, every unlink_every-th call then removes the path."""
    def replace(fn, wid, n):
        tmp = "%s.%d" % (fn, wid)
        lfstest.write(tmp, "version %d\n" % n)
        os.rename(tmp, fn)
        if unlink_every and n % unlink_every == 0:
            os.unlink(fn)
    return replace


def use_open(fn):
    """For Concurrency._open_racing: opens fn, if it is there, and asks
    for the open file's attributes and xattrs, by its descriptor and by
    /proc/self/fd, ten times each."""
    try:
        fd = os.open(fn, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        for _ in range(10):
            os.fstat(fd)
            os.listxattr(fd)
            os.stat("/proc/self/fd/%d" % fd)
    finally:
        os.close(fd)


class Concurrency(LayerfsTestCase):
    def test_contended_hard_links(self):
        seed = int(os.environ.get("LFS_SEED", str(int(time.time()))))
        sys.stderr.write("seed %d (replay with LFS_SEED=%d)\n" % (seed, seed))
        formats = ["dotwh"] + (["overlay"] if lfstest.is_root() else [])
        for fmt in formats:
            with self.subTest(whiteout=fmt):
                rnd = random.Random(seed)
                low = self.mkdirs("low-" + fmt)
                for d in ("d1", "d2"):
                    os.makedirs(os.path.join(low, d))
                files = rnd.sample(LINKED, 8)
                for n in files:
                    lfstest.write(os.path.join(low, n), "L" + n)
                for n in rnd.sample([x for x in LINKED if x not in files], 4):
                    os.link(os.path.join(low, rnd.choice(files)),
                            os.path.join(low, n))
                m = self.mount_rw([low], opts=("whiteout=" + fmt,), name=fmt)
                odd = in_workers(link_worker,
                                 [(m.path, seed * 10 + w, OPS)
                                  for w in range(WORKERS)])
                self.assertEqual(odd, [{}] * WORKERS, "seed %d" % seed)
                names, groups = lfstest.names_view(m.path, LINKED)
                for g in groups:
                    for n in g:
                        self.assertEqual(names[n][1], len(g),
                                         "seed %d: %s, one of %s"
                                         % (seed, n, g))
                m.unmount()
                self._mounts.remove(m)
                again = self.mount([low], m.upper, m.work,
                                   opts=("whiteout=" + fmt,),
                                   mnt=self.path("again-" + fmt))
                self.assertEqual(lfstest.names_view(again.path, LINKED),
                                 (names, groups),
                                 "seed %d after a remount" % seed)

    def test_a_stuck_request_does_not_hold_up_the_others(self):
        # The pool keeps a worker spare (session_loop.c): while one
        # request waits on a layer that does not answer (a layer inside
        # another layerfs mount whose daemon is stopped), a request that
        # needs only the other layer is served.  With threads=1 it waits
        # too, which shows the check can fail.  On /dev/fuse even where
        # the kernel offers io_uring: there each CPU's ring has workers
        # of its own (test_uring.py), so threads=1 would not serialize.
        fast, inner = self.layers_one_of_them_stoppable()
        for case, (threads, served) in enumerate(((None, True),
                                                  ("threads=1", False))):
            slow = "s%d" % case
            with self.subTest(threads=threads or "default"):
                opts = ("io_uring=0",) + ((threads,) if threads else ())
                m = self.mount([fast, inner.path], opts=opts,
                               mnt=self.path("outer-%s" % served))
                # The merged root is read while the inner daemon runs;
                # "file" is then found in the top layer alone, and the
                # slow directory must be listed from the inner one.
                os.stat(os.path.join(m.path, slow))
                self.check_past_a_stuck_request(m, inner, slow, served)

    def test_a_steady_load_keeps_few_workers(self):
        # Several processes reading at once.  The pool used to end a
        # worker whenever half its maximum waited and start one whenever
        # none did: hundreds of threads made and ended in a second.  And
        # each waiting worker is woken for the next request, where a
        # busy one would have taken it itself: past half the CPUs the
        # pool now grows only while requests block (session_loop.c).
        # Warm reads never block, so the run keeps well under the
        # maximum, with room for a spare or two should the machine
        # stall a worker for 2 ms.
        spec = {"d%02d/f%02d" % (d, f): "%d %d\n" % (d, f)
                for d in range(20) for f in range(40)}
        low = self.layer("low", spec)
        stats = self.path("stats.json")
        threads = 8
        m = self.mount([low], opts=("io_uring=0", "threads=%d" % threads,
                                    "stats=" + stats))
        procs = 4
        # A slow daemon's requests themselves outlast the 2 ms stall
        # that grows the pool: how far it grows then depends on timing
        # alone.  Fewer rounds there, and only the hard cap is checked.
        rounds = 2 if lfstest.SLOW_DAEMON else 6
        # Once to warm the caches (a cold read may wait on the disk).
        in_workers(read_worker, [(m.path, 1, 0)])
        read = in_workers(read_worker,
                          [(m.path, rounds, seed) for seed in range(procs)])
        self.assertEqual(read, [rounds * len(spec)] * procs)
        from test_scale import read_stats
        s = read_stats(self, m.pid, stats)
        self.assertGreaterEqual(s["dev_fuse_workers"], 1)
        self.assertLessEqual(s["dev_fuse_workers"], threads, s)
        if lfstest.SLOW_DAEMON:
            return  # the growth bounds below are timing only there
        base = max(1, (os.cpu_count() or 1) // 2)
        self.assertLessEqual(s["dev_fuse_workers"], min(threads, base + 2), s)
        self.assertLessEqual(s["dev_fuse_workers_started"], threads, s)

    def test_workers_against_model(self):
        seed = int(os.environ.get("LFS_SEED", str(int(time.time()))))
        sys.stderr.write("seed %d (replay with LFS_SEED=%d)\n" % (seed, seed))
        spec = {"shared/low%d_%d" % (w, i): "lower %d %d\n" % (w, i)
                for w in range(WORKERS) for i in range(5)}
        spec["shared/deep/"] = None
        spec["base/keep"] = "untouched"
        low = self.layer("low", spec)
        m = self.mount_rw([low])
        for w in range(WORKERS):
            os.makedirs(os.path.join(m.path, "mine%d" % w), exist_ok=True)
        results = in_workers(worker, [(m.path, w, seed, OPS)
                                      for w in range(WORKERS)])
        expected = {"shared": None, "shared/deep": None, "base": None,
                    "base/keep": b"untouched"}
        for wid, status, model in results:
            self.assertEqual(status, "ok", "seed %d worker %d" % (seed, wid))
            expected.update(model)
        actual = {}
        for dirpath, dirnames, filenames in os.walk(m.path):
            for n in dirnames:
                actual[os.path.relpath(os.path.join(dirpath, n), m.path)] = None
            for n in filenames:
                p = os.path.join(dirpath, n)
                with open(p, "rb") as f:
                    actual[os.path.relpath(p, m.path)] = f.read()
        self.assertEqual(sorted(actual), sorted(expected), "seed %d" % seed)
        for k, v in expected.items():
            self.assertEqual(actual[k], v, "seed %d: %s" % (seed, k))
        # The same after a remount: nothing lived only in memory.
        m.unmount()
        self._mounts.remove(m)
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        for k, v in expected.items():
            p = os.path.join(m2.path, k)
            if v is None:
                self.assertTrue(os.path.isdir(p), k)
            else:
                with open(p, "rb") as f:
                    self.assertEqual(f.read(), v, k)


    def _open_racing(self, opts, name, change, open_once, lower_names=1):
        """Errors (errno -> count) of open_once(path) called for 3 s while
        two other processes call change(path, their number, n) for n = 0,
        1, ..., on a fresh mount of a lower layer holding d/f, the path.
        With lower_names > 1 it holds d/f0, d/f1, ... instead, the first
        changer goes on to the next name after each change and
        open_once takes the changers' name and the two after it: many
        of its calls race the replacement of a lower file."""
        names = (["d/f"] if lower_names == 1 else
                 ["d/f%d" % i for i in range(lower_names)])
        low = self.layer("low-" + name, {f: "lower" for f in names})
        m = self.mount_rw([low], opts=opts, name=name)
        at = Value("i", 0)
        seconds = 3

        def path(ahead):
            return os.path.join(m.path, names[(at.value + ahead) %
                                              lower_names])

        def changer(wid):
            deadline = time.monotonic() + seconds
            n = 0
            while time.monotonic() < deadline:
                try:
                    change(path(0), wid, n)
                except OSError:
                    pass
                if wid == 0:
                    at.value += 1
                n += 1
        changers = [Process(target=changer, args=(i,)) for i in range(2)]
        for p in changers:
            p.start()
        errors = {}
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for ahead in range(1 if lower_names == 1 else 3):
                    try:
                        open_once(path(ahead))
                    except OSError as e:
                        errors[e.errno] = errors.get(e.errno, 0) + 1
        finally:
            for p in changers:
                p.join()
        return errors

    def test_open_create_racing_unlink(self):
        """open(O_CREAT) of an existing name while other processes
        unlink it: the kernel looks the name up (positive) and sends
        OPEN, not CREATE; the unlink came in between.  ENOENT, which
        open(O_CREAT) in an existing directory never gives on a local
        filesystem (CPython's test_logging test_race,
        WatchedFileHandler), was the answer; the daemon opens the
        removed file through the fd it kept, as a local filesystem
        does."""
        def unlink(fn, wid, n):
            os.unlink(fn)

        def open_create(fn):
            os.close(os.open(fn, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                             0o644))
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                self.assertEqual(self._open_racing(
                    opts, "unlink%d" % len(opts), unlink, open_create), {})

    def test_open_racing_replacement_of_the_name(self):
        """A plain open of a name other processes keep replacing by
        rename(2), as programs update a file atomically, and now and
        then remove: the open finds one whole version, or ENOENT.  The
        daemon answered ESTALE for a node whose name went between the
        kernel's lookup and its OPEN; the kernel then looks up once more,
        and a second replacement in that window gave the caller ESTALE
        (the random stress test's shared slots; 53 in 15,000 opens here
        before).  It opens the replaced file through the fd it kept, as
        a local filesystem does."""
        replace = replacing(unlink_every=3)
        torn = []

        def open_read(fn):
            with open(fn) as f:
                data = f.read()
            if not (data == "lower" or (data.startswith("version ") and
                                        data.endswith("\n"))):
                torn.append(data)
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                errors = self._open_racing(
                    opts, "replace%d" % len(opts), replace, open_read)
                errors.pop(errno.ENOENT, None)
                self.assertEqual(errors, {})
                self.assertEqual(torn, [])

    def test_changes_racing_replacement_of_the_name(self):
        """truncate(2), chmod(2), utime(2), lstat(2) and listxattr(2) of
        a path other processes keep replacing by rename(2): on a local
        filesystem each reaches the old file or the new one, and none
        fails.  The daemon answered ENOENT (truncate: about 1 in 1,000
        calls on lower files): the copy-up of a lower file whose name
        went between the kernel's lookup and the SETATTR had no name to
        take (truncate, chmod and utime all failed so, 4 to 13 times in
        3 s), and a request reaching a file by its name found it
        unhashed after choosing to (node_name_went)."""
        replace = replacing()
        calls = [lambda fn: os.truncate(fn, 1),
                 lambda fn: os.chmod(fn, 0o640),
                 lambda fn: os.utime(fn, (1, 2)), os.lstat, os.listxattr]
        done = [0]

        def change_once(fn):
            done[0] += 1
            calls[done[0] % len(calls)](fn)
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                self.assertEqual(self._open_racing(
                    opts, "change%d" % len(opts), replace, change_once,
                    lower_names=4000), {})

    def test_open_file_racing_removal_of_its_name(self):
        """fstat(2) and flistxattr(2) of an open file while other
        processes replace its name and remove it: they never fail on a
        local filesystem.  The kernel asks for the inode, and the daemon
        reached it by its name, gone from the disk before the node lost
        it (ENOENT, 6 to 52 times in 3 s); it uses the fd dir.c kept
        then, as node_open does."""
        replace = replacing(unlink_every=2)
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                self.assertEqual(self._open_racing(
                    opts, "use%d" % len(opts), replace, use_open), {})

    def test_open_file_racing_its_own_rename(self):
        """fstat(2), flistxattr(2) and a stat through /proc/self/fd of
        an open file that other processes keep renaming away and back:
        never an error on a local filesystem.  Between a rename on disk
        and the move of its node, a request found nothing at the file's
        old name (ENOENT, 61 to 171 times in 5 s against one renaming
        process); it waits for the move now (node_names_moving)."""
        def moving(fn, wid, n):
            os.rename(fn, fn + ".moved")
            os.rename(fn + ".moved", fn)
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                self.assertEqual(self._open_racing(
                    opts, "moving%d" % len(opts), moving, use_open), {})

    def test_requests_between_a_rename_on_disk_and_its_nodes(self):
        """A request for the file a rename replaces, or for the file it
        moves, made while the rename is done on disk and not yet in the
        nodes (the daemon pauses there): the replaced file's reached the
        new one (its xattr read "new"), the moved file's found nothing
        (ENOENT).  Each waits for the nodes now, and reaches its own
        file."""
        low = self.layer("win-low", {"lower": "x"})
        m = self.mount_rw([low], name="win",
                          env=dict(os.environ,
                                   LFS_FAULT_PAUSE="rename-on-disk"))
        target, tmp = (os.path.join(m.path, n) for n in ("target", "tmp"))
        for path, value in ((target, b"old"), (tmp, b"new")):
            lfstest.write(path, value.decode())
            os.setxattr(path, "user.v", value)
        old_fd = os.open(target, os.O_RDONLY)
        new_fd = os.open(tmp, os.O_RDONLY)
        self.addCleanup(os.close, old_fd)
        self.addCleanup(os.close, new_fd)
        result = {}

        def rename():
            result["r"] = lfstest.errno_of(os.rename, tmp, target)

        def value_or_errno(fd):
            try:
                return os.getxattr(fd, "user.v")
            except OSError as e:
                return os.strerror(e.errno)
        th = threading.Thread(target=rename)
        th.start()
        try:
            lfstest.wait_paused(m.pid)
            got_old = value_or_errno(old_fd)
            got_new = value_or_errno(new_fd)
        finally:
            th.join(timeout=30)
        self.assertEqual(result.get("r"), 0)
        self.assertEqual(got_old, b"old")
        self.assertEqual(got_new, b"new")
        with open("/proc/self/fd/%d" % old_fd, "rb") as f:
            self.assertEqual(f.read(), b"old")
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"new")


def running_tasks():
    """The running-task count of /proc/loadavg, as fs/cpu_spare.c's
    cpu_spare_now reads it."""
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[0])


class Spinning(LayerfsTestCase):
    """A /dev/fuse worker that has just answered watches for the next
    request before it sleeps (fs/dev_spin.h), through a clone of the
    session's descriptor: the answers to what the clone gave must go back
    through it, or the process waiting for one waits for ever."""

    def chain_of_requests(self, root, tag):
        # Each request sent once the last is answered: create, write,
        # rename, read back, remove; a lower file read and stat'ed.
        for i in range(150):
            p = os.path.join(root, "d", "%s%03d" % (tag, i))
            with open(p, "w") as f:
                f.write("n%d" % i)
            q = p + ".moved"
            os.rename(p, q)
            with open(q) as f:
                self.assertEqual(f.read(), "n%d" % i)
            os.unlink(q)
            self.assertFalse(os.path.lexists(q))
        for i in range(0, 150, 7):
            with open(os.path.join(root, "d", "low%03d" % i)) as f:
                self.assertEqual(f.read(), "low %d\n" % i)

    def lower(self):
        return self.layer("low", {"d/low%03d" % i: "low %d\n" % i
                                  for i in range(150)})

    def test_a_lone_process_is_answered_by_a_watching_worker(self):
        if (os.cpu_count() or 1) < 2:
            self.skipTest("one CPU: no worker spins (dev_spin.h)")
        stats = self.path("stats.json")
        m = self.mount_rw([self.lower()], opts=("io_uring=0",
                                                 "stats=" + stats))
        from test_scale import read_stats
        # Spinning waits for a spare CPU (cpu_spare.c); a busy moment of
        # the machine may take a whole round.
        for attempt in range(5):
            self.chain_of_requests(m.path, "r%d-" % attempt)
            s = read_stats(self, m.pid, stats)
            self.assertTrue(s["dev_fuse_spin"], s)
            if s["dev_fuse_spin_hits"] > 0:
                break
        else:
            if running_tasks() > (os.cpu_count() or 1):
                self.skipTest("the machine had no CPU to spare: %d tasks "
                              "running" % running_tasks())
            self.fail("no request was taken while spinning: %s" % s)
        self.assertEqual(sorted(os.listdir(os.path.join(m.path, "d"))),
                         ["low%03d" % i for i in range(150)])

    def test_spin_us_0_never_spins(self):
        stats = self.path("stats.json")
        m = self.mount_rw([self.lower()], opts=("io_uring=0", "spin_us=0",
                                                 "stats=" + stats))
        self.chain_of_requests(m.path, "z")
        from test_scale import read_stats
        s = read_stats(self, m.pid, stats)
        self.assertFalse(s["dev_fuse_spin"], s)
        self.assertEqual(s["dev_fuse_spin_hits"], 0, s)


if __name__ == "__main__":
    lfstest.main()

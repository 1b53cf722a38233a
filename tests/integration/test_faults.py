"""Faults: a full upper layer, lower layers changed under the mount, the
daemon killed in the middle of renames, whiteouts and fsyncs, SIGTERM,
clients killed while they hold files, locks and requests.

Each test checks the merged view after the fault against what a user may
expect: the error is returned, nothing half-done is visible, what was
fsynced is there, and the daemon is alive (or, after SIGKILL, the next
mount is clean).  test_crash.py covers SIGKILL during a data copy-up.
"""

import errno
import fcntl
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
import unittest

import lfstest
from test_scale import read_stats
from lfstest import LayerfsTestCase, errno_of, snapshot


class FullUpper(LayerfsTestCase):
    """The upper layer and workdir on a tmpfs of 8 MiB and 64 inodes."""

    def setUp(self):
        super().setUp()
        self.require_root()
        small = self.mkdirs("small")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=8m,nr_inodes=64", "lfs-small", small],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.decode())
        self.before_cleanup(lambda: subprocess.run(["umount", "-l", small]))
        self.small = small
        big = os.urandom(1 << 20) * 12
        self.low = self.layer("low", {"big": big, "keep": "keep\n",
                                      "d/a": "a\n", "d/b": "b\n",
                                      "gone/x": "x\n"})
        self.big = big
        upper = os.path.join(small, "upper")
        work = os.path.join(small, "work")
        os.makedirs(upper)
        os.makedirs(work)
        self.stats = self.path("stats.json")
        self.m = self.mount([self.low], upper, work,
                            opts=("stats=" + self.stats,))
        self.upper, self.work = upper, work

    def staged(self):
        """Files in the work directory, but the marks a mount keeps at
        its top (lib/workdir.h)."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.work):
            out += [os.path.join(dirpath, n) for n in filenames
                    if dirpath != self.work or
                    n not in ("mounted", "index-checked", "layers")]
        return out

    def test_enospc_during_copy_up(self):
        p = os.path.join(self.m.path, "big")
        before = snapshot(self.m.path)
        # 12 MiB do not fit in 8: the copy-up fails and says so.
        self.assertEqual(errno_of(os.open, p, os.O_WRONLY | os.O_APPEND),
                         errno.ENOSPC)
        self.assertEqual(snapshot(self.m.path), before)
        self.assertFalse(os.path.exists(os.path.join(self.upper, "big")),
                         "a partial copy-up reached the upper layer")
        self.assertEqual(self.staged(), [], "staging leftovers in workdir")
        with open(p, "rb") as f:
            self.assertEqual(f.read(), self.big)
        # The space is free again: a small file can be copied up.
        with open(os.path.join(self.m.path, "keep"), "a") as f:
            f.write("more\n")
        self.assertEqual(open(os.path.join(self.m.path, "keep")).read(),
                         "keep\nmore\n")

    def test_enospc_during_write(self):
        self.check_enospc_during_write()

    def test_enospc_during_write_back(self):
        # Through the kernel's writeback cache (passthrough=0): the pages
        # reach the daemon in writes of up to 1 MiB, one of which meets
        # the full upper layer halfway.  Its part written was answered as
        # a success, and the kernel, which reads no count on a page
        # write-back, took the rest as written: fsync succeeded and the
        # file had less than was acknowledged.
        self.m.unmount()
        self._mounts.remove(self.m)
        self.m = self.mount([self.low], self.upper, self.work,
                            opts=("stats=" + self.stats, "passthrough=0"),
                            mnt=self.path("writeback"))
        self.check_enospc_during_write()

    def check_enospc_during_write(self):
        # A file taking a part of a page-aligned MiB, so that the upper
        # layer fills up in the middle of a write of the chunks below.
        with open(os.path.join(self.m.path, "pad"), "wb") as f:
            f.write(b"p" * (300 << 10))
        p = os.path.join(self.m.path, "fill")
        written = 0
        chunk = b"z" * (1 << 20)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        err = 0
        try:
            for _ in range(16):
                try:
                    n = os.write(fd, chunk)
                    os.fsync(fd)
                    written += n  # acknowledged: written and synced
                except OSError as e:
                    err = e.errno
                    break
        finally:
            try:
                os.close(fd)
            except OSError as e:
                err = err or e.errno
        self.assertEqual(err, errno.ENOSPC)
        # With the kernel's writeback cache the size it shows may count
        # the bytes that failed to reach the upper layer until it forgets
        # the inode (a FUSE limit); a fresh mount shows the upper file.
        size = os.stat(p).st_size
        sys.stderr.write("ENOSPC after %d bytes acknowledged; size seen "
                         "%d\n" % (written, size))
        if read_stats(self, self.m.pid, self.stats)["passthrough"]:
            # With passthrough the upper file takes the writes itself
            # and its size is the truth.
            self.assertEqual(size, written)
        with open(p, "rb") as f:
            self.assertEqual(f.read(written), b"z" * written)
        self.m.unmount()
        self._mounts.remove(self.m)
        self.m = self.mount([self.low], self.upper, self.work,
                            mnt=self.path("again"))
        p = os.path.join(self.m.path, "fill")
        size = os.stat(p).st_size
        self.assertGreaterEqual(size, written)
        self.assertLessEqual(size, 8 << 20)
        with open(p, "rb") as f:
            data = f.read()
        self.assertEqual(data[:written], b"z" * written)
        # The rest of the view is untouched, and removing the file frees
        # the space.
        self.assertEqual(open(os.path.join(self.m.path, "keep")).read(),
                         "keep\n")
        os.unlink(p)
        with open(os.path.join(self.m.path, "after"), "wb") as f:
            f.write(b"y" * (4 << 20))

    def exhaust_inodes(self):
        """Creates files on the tmpfs until it has no inode left."""
        n = 0
        while True:
            try:
                open(os.path.join(self.small, "filler%d" % n), "w").close()
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
                return n
            n += 1

    def test_enospc_during_mkdir_create_and_whiteout(self):
        before = snapshot(self.m.path)
        self.exhaust_inodes()
        mnt = self.m.path
        self.assertEqual(errno_of(os.mkdir, os.path.join(mnt, "newdir")),
                         errno.ENOSPC)
        self.assertEqual(errno_of(os.open, os.path.join(mnt, "newfile"),
                                  os.O_CREAT | os.O_WRONLY, 0o644),
                         errno.ENOSPC)
        # Deleting a lower name needs a whiteout, which needs an inode.
        self.assertEqual(errno_of(os.unlink, os.path.join(mnt, "keep")),
                         errno.ENOSPC)
        self.assertEqual(errno_of(os.unlink, os.path.join(mnt, "d", "a")),
                         errno.ENOSPC)
        r = subprocess.run(["rm", "-rf", os.path.join(mnt, "gone")],
                           capture_output=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(snapshot(mnt), before,
                         "a failed operation changed the merged view")
        self.assertEqual(self.staged(), [])
        # Free the inodes: the same operations now work.
        for n in os.listdir(self.small):
            if n.startswith("filler"):
                os.unlink(os.path.join(self.small, n))
        os.unlink(os.path.join(mnt, "keep"))
        os.mkdir(os.path.join(mnt, "newdir"))
        subprocess.run(["rm", "-rf", os.path.join(mnt, "gone")], check=True)
        self.assertEqual(sorted(os.listdir(mnt)), ["big", "d", "newdir"])


class LowerChanged(LayerfsTestCase):
    """Lower directories removed or swapped while mounted: errors, never a
    crash, never a host file."""

    def setUp(self):
        super().setUp()
        spec = {"d%d/f%d" % (i, j): "%d %d\n" % (i, j)
                for i in range(4) for j in range(20)}
        spec["keep/k"] = "k\n"
        self.low = self.layer("low", spec)
        self.m = self.mount_rw([self.low])
        # Warm the daemon: nodes and listings of everything.
        snapshot(self.m.path)

    def alive(self):
        self.assertIsNone(self.m.proc.poll(), "the daemon died")
        self.assertEqual(open(os.path.join(self.m.path, "keep/k")).read(),
                         "k\n")

    def poke(self, rel):
        """Every access to rel under the mount: errors allowed are those a
        vanished directory explains."""
        p = os.path.join(self.m.path, rel)
        allowed = {0, errno.ENOENT, errno.EIO, errno.ENOTDIR, errno.ESTALE}
        results = {}
        for name, fn in (("stat", lambda: os.stat(p)),
                         ("listdir", lambda: os.listdir(p)),
                         ("read", lambda: open(p + "/f1").read()),
                         ("stat child", lambda: os.stat(p + "/f2")),
                         ("write", lambda: open(p + "/f3", "a").write("x")),
                         ("create", lambda: open(p + "/new", "w").close()),
                         ("unlink", lambda: os.unlink(p + "/f4")),
                         ("rename", lambda: os.rename(p + "/f5", p + "/g5")),
                         ("rmdir", lambda: os.rmdir(p))):
            e = errno_of(fn)
            results[name] = e
            self.assertIn(e, allowed | {errno.ENOTEMPTY},
                          "%s %s: %s" % (name, rel, os.strerror(e)))
        return results

    def test_lower_directory_removed(self):
        subprocess.run(["rm", "-rf", os.path.join(self.low, "d0")],
                       check=True)
        self.poke("d0")
        self.alive()
        # Once the kernel forgets it, the name is gone or an error.
        subprocess.run(["sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"])
        self.assertIn(errno_of(os.stat, os.path.join(self.m.path, "d0")),
                      (errno.ENOENT, errno.EIO, errno.ESTALE))
        self.alive()

    def test_lower_file_removed_fails_the_open_or_the_read(self):
        """A daemon that opens the real file in OPEN reports its loss
        there; a root daemon, which opens lower files on their first
        read, reports it at the read: never data, never a crash."""
        eager = self.mount_rw([self.low], opts=("passthrough=0",),
                              name="eager")
        for m in (eager, self.m):
            p = os.path.join(m.path, "d2/f7")
            self.assertEqual(os.stat(p).st_size, 4)
        os.unlink(os.path.join(self.low, "d2/f7"))
        self.assertEqual(errno_of(open, os.path.join(eager.path, "d2/f7")),
                         errno.ENOENT)
        p = os.path.join(self.m.path, "d2/f7")

        def open_and_read():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                return os.read(fd, 10)
            finally:
                os.close(fd)
        self.assertIn(errno_of(open_and_read), (errno.ENOENT, errno.EIO))
        self.alive()

    def test_lower_directory_replaced_by_file(self):
        d1 = os.path.join(self.low, "d1")
        subprocess.run(["rm", "-rf", d1], check=True)
        with open(d1, "w") as f:
            f.write("now a file\n")
        self.poke("d1")
        self.alive()

    def test_lower_directory_swapped_for_a_symlink(self):
        # A directory fd taken before the swap keeps the kernel from
        # resolving the name again (through a symlink the kernel itself
        # would follow, as it does for any symlink); every request on it
        # reaches the daemon, which must not follow the swapped-in link.
        outside = self.layer("outside", {"f%d" % i: "OUTSIDE\n"
                                         for i in range(1, 6)})
        before = snapshot(outside, times=True)
        dfd = os.open(os.path.join(self.m.path, "d2"), os.O_DIRECTORY)
        try:
            d2 = os.path.join(self.low, "d2")
            subprocess.run(["rm", "-rf", d2], check=True)
            os.symlink(outside, d2)
            allowed = {0, errno.ENOENT, errno.EIO, errno.ENOTDIR,
                       errno.ESTALE}

            def read():
                fd = os.open("f1", os.O_RDONLY, dir_fd=dfd)
                try:
                    return os.read(fd, 100)
                finally:
                    os.close(fd)
            try:
                self.assertNotEqual(read(), b"OUTSIDE\n",
                                    "read through the swapped-in link")
            except OSError as e:
                self.assertIn(e.errno, allowed)
            for what, fn in (
                    ("stat", lambda: os.stat("f2", dir_fd=dfd)),
                    ("append", lambda: os.close(os.open(
                        "f3", os.O_WRONLY | os.O_APPEND, dir_fd=dfd))),
                    ("create", lambda: os.close(os.open(
                        "new", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dfd))),
                    ("unlink", lambda: os.unlink("f4", dir_fd=dfd)),
                    ("rename", lambda: os.rename("f5", "g5", src_dir_fd=dfd,
                                                 dst_dir_fd=dfd)),
                    ("chmod", lambda: os.chmod("f1", 0o777, dir_fd=dfd)),
                    ("mkdir", lambda: os.mkdir("sub", dir_fd=dfd)),
                    ("listdir", lambda: os.listdir(dfd))):
                e = errno_of(fn)
                self.assertIn(e, allowed, "%s: %s" % (what, os.strerror(e)))
            names = set(os.listdir(dfd)) if errno_of(os.listdir, dfd) == 0 \
                else set()
            self.assertFalse(names & {"f1", "f2", "f3"},
                             "the listing shows the outside directory")
        finally:
            os.close(dfd)
        self.assertEqual(snapshot(outside, times=True), before,
                         "a directory outside the layers changed")
        self.alive()

    def safe_listdir(self, rel):
        try:
            return os.listdir(os.path.join(self.m.path, rel))
        except OSError:
            return []

    def test_lower_directory_replaced_by_fifo(self):
        # (Root ignores permission bits, so an unreadable directory is one
        # that is not a directory any more.)
        d3 = os.path.join(self.low, "d3")
        subprocess.run(["rm", "-rf", d3], check=True)
        os.mkfifo(d3)
        self.poke("d3")
        self.alive()


def run_client(script, mnt):
    return subprocess.Popen([sys.executable, "-c", script, mnt],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def first_line(stream, timeout):
    """The first line from stream, or what came of it before timeout
    seconds or the end.  Read from the descriptor a byte at a time, so
    that none of the rest waits in stream's buffer."""
    fd = stream.fileno()
    line = b""
    end = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


class KillDaemon(LayerfsTestCase):
    """SIGKILL of the daemon while a client renames, unlinks or fsyncs;
    then a remount must show each name old or new, never half-done."""

    N = 300

    def lower(self):
        return self.layer("low", {"f%03d" % i: ("content %d\n" % i) * (i + 1)
                                  for i in range(self.N)})

    def kill_and_remount(self, low, script, delay, wait_first=False):
        """Kills the daemon delay seconds into the client's run (after
        its first line of output with wait_first: a slow start would
        leave it nothing done), remounts and gives the new mount and
        the client's output, split."""
        upper, work = self.mkdirs("u", "w")
        m = self.mount([low], upper, work, mnt=self.path("m"))
        client = run_client(script, m.path)
        first = first_line(client.stdout, 60) if wait_first else b""
        time.sleep(delay)
        m.kill()
        out, _ = client.communicate(timeout=60)
        out = first + out
        self._mounts.remove(m)
        m2 = self.mount([low], upper, work, mnt=self.path("again"))
        leftovers = os.listdir(os.path.join(work, "work")) \
            if os.path.isdir(os.path.join(work, "work")) else []
        self.assertEqual(leftovers, [], "staging leftovers after remount")
        return m2, out.decode().split()

    def test_kill_during_renames(self):
        low = self.lower()
        script = ("import os, sys\n"
                  "for i in range(%d):\n"
                  "    os.rename('%%s/f%%03d' %% (sys.argv[1], i),\n"
                  "              '%%s/g%%03d' %% (sys.argv[1], i))\n"
                  "    print(i, flush=True)\n" % self.N)
        for delay in (0.05, 0.3):
            with self.subTest(delay=delay):
                m, done = self.kill_and_remount(low, script, delay)
                names = set(os.listdir(m.path))
                renamed = 0
                for i in range(self.N):
                    f, g = "f%03d" % i, "g%03d" % i
                    self.assertEqual((f in names) + (g in names), 1,
                                     "%s/%s: both or neither" % (f, g))
                    name = g if g in names else f
                    self.assertEqual(open(os.path.join(m.path, name)).read(),
                                     ("content %d\n" % i) * (i + 1))
                    renamed += g in names
                # Sequential renames: a prefix is done, the acknowledged
                # ones certainly.
                self.assertEqual(names, {("g%03d" if i < renamed else "f%03d")
                                         % i for i in range(self.N)})
                self.assertGreaterEqual(renamed, len(done))
                sys.stderr.write("renames: %d acknowledged, %d visible\n"
                                 % (len(done), renamed))
                m.unmount()
                self._mounts.remove(m)
                subprocess.run(["rm", "-rf", self.path("u"), self.path("w")])

    def test_kill_during_whiteouts(self):
        low = self.lower()
        script = ("import os, sys\n"
                  "for i in range(%d):\n"
                  "    os.unlink('%%s/f%%03d' %% (sys.argv[1], i))\n"
                  "    print(i, flush=True)\n" % self.N)
        for delay in (0.05, 0.3):
            with self.subTest(delay=delay):
                m, done = self.kill_and_remount(low, script, delay)
                names = set(os.listdir(m.path))
                gone = self.N - len(names)
                self.assertEqual(names, {"f%03d" % i
                                         for i in range(gone, self.N)})
                self.assertGreaterEqual(gone, len(done))
                for n in names:
                    i = int(n[1:])
                    self.assertEqual(open(os.path.join(m.path, n)).read(),
                                     ("content %d\n" % i) * (i + 1))
                self.assertFalse(any(n.startswith(".wh.") for n in names))
                sys.stderr.write("unlinks: %d acknowledged, %d visible\n"
                                 % (len(done), gone))
                m.unmount()
                self._mounts.remove(m)
                subprocess.run(["rm", "-rf", self.path("u"), self.path("w")])

    def test_fsynced_data_survives_kill(self):
        low = self.lower()
        # Each file is written, fsynced, then acknowledged; some lower
        # files are rewritten in place (a copy-up, then data).
        script = ("import os, sys\n"
                  "for i in range(100000):\n"
                  "    p = '%s/%s%d' % (sys.argv[1], 'new' if i % 2 else"
                  " 'f%03d' % (i % 300) + '.', i)\n"
                  "    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,"
                  " 0o644)\n"
                  "    os.write(fd, b'data %d\\n' % i * 300)\n"
                  "    os.fsync(fd)\n"
                  "    os.close(fd)\n"
                  "    if i % 3 == 0:\n"
                  "        q = '%s/f%03d' % (sys.argv[1], i % 300)\n"
                  "        fd = os.open(q, os.O_WRONLY | os.O_APPEND)\n"
                  "        os.write(fd, b'appended %d\\n' % i)\n"
                  "        os.fsync(fd)\n"
                  "        os.close(fd)\n"
                  "    print(i, flush=True)\n")
        m, done = self.kill_and_remount(low, script, 0.5, wait_first=True)
        self.assertGreater(len(done), 0, "the client did nothing")
        appended = {}
        for i in map(int, done):
            name = ("new%d" % i) if i % 2 else ("f%03d.%d" % (i % 300, i))
            with open(os.path.join(m.path, name), "rb") as f:
                self.assertEqual(f.read(), b"data %d\n" % i * 300, name)
            if i % 3 == 0:
                appended.setdefault(i % 300, []).append(i)
        for k, items in appended.items():
            with open(os.path.join(m.path, "f%03d" % k), "rb") as f:
                data = f.read()
            base = ("content %d\n" % k).encode() * (k + 1)
            self.assertTrue(data.startswith(base))
            for i in items:
                self.assertIn(b"appended %d\n" % i, data)
        sys.stderr.write("fsync: %d acknowledged files all present\n"
                         % len(done))


class Signals(LayerfsTestCase):
    def test_sigterm_unmounts_cleanly(self):
        low = self.layer("low", {"a": "a\n", "d/b": "b\n"})
        stats = self.path("stats.json")
        m = self.mount_rw([low], opts=("stats=" + stats,))
        with open(os.path.join(m.path, "new"), "w") as f:
            f.write("written before SIGTERM\n")
        os.unlink(os.path.join(m.path, "a"))
        m.proc.send_signal(signal.SIGTERM)
        self.assertEqual(m.proc.wait(timeout=30), 0)
        self.assertIsNone(lfstest.mounted_fstype(m.path))
        self.assertTrue(os.path.exists(stats), "no stats at unmount")
        self.assertEqual(open(os.path.join(m.upper, "new")).read(),
                         "written before SIGTERM\n")
        self.assertTrue(os.path.exists(os.path.join(m.upper, ".wh.a")))
        m2 = self.mount([low], m.upper, m.work, mnt=self.path("again"))
        self.assertEqual(sorted(os.listdir(m2.path)), ["d", "new"])

    def test_sigint_with_relative_paths_and_stats_inside(self):
        # The daemon leaves its directory for / before it serves (even
        # with -f): a relative mountpoint was not unmounted at SIGINT,
        # with exit status 0.  And a statistics file inside the mount
        # itself hung the daemon at SIGTERM or SIGINT (written while the
        # mount was up, after its workers ended).
        low = self.layer("rlow", {"a": "a\n"})
        base = self.mkdirs("rel")
        for d in ("up", "wk", "mnt"):
            os.makedirs(os.path.join(base, d))
        proc = subprocess.Popen(
            [lfstest.LAYERFS, "-f", "-o",
             "lowerdir=%s,upperdir=up,workdir=wk,stats=mnt/st.json" % low,
             "mnt"], cwd=base, stderr=subprocess.PIPE)
        mnt = os.path.join(base, "mnt")
        self.before_cleanup(lambda: subprocess.run(
            ["umount", "-l", mnt], stderr=subprocess.DEVNULL))
        self.before_cleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.time() + 10
        while lfstest.mounted_fstype(mnt) is None and time.time() < deadline:
            time.sleep(0.02)
        self.assertIsNotNone(lfstest.mounted_fstype(mnt), "never mounted")
        self.assertEqual(os.listdir(mnt), ["a"])
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=30), 0, proc.stderr.read())
        self.assertIsNone(lfstest.mounted_fstype(mnt))
        # Written after the unmount: into the mountpoint directory.
        with open(os.path.join(mnt, "st.json")) as f:
            self.assertIn("lookups", json.load(f))

    def test_stats_write_that_hangs_does_not_hold_sigterm(self):
        # SIGUSR1's statistics go to a file on a filesystem that stops
        # answering (another layerfs mount whose daemon is stopped).  The
        # write waits, but not in the thread that takes signals: SIGTERM
        # still unmounts at once, and the daemon ends once the write can
        # finish.
        low = self.layer("slow", {"a": "a\n"})
        frozen = self.mount_rw([low], name="frozen")
        stats = os.path.join(frozen.path, "st.json")
        m = self.mount_rw([low], name="stats-on-frozen",
                          opts=("stats=" + stats,))
        frozen.proc.send_signal(signal.SIGSTOP)
        # Before the unmounts of tearDown, which would wait on it.
        self.addCleanup(frozen.proc.send_signal, signal.SIGCONT)
        m.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        m.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while (lfstest.mounted_fstype(m.path) is not None and
               time.monotonic() < deadline):
            time.sleep(0.02)
        self.assertIsNone(lfstest.mounted_fstype(m.path),
                          "SIGTERM waited for the statistics' write")
        frozen.proc.send_signal(signal.SIGCONT)
        self.assertEqual(m.proc.wait(timeout=30), 0)
        with open(stats) as f:
            self.assertIn("lookups", json.load(f))

    def test_request_in_flight_at_sigterm_is_answered(self):
        # SIGTERM ends the daemon after the requests it is serving: a
        # copy-up in progress finishes, its client gets its answer, and
        # then the mount goes.
        low = self.mkdirs("flow")
        chunk = os.urandom(1 << 20)
        with open(os.path.join(low, "big"), "wb") as f:
            for _ in range(256):
                f.write(chunk)
        m = self.mount_rw([low], name="flight")
        with open("/proc/%d/io" % m.pid) as f:
            written0 = self.written(f.read())
        client = subprocess.Popen(
            [sys.executable, "-c",
             "import os, sys, time\n"
             "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)\n"
             "print(time.monotonic(), os.write(fd, b'!'), flush=True)\n",
             os.path.join(m.path, "big")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The copy-up has begun once the daemon has dirtied a MiB of
        # file pages (a few bytes may be its own bookkeeping, written
        # before the client's open arrives on a loaded machine).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and client.poll() is None:
            with open("/proc/%d/io" % m.pid) as f:
                if self.written(f.read()) > written0 + (1 << 20):
                    break
            time.sleep(0.001)
        signalled = time.monotonic()
        m.proc.send_signal(signal.SIGTERM)
        out, err = client.communicate(timeout=60)
        self.assertEqual(client.returncode, 0, err)
        answered, n = out.split()
        self.assertEqual(n, "1")
        if float(answered) < signalled:
            self.skipTest("the copy-up ended before SIGTERM was sent: "
                          "this machine copies too fast for the test")
        self.assertEqual(m.proc.wait(timeout=30), 0, m.stderr())
        self.assertIsNone(lfstest.mounted_fstype(m.path))
        with open(os.path.join(m.upper, "big"), "rb") as f:
            self.assertEqual(os.fstat(f.fileno()).st_size, (256 << 20) + 1)
            f.seek(-(1 << 20) - 1, os.SEEK_END)
            self.assertEqual(f.read(), chunk + b"!")

    @staticmethod
    def written(proc_io):
        """Bytes of files a process dirtied, per /proc/PID/io (its
        replies to the kernel do not count there)."""
        fields = dict(l.split(": ") for l in proc_io.splitlines())
        return int(fields["write_bytes"])


CLIENTS = {
    "reader": "import sys\n"
              "while True:\n"
              "    with open(sys.argv[1] + '/big', 'rb') as f:\n"
              "        while f.read(65536): pass\n",
    "writer": "import os, sys\n"
              "fd = os.open(sys.argv[1] + '/w', os.O_WRONLY | os.O_CREAT)\n"
              "while True:\n"
              "    os.pwrite(fd, b'x' * 65536, 0)\n",
    "lister": "import os, sys\n"
              "while True:\n"
              "    for d, ds, fs in os.walk(sys.argv[1]): pass\n",
    "flocker": "import fcntl, os, sys, time\n"
               "f = open(sys.argv[1] + '/lockme', 'r+')\n"
               "fcntl.flock(f, fcntl.LOCK_EX)\n"
               "g = open(sys.argv[1] + '/posix', 'r+')\n"
               "fcntl.lockf(g, fcntl.LOCK_EX)\n"
               "print('locked', flush=True)\n"
               "time.sleep(600)\n",
    "mapper": "import mmap, os, sys\n"
              "f = open(sys.argv[1] + '/big', 'rb')\n"
              "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
              "while True:\n"
              "    sum(m[i] for i in range(0, len(m), 4096))\n",
}


class KilledClients(LayerfsTestCase):
    def test_daemon_survives_killed_clients(self):
        spec = {"big": os.urandom(4 << 20), "lockme": "l\n", "posix": "p\n"}
        for i in range(200):
            spec["tree/d%d/f%d" % (i % 10, i)] = "%d\n" % i
        low = self.layer("low", spec)
        m = self.mount_rw([low])
        for rnd in range(3):
            procs = {k: run_client(v, m.path) for k, v in CLIENTS.items()}
            self.assertEqual(procs["flocker"].stdout.readline().strip(),
                             b"locked")
            time.sleep(0.3 + rnd * 0.3)
            for p in procs.values():
                p.kill()
            for p in procs.values():
                p.wait(timeout=30)
            self.assertIsNone(m.proc.poll(), "the daemon died")
            # The dead holder's locks are gone.
            with open(os.path.join(m.path, "lockme"), "r+") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with open(os.path.join(m.path, "posix"), "r+") as f:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.assertEqual(open(os.path.join(m.path, "big"), "rb").read(),
                             spec["big"])
            self.assertEqual(len(os.listdir(os.path.join(m.path, "tree"))),
                             10)
        self.assertEqual(m.unmount(), 0)


class OpenUnlinked(LayerfsTestCase):
    """A file unlinked while open: on a local filesystem fchmod, ftruncate,
    futimens and close keep working on the open file."""

    def test_operations_on_an_open_unlinked_file(self):
        low = self.layer("low", {"lower-ro": "x\n", "lower-rw": "y\n"})
        m = self.mount_rw([low])
        with open(os.path.join(m.path, "upper-ro"), "w") as f:
            f.write("z\n")
        failures = []
        for name, flags in (("lower-ro", os.O_RDONLY),
                            ("lower-rw", os.O_RDWR),
                            ("upper-ro", os.O_RDONLY)):
            p = os.path.join(m.path, name)
            fd = os.open(p, flags)
            os.unlink(p)
            ops = [("fstat", lambda: os.fstat(fd))]
            if flags == os.O_RDWR:
                ops += [("fchmod", lambda: os.fchmod(fd, 0o600)),
                        ("ftruncate", lambda: os.ftruncate(fd, 1)),
                        ("futimens", lambda: os.utime(fd, (1, 1)))]
            ops.append(("close", lambda: os.close(fd)))
            for what, fn in ops:
                e = errno_of(fn)
                if e:
                    failures.append("%s %s: %s" % (what, name,
                                                   errno.errorcode[e]))
            self.assertIsNone(m.proc.poll())
        self.assertEqual(failures, [])

    def test_indexed_hard_link_held_after_its_names_and_opens_went(self):
        # A lower hard link copied up lives in the index.  Its entry
        # leaves the index once its names are gone and the daemon's last
        # open of it closed, but the kernel can hold the inode longer
        # (an O_PATH descriptor here; in the differential test, the
        # times the writeback cache writes back after an unlink that
        # raced the last close).  A change to the inode then must reach
        # the file the daemon kept of it, not the gone entry (ENOENT,
        # which the kernel keeps as a writeback error for syncfs).
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                tag = "ih%d" % len(opts)
                low = self.layer(tag, {"a": "lower data\n"})
                os.link(os.path.join(low, "a"), os.path.join(low, "b"))
                m = self.mount_rw([low], opts=opts, name=tag)
                a = os.path.join(m.path, "a")
                os.chmod(a, 0o640)   # copied up, into the index
                held = os.open(a, os.O_PATH)
                try:
                    fd = os.open(a, os.O_RDONLY)
                    os.unlink(os.path.join(m.path, "b"))
                    os.unlink(a)
                    os.close(fd)
                    proc = "/proc/self/fd/%d" % held
                    os.chmod(proc, 0o600)
                    os.utime(proc, (1, 2))
                    lfstest.syncfs(m.path)
                    st = lfstest.statx_sync(proc, True)
                    self.assertEqual((st["mode"] & 0o7777, st["nlink"]),
                                     (0o600, 0))
                    self.assertEqual(os.stat(proc).st_mtime, 2)
                finally:
                    os.close(held)
                self.assertEqual(sorted(os.listdir(m.path)), [])
                self.assertIsNone(m.proc.poll())

    def test_lower_file_removed_while_open_has_no_link(self):
        # As on a local filesystem: fstat of a file whose only name went
        # counts no link.  The kernel counted 0 after the unlink while
        # the daemon, asked again (or once the writeback cache's
        # attributes ran out), answered the lower file's 1.
        for opts in ((), ("passthrough=0",)):
            with self.subTest(opts=opts):
                tag = "rl%d" % len(opts)
                low = self.layer(tag, {"f": "x\n"})
                m = self.mount_rw([low], opts=opts, name=tag)
                p = os.path.join(m.path, "f")
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.unlink(p)
                    self.assertEqual(os.fstat(fd).st_nlink, 0)
                    self.assertEqual(lfstest.statx_sync(
                        "/proc/self/fd/%d" % fd, True)["nlink"], 0)
                    self.assertEqual(os.read(fd, 10), b"x\n")
                finally:
                    os.close(fd)

    def test_open_file_is_one_inode_with_its_last_name(self):
        # A file with two names, open through the one its inode goes by
        # in the daemon, which is then removed: its last name must stay
        # the same inode (a change through the descriptor shows there),
        # whether the names were made through the mount, one was renamed
        # since, or they are hard links of a lower layer.
        low = self.layer("low", {"la": "lower data\n"})
        os.link(os.path.join(low, "la"), os.path.join(low, "lb"))
        m = self.mount_rw([low])
        p = lambda name: os.path.join(m.path, name)
        with open(p("f"), "w") as f:
            f.write("upper data\n")
        os.link(p("f"), p("g"))
        with open(p("r"), "w") as f:
            f.write("renamed link\n")
        os.link(p("r"), p("s"))
        os.rename(p("s"), p("t"))
        for opened, last in (("f", "g"), ("r", "t"), ("la", "lb")):
            fd = os.open(p(opened), os.O_RDWR)
            os.unlink(p(opened))
            self.assertEqual(os.listdir(m.path).count(last), 1)
            os.fchmod(fd, 0o600)
            os.pwrite(fd, b"XY", 0)
            os.ftruncate(fd, 6)
            st, held = os.stat(p(last)), os.fstat(fd)
            self.assertEqual(st.st_ino, held.st_ino, last)
            self.assertEqual(
                (oct(st.st_mode), st.st_size, st.st_nlink),
                (oct(held.st_mode), 6, 1), last)
            with open(p(last), "rb") as f:
                self.assertEqual(f.read()[:2], b"XY", last)
            os.close(fd)
            os.chmod(p(last), 0o640)
            self.assertEqual(stat.S_IMODE(os.stat(p(last)).st_mode), 0o640)
        with open(os.path.join(low, "lb")) as f:
            self.assertEqual(f.read(), "lower data\n")

    def test_fifo_in_use_across_its_names(self):
        # The kernel opens a fifo without asking the daemon.  A reader
        # holding it open must be met by a writer opening another of its
        # names after the name the reader used is gone (else the writer
        # finds no reader: ENXIO), and its descriptor must keep answering
        # fstat once the fifo has no name at all (it gave ENOENT), and so
        # must an O_PATH descriptor of a removed symlink.
        low = self.layer("lowp", {})
        os.mkfifo(os.path.join(low, "lower"))
        os.link(os.path.join(low, "lower"), os.path.join(low, "lower2"))
        os.mkfifo(os.path.join(low, "alone"))
        os.symlink("t", os.path.join(low, "sym"))
        m = self.mount_rw([low])
        p = lambda name: os.path.join(m.path, name)
        os.mkfifo(p("up"))
        os.link(p("up"), p("up2"))
        nb = os.O_NONBLOCK
        for name, other in (("up", "up2"), ("lower", "lower2")):
            reader = os.open(p(name), os.O_RDONLY | nb)
            try:
                os.unlink(p(name))
                os.listdir(m.path)  # the kernel looks the other name up
                self.drop_caches()
                writer = os.open(p(other), os.O_WRONLY | nb)
                os.write(writer, b"through " + other.encode())
                os.close(writer)
                self.assertEqual(os.read(reader, 100),
                                 b"through " + other.encode())
                self.assertEqual(os.fstat(reader).st_ino,
                                 os.stat(p(other)).st_ino)
            finally:
                os.close(reader)
        held = [os.open(p("alone"), os.O_RDONLY | nb),
                os.open(p("up2"), os.O_RDONLY | nb),
                os.open(p("sym"), os.O_PATH | os.O_NOFOLLOW)]
        try:
            for name in ("alone", "up2", "sym"):
                os.unlink(p(name))
            kinds = [stat.S_IFMT(os.fstat(fd).st_mode) for fd in held]
            self.assertEqual(kinds, [stat.S_IFIFO, stat.S_IFIFO,
                                     stat.S_IFLNK])
        finally:
            for fd in held:
                os.close(fd)
        self.assertEqual(sorted(os.listdir(m.path)), ["lower2"])

    def test_change_to_a_lower_file_removed_with_its_directory(self):
        # A lower file open while its directory is removed: a change
        # through the descriptor has nothing to copy up to, and fails
        # with ENOENT, as on kernel overlayfs (it tried to make the copy
        # in the removed directory, EPERM); fstat keeps working.
        low = self.layer("lowr", {"b/c/f": "x"})
        m = self.mount_rw([low])
        fd = os.open(os.path.join(m.path, "b/c/f"), os.O_RDONLY)
        try:
            subprocess.check_call(["rm", "-rf", os.path.join(m.path, "b")])
            self.assertEqual(errno_of(lambda: os.fchmod(fd, 0o600)),
                             errno.ENOENT)
            self.assertEqual(os.fstat(fd).st_size, 1)
        finally:
            os.close(fd)
        self.assertEqual(os.listdir(m.path), [])
        self.assertEqual(os.listdir(m.upper), [".wh.b"])

    def drop_caches(self):
        """The kernel forgets what it can (as root), so names are looked
        up again."""
        if os.geteuid() == 0:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")

    def test_removed_directory_still_open(self):
        # As on a local filesystem (and kernel overlayfs): a directory
        # removed while open still answers fstat, with no links, lists
        # nothing, and an upper one takes chmod; the lower layer never
        # changes.  Removed by rmdir and by a rename onto its name, in
        # the upper layer only, merged, and in the lower layer only.
        low = self.layer("low", {"lower-rm/": None, "lower-mv/": None,
                                 "merged-rm/sub/": None})
        m = self.mount_rw([low])
        for d in ("upper-rm", "upper-mv"):
            os.mkdir(os.path.join(m.path, d), 0o750)
        os.rmdir(os.path.join(m.path, "merged-rm/sub"))
        # Its upper copy holds a whiteout, so layerfs empties it after the
        # rmdir: that must not change the mode the descriptor shows.
        os.chmod(os.path.join(m.path, "merged-rm"), 0o555)
        fds = {}
        for d in ("upper-rm", "upper-mv", "lower-rm", "lower-mv",
                  "merged-rm"):
            fds[d] = os.open(os.path.join(m.path, d), os.O_DIRECTORY)
            if d.endswith("-mv"):
                os.mkdir(os.path.join(m.path, "new-" + d))
                os.rename(os.path.join(m.path, "new-" + d),
                          os.path.join(m.path, d))
            else:
                os.rmdir(os.path.join(m.path, d))
        self.assertEqual(sorted(os.listdir(m.path)),
                         ["lower-mv", "upper-mv"])
        for d, fd in fds.items():
            st = os.fstat(fd)
            self.assertTrue(stat.S_ISDIR(st.st_mode), d)
            self.assertEqual(st.st_nlink, 0, d)
            self.assertEqual(os.listdir(fd), [], d)
        self.assertEqual(stat.S_IMODE(os.fstat(fds["merged-rm"]).st_mode),
                         0o555)
        for d in ("upper-rm", "upper-mv", "merged-rm"):
            os.fchmod(fds[d], 0o700)
            self.assertEqual(stat.S_IMODE(os.fstat(fds[d]).st_mode), 0o700)
        for d in ("lower-rm", "lower-mv"):
            # Nothing to copy up: it has no name any more.
            self.assertEqual(errno_of(lambda: os.fchmod(fds[d], 0o700)),
                             errno.ENOENT, d)
            self.assertEqual(stat.S_IMODE(
                os.stat(os.path.join(low, d)).st_mode), 0o755, d)
        for fd in fds.values():
            os.close(fd)
        self.assertIsNone(m.proc.poll())
        self.assertEqual(sorted(os.listdir(m.path)),
                         ["lower-mv", "upper-mv"])


if __name__ == "__main__":
    lfstest.main()

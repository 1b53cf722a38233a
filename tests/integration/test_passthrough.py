"""FUSE passthrough (fs/passthrough.h): upper files are read and written
by the kernel directly, and every mix of opens the kernel's rules allow
or forbid still works (a wrong mode would fail the open with EIO).

Passthrough needs Linux 6.9 and root in the initial user namespace; where
either is missing the tests say skipped.  Where both are there, a mount
that did not negotiate it is a failure, not a skip.
"""

import errno
import mmap
import os
import platform
import shutil
import subprocess
import time

import lfstest
from lfstest import LayerfsTestCase
from test_scale import read_stats

MiB = 1 << 20


def kernel_has_passthrough():
    """None when it has, else why not."""
    if not lfstest.is_root():
        return "needs root (CAP_SYS_ADMIN registers backing files)"
    with open("/proc/self/uid_map") as f:
        if f.read().split() != ["0", "0", "4294967295"]:
            return "runs in a user namespace"
    try:
        major, minor = (int(x) for x in
                        platform.release().split("-")[0].split(".")[:2])
    except ValueError:
        return "unknown kernel version %s" % platform.release()
    if (major, minor) < (6, 9):
        return "Linux %d.%d predates FUSE passthrough (6.9)" % (major,
                                                               minor)
    try:
        import gzip
        with gzip.open("/proc/config.gz", "rt") as f:
            if "CONFIG_FUSE_PASSTHROUGH=y" not in f.read():
                return "kernel built without CONFIG_FUSE_PASSTHROUGH"
    except OSError:
        pass  # no config to read: assume the default (y)
    return None


class Passthrough(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        why = kernel_has_passthrough()
        if why:
            self.skipTest(why)
        self.low = self.layer("low", {"f": "lower data\n",
                                      "big": b"L" * (3 * MiB)})
        self.stats = self.path("stats.json")

    def mount_pt(self, opts=()):
        m = self.mount_rw([self.low], opts=("stats=" + self.stats,) +
                          tuple(opts))
        # mount(2) returns before the daemon has answered INIT, where
        # passthrough is chosen; the first request waits for it.
        os.stat(m.path)
        s = read_stats(self, m.pid, self.stats)
        self.assertTrue(s["passthrough"], "passthrough not negotiated")
        self.assertFalse(s["writeback"])
        return m

    def pt_opens(self, m):
        return read_stats(self, m.pid, self.stats)["passthrough_opens"]

    def test_upper_files_bypass_the_daemon(self):
        m = self.mount_pt()
        p = os.path.join(m.path, "new")
        data = os.urandom(2 * MiB + 123)
        with open(p, "wb") as f:
            f.write(data)
        with open(p, "rb") as f:
            self.assertEqual(f.read(), data)
        with open(os.path.join(m.upper, "new"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.stat(p).st_size, len(data))
        # Creating and reading the file: two passthrough opens.
        self.assertEqual(self.pt_opens(m), 2)
        # Lower files are read through the page cache.
        with open(os.path.join(m.path, "f")) as f:
            self.assertEqual(f.read(), "lower data\n")
        self.assertEqual(self.pt_opens(m), 2)

    def test_disabled_by_option(self):
        m = self.mount_rw([self.low], opts=("stats=" + self.stats,
                                            "passthrough=0"))
        with open(os.path.join(m.path, "new"), "w") as f:
            f.write("x")
        s = read_stats(self, m.pid, self.stats)
        self.assertFalse(s["passthrough"])
        self.assertTrue(s["writeback"])
        self.assertEqual(s["passthrough_opens"], 0)

    def test_copy_up_while_open_for_reading(self):
        # A lower file open for reading is in the page-cache mode; the
        # opens that copy it up and follow must be too, or the kernel
        # fails them with EIO.
        m = self.mount_pt()
        p = os.path.join(m.path, "f")
        r1 = open(p, "rb", buffering=0)
        self.addCleanup(r1.close)
        self.assertEqual(r1.read(5), b"lower")
        with open(p, "r+b") as w:
            w.write(b"UPPER")
            w.flush()
            with open(p, "rb") as r2:
                self.assertEqual(r2.read(), b"UPPER data\n")
        r1.seek(0)
        self.assertEqual(r1.read(), b"UPPER data\n")
        self.assertEqual(self.pt_opens(m), 0)
        r1.close()
        # All closed: the next open is passthrough, data intact.  The
        # kernel sends RELEASE in the background after close() returns
        # (through io_uring it may even come after the next OPEN), so an
        # open may still find r1's mode: within a few tries it must not.
        deadline = time.time() + 10
        while True:
            with open(p, "rb") as r3:
                self.assertEqual(r3.read(), b"UPPER data\n")
            if self.pt_opens(m) > 0 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertGreaterEqual(self.pt_opens(m), 1)

    def test_reader_opened_before_any_copy_up_reads_each_state(self):
        """A root daemon opens a lower file for reading only when the
        first read needs it: a reader that has not read yet must still get
        the lower data after a metadata-only copy-up, and the upper data
        after a full one.  The page cache is dropped before each read so
        that the daemon serves it."""
        self.require_metacopy()
        m = self.mount_pt(opts=("metacopy=on",))
        p = os.path.join(m.path, "big")
        fd = os.open(p, os.O_RDONLY)
        self.addCleanup(os.close, fd)

        def read_fresh(n):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            return os.pread(fd, n, 0)
        os.chown(p, 4242, 4242)  # metadata only: data stays below
        self.assertEqual(os.lstat(os.path.join(m.upper, "big")).st_uid,
                         4242)
        self.assertEqual(read_fresh(4), b"LLLL")
        with open(p, "r+b") as w:  # the data comes up
            w.write(b"UU")
        self.assertEqual(read_fresh(4), b"UULL")
        with open(os.path.join(m.upper, "big"), "rb") as f:
            self.assertEqual(f.read(4), b"UULL")

    def test_many_opens_share_one_backing_file(self):
        m = self.mount_pt()
        p = os.path.join(m.path, "shared")
        with open(p, "wb") as f:
            f.write(b"\0" * (1 * MiB))
        w = open(p, "r+b")
        self.addCleanup(w.close)
        r = open(p, "rb")
        self.addCleanup(r.close)
        mm = mmap.mmap(r.fileno(), 0, prot=mmap.PROT_READ)
        self.addCleanup(mm.close)
        w.seek(4096)
        w.write(b"written through one fd")
        w.flush()
        self.assertEqual(mm[4096:4096 + 22], b"written through one fd")
        r.seek(4096)
        self.assertEqual(r.read(22), b"written through one fd")
        # A shared writable mapping writes the upper file.
        mw = mmap.mmap(w.fileno(), 0)
        mw[0:5] = b"mmap!"
        mw.flush()
        mw.close()
        with open(os.path.join(m.upper, "shared"), "rb") as f:
            self.assertEqual(f.read(5), b"mmap!")
        # O_DIRECT beside the passthrough opens (the kernel refuses a
        # direct-I/O open of an inode in passthrough mode).
        try:
            fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
        except OSError as e:
            self.fail("O_DIRECT open: %s" % e)
        try:
            buf = mmap.mmap(-1, 4096)
            n = os.preadv(fd, [buf], 4096)
            self.assertEqual(n, 4096)
            self.assertEqual(buf[:22], b"written through one fd")
        except OSError as e:
            if e.errno != errno.EINVAL:  # the upper fs may refuse DIO
                raise
        finally:
            os.close(fd)
        self.assertEqual(self.pt_opens(m), 4)

    def test_truncate_append_and_unlink_while_open(self):
        m = self.mount_pt()
        p = os.path.join(m.path, "t")
        with open(p, "wb") as f:
            f.write(b"x" * 10000)
        f = open(p, "r+b")
        self.addCleanup(f.close)
        os.truncate(p, 100)
        self.assertEqual(os.stat(p).st_size, 100)
        f.seek(0, os.SEEK_END)
        self.assertEqual(f.tell(), 100)
        with open(p, "ab") as a:
            a.write(b"tail")
        self.assertEqual(os.stat(p).st_size, 104)
        f.seek(100)
        self.assertEqual(f.read(), b"tail")
        os.unlink(p)
        f.seek(0)
        f.write(b"still open")
        f.flush()
        f.seek(0)
        self.assertEqual(f.read(10), b"still open")
        self.assertFalse(os.path.exists(p))

    def test_copy_up_of_a_big_lower_file_then_passthrough(self):
        m = self.mount_pt()
        p = os.path.join(m.path, "big")
        with open(p, "r+b") as f:
            f.seek(MiB)
            f.write(b"middle")
        with open(p, "rb") as f:
            data = f.read()
        self.assertEqual(len(data), 3 * MiB)
        self.assertEqual(data[MiB:MiB + 6], b"middle")
        self.assertEqual(data[:4], b"LLLL")
        self.assertEqual(data[-4:], b"LLLL")
        with open(os.path.join(self.low, "big"), "rb") as f:
            self.assertEqual(f.read(), b"L" * (3 * MiB))

    def lower_program(self):
        """A copy of sleep(1) in the lower layer, and its bytes."""
        with open(shutil.which("sleep"), "rb") as f:
            prog = f.read()
        p = os.path.join(self.low, "prog")
        with open(p, "wb") as f:
            f.write(prog)
        os.chmod(p, 0o755)
        return prog

    def start_program(self, path, seconds):
        proc = subprocess.Popen([path, str(seconds)])
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        deadline = time.time() + 10
        while os.readlink("/proc/%d/exe" % proc.pid) != path:
            self.assertLess(time.time(), deadline, "the program never ran")
            time.sleep(0.01)
        return proc

    def write_when_released(self, path, data):
        """Writes path once the kernel's asynchronous RELEASE of the last
        program's exec open has come (the open waits for it, and says
        ETXTBSY only if it does not come in time)."""
        deadline = time.time() + 10
        while True:
            try:
                with open(path, "wb") as f:
                    f.write(data)
                return
            except OSError as e:
                if e.errno != errno.ETXTBSY or time.time() > deadline:
                    raise
                time.sleep(0.05)

    def rewrite_after_the_run(self, proc, path, prog, code):
        """While proc runs path, a write is refused; once it has exited,
        a write copies it up (the lower file keeps the program) and the
        next exec runs the script written, which exits with code."""
        with self.assertRaises(OSError) as cm:
            open(path, "r+b")
        self.assertEqual(cm.exception.errno, errno.ETXTBSY)
        proc.kill()
        proc.wait()
        self.write_when_released(path, b"#!/bin/sh\nexit %d\n" % code)
        self.assertEqual(subprocess.run([path]).returncode, code)
        with open(os.path.join(self.low, "prog"), "rb") as f:
            self.assertEqual(f.read(), prog)

    def test_a_lower_program_runs_from_the_lower_file(self):
        """exec of a lower file is passthrough to it (no READ requests, no
        second copy in the page cache); while it runs, other opens share
        its backing file, writes are refused by the kernel, and once it
        has exited a write copies it up and the next exec runs the new
        content."""
        prog = self.lower_program()
        m = self.mount_pt()
        p = os.path.join(m.path, "prog")
        before = self.pt_opens(m)
        self.assertEqual(subprocess.run([p, "0"]).returncode, 0)
        self.assertEqual(self.pt_opens(m), before + 1)
        proc = self.start_program(p, 30)
        with open(p, "rb") as f:  # a reader beside it: same backing
            self.assertEqual(f.read(), prog)
            mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            self.assertEqual(mm[:4], b"\x7fELF")
            mm.close()
        self.rewrite_after_the_run(proc, p, prog, 7)
        with open(os.path.join(m.upper, "prog"), "rb") as f:
            self.assertEqual(f.read(), b"#!/bin/sh\nexit 7\n")

    def test_a_reader_kept_from_a_run_holds_off_writers(self):
        """A lower open made while the program ran shares its backing file;
        kept open after the program exits, it holds the lower copy in
        passthrough mode, where the kernel allows no other mode: a write
        fails with ETXTBSY instead of going anywhere wrong, and succeeds
        once the reader is closed."""
        prog = self.lower_program()
        m = self.mount_pt()
        p = os.path.join(m.path, "prog")
        proc = self.start_program(p, 30)
        reader = open(p, "rb")
        self.addCleanup(reader.close)
        proc.kill()
        proc.wait()
        t0 = time.time()
        with self.assertRaises(OSError) as cm:
            open(p, "r+b")
        self.assertEqual(cm.exception.errno, errno.ETXTBSY)
        self.assertLess(time.time() - t0, 5)
        # Refused before anything changed: an open that truncates and a
        # truncate(2) emptied the file though they failed (found by
        # review), where the reader kept reading the old data.
        with self.assertRaises(OSError) as cm:
            os.open(p, os.O_WRONLY | os.O_TRUNC)
        self.assertEqual(cm.exception.errno, errno.ETXTBSY)
        with self.assertRaises(OSError) as cm:
            os.truncate(p, 0)
        self.assertEqual(cm.exception.errno, errno.ETXTBSY)
        self.assertEqual(os.stat(p).st_size, len(prog))
        self.assertFalse(os.path.lexists(os.path.join(m.upper, "prog")))
        self.assertEqual(reader.read(), prog)
        with open(p, "rb") as f:
            self.assertEqual(f.read(), prog)
        reader.close()
        self.write_when_released(p, b"new")
        with open(p, "rb") as f:
            self.assertEqual(f.read(), b"new")
        with open(os.path.join(self.low, "prog"), "rb") as f:
            self.assertEqual(f.read(), prog)

    def test_a_running_program_copied_with_its_data_runs_again(self):
        """With metacopy=off a chmod or a rename of a program running from
        a lower layer copies its data up.  Every later open of the copy,
        a new run among them, failed with ETXTBSY while the first run
        lasted: the kernel takes no open of the copy beside the lower
        file's passthrough one (found by review; kernel overlayfs runs
        it).  The copy, equal to the lower data, shares its backing file
        until the run ends; a write still waits for that."""
        prog = self.lower_program()
        m = self.mount_pt(opts=("metacopy=off",))
        p = os.path.join(m.path, "prog")
        proc = self.start_program(p, 30)
        os.chmod(p, 0o700)
        self.assertEqual(os.stat(os.path.join(m.upper, "prog")).st_size,
                         len(prog))  # a copy with the data
        self.assertEqual(subprocess.run([p, "0"]).returncode, 0)
        with open(p, "rb") as f:
            self.assertEqual(f.read(), prog)
        os.rename(p, p + "2")
        p += "2"
        self.assertEqual(subprocess.run([p, "0"]).returncode, 0)
        self.assertEqual(os.stat(p).st_mode & 0o777, 0o700)
        self.rewrite_after_the_run(proc, p, prog, 5)


if __name__ == "__main__":
    lfstest.main()

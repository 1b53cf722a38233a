"""A program run from a lower layer without passthrough (a rootless
mount, passthrough=0) is put in the kernel's page cache with the open of
its execve (fs/exec_prefetch.h), instead of read page fault by page
fault through the daemon.

What is checked: the program runs, and every page of it is in the page
cache right after its first run (where without the store a run leaves
most of a large one unread); the cached data is the file's; it happens
once per file; it is left off for what a store could make wrong (hard
links, copied-up files) or waste (programs over 8 MiB), and by
exec_prefetch=0; a copy-up after it is seen at once.
"""

import ctypes
import mmap
import os
import shutil
import subprocess

import lfstest
from lfstest import LayerfsTestCase
from test_scale import read_stats

MiB = 1 << 20
PAGE = mmap.PAGESIZE

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t,
                          ctypes.POINTER(ctypes.c_ubyte))


def pages_cached(path):
    """How many of path's pages are in the page cache, and of how many:
    mincore(2) of a shared mapping, which reads nothing in."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd,
                          0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap " + path)
        try:
            n = (size + PAGE - 1) // PAGE
            vec = (ctypes.c_ubyte * n)()
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore " + path)
            return sum(b & 1 for b in vec), n
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def script(code, size):
    """A shell script of size bytes that exits with code at once: the
    shell reads its first block and stops."""
    head = b"#!/bin/sh\nexit %d\n" % code
    return head + b"#" * (size - len(head) - 1) + b"\n"


class ExecPrefetch(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        self.require_unchanging_layers("keeps no page cache of lower files")
        with open(shutil.which("sleep"), "rb") as f:
            self.elf = f.read()
        self.low = self.layer("low", {})
        self.put("prog", self.elf)
        self.put("script", script(3, 2 * MiB))
        self.stats = self.path("stats.json")

    def put(self, name, data):
        p = os.path.join(self.low, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o755)
        return p

    def mount_np(self, opts=()):
        return self.mount_rw([self.low], opts=(
            "passthrough=0", "stats=" + self.stats) + tuple(opts))

    def prefetches(self, m):
        s = read_stats(self, m.pid, self.stats)
        return s["exec_prefetches"], s["exec_prefetch_bytes"]

    def test_a_lower_program_is_in_the_page_cache_after_its_first_run(self):
        m = self.mount_np()
        prog = os.path.join(m.path, "prog")
        self.assertEqual(subprocess.run([prog, "0"]).returncode, 0)
        self.assertEqual(self.prefetches(m), (1, len(self.elf)))
        cached, pages = pages_cached(prog)
        self.assertEqual(cached, pages)
        with open(prog, "rb") as f:
            self.assertEqual(f.read(), self.elf)
        # Once per file: the next runs find the pages the first left.
        for _ in range(3):
            self.assertEqual(subprocess.run([prog, "0"]).returncode, 0)
        self.assertEqual(self.prefetches(m), (1, len(self.elf)))

    def test_a_large_program_is_stored_whole(self):
        """A 2 MiB script whose shell stops at its first line: stored, all
        its pages are cached; left to the kernel, most are never read."""
        for opt, stored in (("exec_prefetch=1", True),
                            ("exec_prefetch=0", False)):
            with self.subTest(opt):
                m = self.mount_np((opt,))
                p = os.path.join(m.path, "script")
                self.assertEqual(subprocess.run([p]).returncode, 3)
                cached, pages = pages_cached(p)
                if stored:
                    self.assertEqual(cached, pages)
                    self.assertEqual(self.prefetches(m), (1, 2 * MiB))
                else:
                    self.assertLess(cached, pages // 2)
                    self.assertEqual(self.prefetches(m), (0, 0))
                m.unmount()

    def test_left_to_the_kernel(self):
        """Hard links (another name's copy-up would change this inode's
        data behind a store), a file already copied up (its pages may be
        dirty), and programs over 8 MiB: they run as before, stored
        nowhere."""
        self.put("big", script(4, 8 * MiB + PAGE))
        linked = self.put("linked", script(5, 64 << 10))
        os.link(linked, os.path.join(self.low, "linked2"))
        m = self.mount_np()
        copied = os.path.join(m.path, "prog")
        with open(copied, "r+b") as f:  # copies it up, unchanged
            f.write(self.elf[:1])
        for name, code in (("big", 4), ("linked", 5), ("linked2", 5)):
            self.assertEqual(
                subprocess.run([os.path.join(m.path, name)]).returncode,
                code, name)
        self.assertEqual(subprocess.run([copied, "0"]).returncode, 0)
        self.assertEqual(self.prefetches(m), (0, 0))

    def test_a_copy_up_after_the_store_shows_the_new_data(self):
        m = self.mount_np()
        p = os.path.join(m.path, "script")
        self.assertEqual(subprocess.run([p]).returncode, 3)
        self.assertEqual(self.prefetches(m)[0], 1)
        new = script(6, 2 * MiB)
        with open(p, "r+b") as f:
            f.write(new[:len(b"#!/bin/sh\nexit 6")])
        with open(p, "rb") as f:
            self.assertEqual(f.read(), new)
        self.assertEqual(subprocess.run([p]).returncode, 6)
        with open(os.path.join(self.low, "script"), "rb") as f:
            self.assertEqual(f.read(), script(3, 2 * MiB))


if __name__ == "__main__":
    lfstest.main()

"""Bounded memory and listings dropped under a budget.

LFS_SCALE_FILES sets the size of the big tree (the stress target walks a
million files; make test walks 100k)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import lfstest
from lfstest import LayerfsTestCase, snapshot

FILES = int(os.environ.get("LFS_SCALE_FILES", "100000"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def drop_kernel_caches():
    """Makes the kernel forget dentries and inodes (FUSE forgets them)."""
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def make_big_tree(root, files, per_dir=1000):
    os.makedirs(root, exist_ok=True)
    for i in range(files):
        d = os.path.join(root, "d%04d" % (i // per_dir))
        if i % per_dir == 0:
            os.mkdir(d)
        # Empty files: the test is about names, not data.
        open(os.path.join(d, "file-%07d" % i), "w").close()


def walk_stat(root):
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            os.lstat(os.path.join(dirpath, name))
            n += 1
    return n


def lower_dir_of_names(low, count):
    """low/big holding count empty files entry-NNNNN: their names."""
    big = os.path.join(low, "big")
    os.makedirs(big)
    names = ["entry-%05d" % i for i in range(count)]
    for n in names:
        open(os.path.join(big, n), "w").close()
    return names


def given_twice(seen):
    """The names seen more than once, sorted."""
    counts = {}
    for n in seen:
        counts[n] = counts.get(n, 0) + 1
    return sorted(n for n, c in counts.items() if c > 1)


def walk_find(root):
    """Every path under root, as find(1) lists them, one line each."""
    out = subprocess.run(["find", root, "-printf", "%s %p\\n"],
                         check=True, capture_output=True).stdout
    return out.splitlines()


def read_stats(test, pid, path):
    if os.path.exists(path):
        os.unlink(path)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.time() + 10
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    with open(path) as f:
        return json.load(f)


class Scale(LayerfsTestCase):
    def test_a_large_listing_begins_without_attributes(self):
        # readdir.c, plus_attrs: the kernel asks for a listing's first
        # reply with attributes, before it knows whether the reader
        # looks the names up.  Of a directory many replies long it comes
        # without (no lookup, so no stat of the lower files); of a small
        # one, with them.
        spec = {"big/f%05d" % i: "%d" % i for i in range(4000)}
        spec.update({"small/g%02d" % i: "x" * i for i in range(50)})
        low = self.layer("low", spec)
        stats = self.path("stats.json")
        m = self.mount([low], opts=("stats=" + stats,))

        def lookups():
            return read_stats(self, m.pid, stats)["lookups"]
        before = lookups()
        names = os.listdir(os.path.join(m.path, "big"))
        self.assertEqual(sorted(names), ["f%05d" % i for i in range(4000)])
        # The directory itself, and nothing of what it lists.
        self.assertLessEqual(lookups() - before, 2)
        # Looked up one by one, the names have their own attributes.
        for i in range(0, 4000, 37):
            st = os.lstat(os.path.join(m.path, "big", "f%05d" % i))
            self.assertEqual(st.st_size, len(str(i)))
        before = lookups()
        self.assertEqual(len(os.listdir(os.path.join(m.path, "small"))), 50)
        self.assertGreaterEqual(lookups() - before, 50)
        for i in range(50):
            st = os.lstat(os.path.join(m.path, "small", "g%02d" % i))
            self.assertEqual(st.st_size, i)

    def test_small_budget_keeps_the_view_exact(self):
        top = self.layer("top", {})
        low = self.layer("low", {})
        for d in range(60):
            for f in range(600):
                target = top if (d + f) % 5 == 0 else low
                p = os.path.join(target, "dir%02d" % d, "f%03d" % f)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as fh:
                    fh.write("%d/%d" % (d, f))
            open(os.path.join(top, "dir%02d" % d, ".wh.f001"), "w").close()
        ref = self.mount([top, low], mnt=self.path("ref"))
        expected = snapshot(ref.path)
        stats = self.path("stats.json")
        m = self.mount_rw([top, low], opts=("dircache=1", "stats=" + stats))
        for _ in range(2):
            self.assertEqual(snapshot(m.path), expected)
        s = read_stats(self, m.pid, stats)
        self.assertGreater(s["dir_evictions"], 0, "the budget never bit: %s" % s)
        self.assertLessEqual(s["dcache_bytes"], 2 << 20)
        # Changes in directories whose listing was dropped.
        for d in range(0, 60, 7):
            p = os.path.join(m.path, "dir%02d" % d)
            os.unlink(os.path.join(p, "f002"))
            with open(os.path.join(p, "new"), "w") as fh:
                fh.write("n")
        for _ in range(2):
            for d in range(0, 60, 7):
                names = os.listdir(os.path.join(m.path, "dir%02d" % d))
                self.assertIn("new", names)
                self.assertNotIn("f002", names)
                # A whiteout hides only the layers below its own: where
                # f001 sits in the top layer beside .wh.f001, it shows.
                f001_in_top = (d + 1) % 5 == 0
                self.assertEqual("f001" in names, f001_in_top, d)
                self.assertEqual(len(names), 600 if f001_in_top else 599)

    def test_listings_of_changing_directories_stay_bounded(self):
        """A listing counts against the budget what it holds after names
        are added through the mount, not only what it held when loaded;
        and the records of names that came and went (temp files,
        write-then-rename) do not pile up for the life of the mount.
        Both grew unseen by the budget (found by review: 300,000 temp
        files cost 16 MiB)."""
        low = self.layer("low", {"keep": "k"})
        stats = self.path("stats.json")
        m = self.mount_rw([low], opts=("stats=" + stats,))
        live = os.path.join(m.path, "live")
        os.mkdir(live)
        for i in range(5000):
            open(os.path.join(live, "file-%05d" % i), "w").close()
        grown = read_stats(self, m.pid, stats)["dcache_bytes"]
        # 5,000 records of 24 bytes at least, and their names.
        self.assertGreater(grown, 5000 * 24)
        churn = os.path.join(m.path, "churn")
        os.mkdir(churn)
        target = os.path.join(churn, "target")
        for i in range(20000):
            p = os.path.join(churn, "tmp-%06d" % i)
            with open(p, "w") as f:
                f.write("x")
            if i % 2:
                os.unlink(p)
            else:
                os.rename(p, target)
        self.assertEqual(sorted(os.listdir(churn)), ["target"])
        after = read_stats(self, m.pid, stats)["dcache_bytes"]
        # 20,000 names came and went: at most a few thousand records of
        # them may wait to be shed, not all.
        self.assertLess(after - grown, 256 << 10, (grown, after))
        self.assertEqual(len(os.listdir(live)), 5000)
        with open(os.path.join(m.path, "keep")) as f:
            self.assertEqual(f.read(), "k")

    def test_listing_bigger_than_the_budget_is_read_once_per_walk(self):
        """A listing bigger than the whole budget, in use all along,
        stays while it is used: a walk through the subdirectories of a
        directory of many names read that listing again for each of
        them, as loading each subdirectory's listing dropped it (found
        by review: `find` over 40,000 names and 200 subdirectories with
        `dircache=1` read 400 listings, and took four times as long)."""
        low = self.layer("low", {})
        big = os.path.join(low, "big")
        os.makedirs(big)
        pad = "n" * 48
        for i in range(30000):
            open(os.path.join(big, "%s-%05d" % (pad, i)), "w").close()
        for d in range(100):
            os.makedirs(os.path.join(big, "sub%03d" % d))
            open(os.path.join(big, "sub%03d" % d, "f"), "w").close()
        stats = self.path("stats.json")
        m = self.mount_rw([low], opts=("dircache=1", "stats=" + stats))
        before = read_stats(self, m.pid, stats)
        self.assertEqual(len(walk_find(os.path.join(m.path, "big"))),
                         30000 + 100 * 2 + 1)
        s = read_stats(self, m.pid, stats)
        self.assertGreater(s["dcache_bytes"], 1 << 20, s)
        # "big" once and each subdirectory once, with a little slack.
        self.assertLessEqual(s["dir_loads"] - before["dir_loads"], 101 + 10,
                             s)

    def test_listing_while_names_are_created(self):
        """Names created during a listing wait, unsorted, in a tail that
        each readdir merges with the sorted listing until it grows past
        a bound (readdir_order.h).  Through both, a readdir resumed at
        its offset must give every name present all along exactly once,
        in offset order, and the new ones at most once."""
        low = self.layer("low", {})
        names = lower_dir_of_names(low, 3000)
        m = self.mount_rw([low])
        path = os.path.join(m.path, "big")
        # Each round lists in small replies and adds a few names: the
        # tail stays under its bound (256 and more) for many rounds,
        # then passes it, and the listing is sorted again.
        created = []
        for rnd, per_step in enumerate((3, 3, 25)):
            seen, offsets = [], []
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                # Replies of 1 KiB: a listing takes many readdirs.
                entries = ((name, off) for name, _, off in
                           lfstest.getdents_entries(fd, 1024)
                           if name not in (".", ".."))
                for i, (name, off) in enumerate(entries):
                    seen.append(name)
                    offsets.append(off)
                    if i % 50 == 0 and i < 3000:
                        for _ in range(per_step):
                            new = "new-%05d" % len(created)
                            open(os.path.join(path, new), "w").close()
                            created.append(new)
            finally:
                os.close(fd)
            with self.subTest(round=rnd):
                self.assertEqual(given_twice(seen), [])
                self.assertEqual(sorted(set(names) - set(seen)), [])
                self.assertEqual(offsets, sorted(offsets))
        self.assertEqual(sorted(os.listdir(path)), sorted(names + created))

    def test_listing_resumes_after_change_and_drop(self):
        # No directory handle pins a listing: a readdir resumes from its
        # offset in whatever listing is there now.  Names present all
        # along must come exactly once, whatever happens in between.
        low = self.layer("low", {})
        names = lower_dir_of_names(low, 6000)
        for d in range(60):
            self.layer("low/other%02d" % d,
                       {"f%04d" % f: "" for f in range(1000)})
        stats = self.path("stats.json")
        m = self.mount_rw([low], opts=("dircache=1", "stats=" + stats))
        path = os.path.join(m.path, "big")
        removed = set(names[1::7])
        seen = []
        with os.scandir(path) as it:
            for i, e in enumerate(it):
                seen.append(e.name)
                if i == 100:
                    # Change the directory (the kernel's cached listing
                    # goes) and push its listing out of the daemon.
                    for n in sorted(removed):
                        os.unlink(os.path.join(path, n))
                    for k in range(500):
                        open(os.path.join(path, "new-%03d" % k), "w").close()
                    for d in range(60):
                        os.listdir(os.path.join(m.path, "other%02d" % d))
        self.assertGreater(read_stats(self, m.pid, stats)["dir_evictions"], 0)
        self.assertEqual(given_twice(seen), [])
        missing = sorted(set(names) - removed - set(seen))
        self.assertEqual(missing, [])
        # And a fresh listing is exact.
        expect = sorted((set(names) - removed) |
                        {"new-%03d" % k for k in range(500)})
        self.assertEqual(sorted(os.listdir(path)), expect)

    def test_descriptors_stay_within_a_low_open_files_limit(self):
        # The daemon keeps directory fds (dirfd_cache.c) and shares the
        # fds of files opened for reading (shared_fd.c).  Under a low
        # open-files limit, as some sandboxes set, both must stay within
        # their part of it: a walk of many directories by several
        # readers at once gets no EMFILE.
        limit = 256
        low = self.path("low")
        for d in range(600):
            for f in range(2):
                p = os.path.join(low, "d%03d" % d, "sub", "f%d" % f)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as fh:
                    fh.write("%d %d\n" % (d, f))
        saved = lfstest.DAEMON_WRAPPER
        lfstest.DAEMON_WRAPPER = ["prlimit", "--nofile=%d:%d" % (limit, limit),
                                  "--"] + saved
        try:
            m = self.mount_rw([low])
        finally:
            lfstest.DAEMON_WRAPPER = saved
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(m.path)
                       for f in fs)
        self.assertEqual(len(files), 1200)
        errors = []

        def reader(k):
            # Every file, each reader from another quarter of the list.
            start = k * len(files) // 4
            for path in files[start:] + files[:start]:
                try:
                    os.lstat(path)
                    with open(path) as fh:
                        fh.read()
                except OSError as e:
                    errors.append("%s: %s" % (path, e))

        threads = [threading.Thread(target=reader, args=(k,))
                   for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors[:3], [])
        self.assertLess(len(os.listdir("/proc/%d/fd" % m.pid)), limit)

    def test_memory_comes_back_after_forget(self):
        self.require_root()  # drop_caches
        if os.environ.get("ASAN_OPTIONS") or lfstest.DAEMON_WRAPPER:
            self.skipTest("memory figures mean nothing under a sanitizer "
                          "or valgrind (freed memory is held back)")
        low = self.path("big")
        make_big_tree(low, FILES)
        stats = self.path("stats.json")
        m = self.mount([low], opts=("stats=" + stats,))
        base = rss_kib(m.pid)
        self.assertEqual(walk_stat(m.path), FILES)
        s1 = read_stats(self, m.pid, stats)
        after_walk = rss_kib(m.pid)
        drop_kernel_caches()
        # drop_caches queues the kernel's forgets, and the daemon takes
        # them in its own time (later on a loaded machine): the node
        # table is read until it is down, for 30 s at most (then the
        # checks below say where it stayed).
        deadline = time.monotonic() + 30
        while True:
            s2 = read_stats(self, m.pid, stats)
            if s2["nodes"] < FILES * 0.05 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # The kernel forgot its inodes, and so did the node table.
        self.assertGreaterEqual(s1["nodes"], FILES * 0.9)
        self.assertLess(s2["nodes"], FILES * 0.05, s2["nodes"])
        self.assertEqual(walk_stat(m.path), FILES)
        second = rss_kib(m.pid)
        per_node = (after_walk - base) * 1024.0 / max(s1["nodes"], 1)
        sys.stderr.write("rss base %d KiB, after walk %d KiB, after second "
                         "walk %d KiB, %.0f bytes per node, nodes %d -> %d\n"
                         % (base, after_walk, second, per_node, s1["nodes"],
                            s2["nodes"]))
        # The second walk reuses what the first freed: no growth.
        self.assertLess(second, after_walk * 1.15 + 2048)


if __name__ == "__main__":
    lfstest.main()

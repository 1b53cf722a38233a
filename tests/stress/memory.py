#!/usr/bin/env python3
"""Daemon memory after walking a million-file tree twice (`make
stress-memory`).

Builds the trees once and keeps them under $LFS_STRESS_CACHE (default
/var/tmp/layerfs-stress): a tree of FILES empty files in directories of
1000, and one directory holding FILES entries.  Then, on a read-write
mount of the first: RSS at mount, after a stat walk, after
`echo 3 > /proc/sys/vm/drop_caches` (the kernel forgets its inodes, so
the daemon forgets its nodes), and after a second walk; bytes per node.
On the flat directory: a full listing through the mount, one lookup, and
an unlink that leaves a whiteout, then the listing again.  Fails if the
node table does not shrink after the drop, if the second walk grows RSS by
more than 15% over the first, or if a listing is wrong.

usage: memory.py [FILES]   (default 1000000; needs root)
"""

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import lfstest  # noqa: E402
from test_scale import (drop_kernel_caches, make_big_tree, read_stats,  # noqa: E402
                        rss_kib, walk_stat)

CACHE = os.environ.get("LFS_STRESS_CACHE", "/var/tmp/layerfs-stress")


def cached_tree(name, files, build):
    """The tree at CACHE/name-files, built on first use."""
    path = os.path.join(CACHE, "%s-%d" % (name, files))
    done = path + ".complete"
    if not os.path.exists(done):
        shutil.rmtree(path, ignore_errors=True)
        t = time.monotonic()
        build(path, files)
        open(done, "w").close()
        print("built %s in %.0fs" % (path, time.monotonic() - t), flush=True)
    return path


def make_flat_dir(root, files):
    os.makedirs(root)
    for i in range(files):
        open(os.path.join(root, "entry-%07d" % i), "w").close()


def drop():
    drop_kernel_caches()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    time.sleep(0.5)


def main():
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    if os.geteuid() != 0:
        print("stress-memory: needs root (drop_caches)")
        return 1
    tree = cached_tree("tree", files, make_big_tree)
    flat = cached_tree("flat", files, make_flat_dir)
    tmp = tempfile.mkdtemp(prefix=lfstest.TMP_PREFIX)
    status = 0
    mounts = []
    try:
        up, wk, mnt = (os.path.join(tmp, n) for n in ("up", "wk", "mnt"))
        for d in (up, wk, mnt):
            os.makedirs(d)
        stats = os.path.join(tmp, "stats.json")
        m = lfstest.start_layerfs(mnt, [tree], up, wk, ("stats=" + stats,))
        mounts.append(m)
        drop()
        base = rss_kib(m.pid)
        t = time.monotonic()
        n1 = walk_stat(mnt)
        walk1 = time.monotonic() - t
        s1 = read_stats(None, m.pid, stats)
        after1 = rss_kib(m.pid)
        drop()
        s2 = read_stats(None, m.pid, stats)
        after_drop = rss_kib(m.pid)
        t = time.monotonic()
        n2 = walk_stat(mnt)
        walk2 = time.monotonic() - t
        after2 = rss_kib(m.pid)
        per_node = (after1 - base) * 1024.0 / max(s1["nodes"], 1)
        print("tree: %d files; walk 1: %d files in %.1fs, walk 2: %d in "
              "%.1fs" % (files, n1, walk1, n2, walk2))
        print("nodes: %d after walk 1, %d after drop_caches"
              % (s1["nodes"], s2["nodes"]))
        print("daemon RSS: %d KiB at mount, %d KiB after walk 1, %d KiB "
              "after drop_caches, %d KiB after walk 2; %.0f bytes per node"
              % (base, after1, after_drop, after2, per_node))
        if n1 != files or n2 != files:
            print("FAIL: a walk saw the wrong number of files")
            status = 1
        if s2["nodes"] > files * 0.05:
            print("FAIL: the node table kept %d nodes after the drop"
                  % s2["nodes"])
            status = 1
        if after2 > after1 * 1.15 + 2048:
            print("FAIL: the second walk grew RSS (%d -> %d KiB)"
                  % (after1, after2))
            status = 1
        m.unmount(timeout=300)  # a million forgets to answer first
        mounts.remove(m)

        up2, wk2, mnt2 = (os.path.join(tmp, n) for n in ("up2", "wk2", "mnt2"))
        for d in (up2, wk2, mnt2):
            os.makedirs(d)
        m = lfstest.start_layerfs(mnt2, [os.path.dirname(flat)], up2, wk2)
        mounts.append(m)
        d = os.path.join(mnt2, os.path.basename(flat))
        t = time.monotonic()
        names = os.listdir(d)
        list1 = time.monotonic() - t
        ok = len(names) == files and len(set(names)) == files
        os.lstat(os.path.join(d, "entry-%07d" % (files // 2)))
        os.unlink(os.path.join(d, "entry-%07d" % (files // 3)))
        wh = os.path.join(up2, os.path.basename(flat),
                          ".wh.entry-%07d" % (files // 3))
        ok = ok and os.path.exists(wh)
        names = os.listdir(d)
        ok = ok and len(names) == files - 1 and \
            "entry-%07d" % (files // 3) not in names
        print("flat directory: %d entries listed in %.1fs; after one unlink "
              "(whiteout written): %d entries, RSS %d KiB"
              % (files, list1, len(names), rss_kib(m.pid)))
        if not ok:
            print("FAIL: the flat directory's listing or whiteout is wrong")
            status = 1
    finally:
        for m in mounts:
            try:
                m.unmount()
            except Exception:
                lfstest.force_unmount(m.path)
        shutil.rmtree(tmp, ignore_errors=True)
    print("stress-memory: %s" % ("ok" if status == 0 else "FAILED"))
    return status


if __name__ == "__main__":
    sys.exit(main())

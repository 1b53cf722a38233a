"""Runs the workloads: every repetition runs every implementation once, in
an order that rotates from one repetition to the next, so that a slow
drift of the machine (other work, cache state, temperature) spreads over
all implementations instead of landing on one."""

import os

from . import machine, util
from .impls import Mounted
from .util import BenchError, progress


# Trees with more entries than this are set aside, not removed, between
# runs (Context.fresh).
MANY_ENTRIES = 1000
# Below this much free space the set-aside trees are removed after all.
TRASH_MIN_FREE = 8 << 30


def _more_entries_than(path, limit):
    n = 0
    for _, dirs, files in os.walk(path):
        n += len(dirs) + len(files)
        if n > limit:
            return True
    return False


class Context:
    """What workloads share: scratch space and the load helper."""

    def __init__(self, scratch, walker, can_drop):
        self.scratch = scratch
        self.walker = walker
        self.can_drop = can_drop
        self.scratch_fs = None  # scratchfs.prepare's description
        self._trashed = 0

    def fresh(self, name):
        """An empty scratch directory.  The last run's tree is moved
        aside when it is large, and removed only when the run ends: on
        ext4 without a journal, inodes freed in the last seconds are
        skipped one by one at every allocation, so removing 10,000
        files right before `chown -R` or an untar made the next run
        pay for the last one's deletion (seconds, varying with the
        order of the implementations)."""
        path = os.path.join(self.scratch, name)
        trash = os.path.join(self.scratch, "trash")
        if os.path.isdir(path) and not util.mounts_below(path) and \
                _more_entries_than(path, MANY_ENTRIES):
            st = os.statvfs(self.scratch)
            if st.f_bavail * st.f_frsize < TRASH_MIN_FREE:
                util.rmtree(trash)
            os.makedirs(trash, exist_ok=True)
            self._trashed += 1
            os.rename(path, os.path.join(trash, "%s.%d" % (
                name, self._trashed)))
        return util.fresh_dir(path)

    def fresh_mount_dirs(self):
        up = self.fresh("upper")
        work = self.fresh("work")
        mnt = os.path.join(self.scratch, "mnt")
        if util.mounted_fstype(mnt) is not None:
            util.force_unmount(mnt)
        os.makedirs(mnt, exist_ok=True)
        return up, work, mnt

    def fresh_native_root(self, ds, paths):
        root = self.fresh("native")
        for rel in paths:
            dst = os.path.join(root, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            util.copy_tree(os.path.join(ds.native, rel), dst)
        return root

    def cleanup(self):
        util.rmtree(self.scratch)


class Result:
    """All measurements of one workload."""

    def __init__(self, workload):
        self.workload = workload
        self.runs = {}      # impl name -> [values]
        self.details = {}   # impl name -> [details dict per run]
        self.errors = {}    # impl name -> message
        self.skipped = {}   # impl name -> reason
        self.load = None    # 1-minute load average when it started


def _run_one(wl, impl, ds, ctx):
    if wl.cache == "cold" and ctx.can_drop:
        drop = util.drop_caches
    else:
        def drop():
            pass
    if impl.kind == "native":
        if wl.native_copy is None:
            root = wl.native_root(ds)
        else:
            root = ctx.fresh_native_root(ds, wl.native_copy)
        t = Mounted(impl, root)
        try:
            drop()
            wl.warmup(t, ds, ctx)
            return wl.measure(t, ds, ctx)
        finally:
            wl.restore_native(ds)
    if wl.mounts_itself:
        return wl.measure(Mounted(impl, None), ds, ctx)
    up, work, mnt = ctx.fresh_mount_dirs()
    if wl.read_only:
        up = work = None
    m = impl.mount(wl.layers(ds, impl), up, work, mnt,
                   os.path.join(ctx.scratch, "stats.json")
                   if wl.wants_stats else None)
    try:
        drop()
        wl.warmup(m, ds, ctx)
        return wl.measure(m, ds, ctx)
    finally:
        impl.unmount(m)


def _fmt(value, unit):
    if unit == "s":
        return "%.3f s" % value if value >= 0.01 else \
            "%.2f ms" % (value * 1000)
    return "%.1f %s" % (value, unit)


def run_workloads(workloads, impls, ds, ctx, reps_for):
    """Runs each workload reps_for(workload) times on each implementation
    that applies; returns a Result per workload."""
    results = []
    for i, wl in enumerate(workloads, 1):
        res = Result(wl)
        results.append(res)
        todo = []
        for impl in impls:
            if impl.kind not in wl.kinds:
                continue
            if wl.needs_root and not util.is_root():
                res.skipped[impl.name] = "needs root"
                continue
            todo.append(impl)
            res.runs[impl.name] = []
            res.details[impl.name] = []
        if not todo:
            continue
        reps = reps_for(wl)
        la = machine.loadavg()
        res.load = la[0] if la else None
        progress("[%d/%d] %s: %s (%d reps)" % (i, len(workloads), wl.name,
                                               wl.title, reps))
        try:
            wl.prepare_once(ds, ctx)
        except BenchError as e:
            for impl in todo:
                res.errors[impl.name] = str(e)
            continue
        for rep in range(reps):
            k = rep % len(todo)
            for impl in todo[k:] + todo[:k]:
                if impl.name in res.errors:
                    continue
                try:
                    value, details = _run_one(wl, impl, ds, ctx)
                except BenchError as e:
                    res.errors[impl.name] = str(e)
                    progress("    %-15s ERROR %s" % (impl.name, e))
                    continue
                res.runs[impl.name].append(value)
                res.details[impl.name].append(details)
                progress("    %-15s rep %d/%d %s" % (
                    impl.name, rep + 1, reps, _fmt(value, wl.unit)))
    return results

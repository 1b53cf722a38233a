"""Command line of the benchmark (bench/bench.py)."""

import argparse
import fnmatch
import os
import shlex
import signal
import subprocess
import sys
import time

from . import (container, dataset, impls, machine, report, rootless,
               runner, scratchfs, util)
from . import workloads as W
from .util import BenchError, progress

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(HERE)

# Installed from Debian when missing (as root), unless --no-install.
PEER_PACKAGES = {"fuse-overlayfs": "fuse-overlayfs",
                 "unionfs-fuse": "unionfs-fuse", "bwrap": "bubblewrap",
                 "fio": "fio", "gnuplot": "gnuplot-nox", "podman": "podman",
                 "runc": "runc"}

# The heavy workloads run at most this many times unless --reps is given.
HEAVY_REPS = 3
HEAVY = ("ls_l_100k_cold", "untar_20k_sync", "append_1b_1gib",
         "append_1b_sparse_1gib", "chown_r_10k", "chmod_r_10k", "rm_rf_10k",
         "daemon_rss_after_walks", "lookup_10k_128layers",
         "lookup_10k_500layers")

# Workloads of a few milliseconds, whose medians of five swing with the
# host's scheduling: they run this many times unless --reps is given.
LIGHT_REPS = 30
LIGHT = ("mount_umount_5layers",)

EXIT_USAGE = 1
EXIT_FATAL = 2

EPILOG = """\
workloads (--only takes names or shell patterns, comma-separated):
  %s
  %s

exit status: 0 the run finished and its results were written (an
implementation that cannot run here, or a workload that fails on one, is
listed in the results with the reason); 1 bad usage; 2 the run could not
be done (no dataset, interrupted, an unexpected failure).
""" % ("\n  ".join(W.workload_names()),
       "\n  ".join(container.WORKLOAD_NAMES))


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("bench: %s\n" % message)
        sys.exit(EXIT_USAGE)


def parse_args(argv):
    ap = _Parser(
        prog="bench.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="layerfs against native directories, kernel overlayfs, "
        "fuse-overlayfs and unionfs-fuse on the same data, and container "
        "start against bubblewrap and podman.  Progress goes to stderr; "
        "results to OUT/results.md, OUT/results.json and the charts.",
        epilog=EPILOG)
    ap.add_argument("--quick", action="store_true",
                    help="small dataset and few repetitions (a smoke test; "
                    "default output bench/results/tmp/quick)")
    ap.add_argument("--only", metavar="WORKLOAD[,...]",
                    help="run only these workloads (names or patterns)")
    ap.add_argument("--impl", metavar="LIST",
                    help="implementations, comma-separated, from: %s "
                    "(default: all)" % ",".join(impls.IMPL_NAMES))
    ap.add_argument("--reps", type=int, metavar="N",
                    help="repetitions of every workload (default 5, the "
                    "heavy ones 3; --quick: 2)")
    ap.add_argument("--out", metavar="DIR", help="where results go "
                    "(default bench/results)")
    ap.add_argument("--cache", metavar="DIR", help="dataset cache "
                    "(default bench/cache)")
    ap.add_argument("--build", metavar="DIR", default="build",
                    help="build directory holding layerfs, layerrun and "
                    "the bench helper (default build)")
    ap.add_argument("--dataset", choices=("auto", "synthetic", "debootstrap"),
                    default="auto", help="the system tree: debootstrap of a "
                    "Debian minbase when a mirror answers, else synthetic "
                    "(auto, the default; --quick is always synthetic)")
    ap.add_argument("--mirror", metavar="URL", help="Debian mirror for "
                    "debootstrap (default http://deb.debian.org/debian)")
    ap.add_argument("--no-install", action="store_true",
                    help="do not apt-get install missing peers, nor create "
                    "the rootless user")
    ap.add_argument("--rootless-user", metavar="NAME",
                    default=rootless.DEFAULT_USER,
                    help="the unprivileged user of container_start_rootless "
                    "(default %(default)s; created as a system user with "
                    "subordinate id ranges when missing, unless "
                    "--no-install)")
    ap.add_argument("--fuse-uring", choices=("on", "off", "keep"),
                    default="on", help="the fuse module's enable_uring "
                    "parameter for the run (layerfs then takes requests "
                    "through io_uring; the peers do not use it): on (the "
                    "default), off, or keep it as it is; put back after")
    ap.add_argument("--scratch-fs", choices=scratchfs.KINDS, default="host",
                    help="where the upper layers and scratch trees live: "
                    "the cache's filesystem (host, the default), or a "
                    "journaled ext4 made for the run on a loop image "
                    "(ext4-journal)")
    ap.add_argument("--note", action="append", default=[], metavar="TEXT",
                    help="a note for the results (repeatable), e.g. that "
                    "the machine was shared with other work")
    ap.add_argument("--list", action="store_true",
                    help="print the workload names and exit")
    ap.add_argument("-q", "--quiet", action="store_true",
                    help="no progress on stderr")
    a = ap.parse_args(argv)
    if a.reps is not None and a.reps < 1:
        ap.error("--reps must be at least 1")
    if a.impl:
        names = [n.strip() for n in a.impl.split(",") if n.strip()]
        bad = [n for n in names if n not in impls.IMPL_NAMES]
        if bad:
            ap.error("unknown implementation '%s' (known: %s)"
                     % (bad[0], ", ".join(impls.IMPL_NAMES)))
        a.impl = names
    if a.only:
        pats = [p.strip() for p in a.only.split(",") if p.strip()]
        known = W.workload_names() + \
            W.workload_names(dataset.QUICK["stacks"]) + \
            list(container.WORKLOAD_NAMES)
        for p in pats:
            if not any(_match(p, n) for n in known):
                ap.error("no workload matches '%s' (see --list)" % p)
        a.only = pats
    return a


def _match(pattern, name):
    return fnmatch.fnmatchcase(name, pattern) or name == pattern


def _selected(a, name):
    return not a.only or any(_match(p, name) for p in a.only)


def _install_peers(notes):
    missing = sorted({pkg for tool, pkg in PEER_PACKAGES.items()
                      if not util.which(tool)})
    if not missing:
        return
    if not util.is_root():
        notes.append("not installed (run as root to install): %s"
                     % ", ".join(missing))
        return
    progress("installing missing peers: %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=1800)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, env=env,
                       timeout=600)
        r = subprocess.run(cmd, capture_output=True, env=env, timeout=1800)
    if r.returncode != 0:
        notes.append("apt-get install %s failed: %s" % (
            " ".join(missing), util.last_line(r.stderr)))


def _clean_stale_runs(cache):
    """Scratch directories of earlier runs whose process is gone."""
    if not os.path.isdir(cache):
        return
    for n in os.listdir(cache):
        if not n.startswith("run-"):
            continue
        if n.endswith(".ext4"):
            continue  # released with its directory
        try:
            pid = int(n[4:])
            os.kill(pid, 0)
            continue
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        scratchfs.release(os.path.join(cache, n))
        util.rmtree(os.path.join(cache, n))


def _reps_for(a):
    def reps(wl):
        if a.reps:
            return a.reps
        if a.quick:
            return 2
        if wl.name in LIGHT:
            return LIGHT_REPS
        return HEAVY_REPS if wl.name in HEAVY else 5
    return reps


def _describe_dataset(ds):
    m = ds.manifest
    k = m["tree_kinds"]
    lay = m["layers"]
    p = ds.params
    src = "Debian %s minbase (debootstrap)" % "bookworm" \
        if ds.kind == "debootstrap" else "synthetic minbase-shaped tree"
    return (
        "%s: %d files, %d directories, %d symlinks, %.0f MB; 5 layers "
        "(%d whiteouts, %d opaque directories, %d files rewritten, %d "
        "added above the base); %d-entry flat directory; %d MiB lower "
        "file; %d MiB sparse lower file (%d MiB of data); %d MiB fio file; "
        "%d-file metadata subtree; untar archive of %d files; scaling "
        "stacks of %s layers over %d bottom files" % (
            src, k["files"], k["dirs"], k["symlinks"],
            m["tree_bytes"] / 1e6, sum(x["whiteouts"] for x in lay),
            sum(x["opaques"] for x in lay),
            sum(x["rewritten"] for x in lay), sum(x["added"] for x in lay),
            m["flat_entries"], p["big_bytes"] >> 20, p["sparse_bytes"] >> 20,
            m["sparse_allocated"] >> 20, p["fio_bytes"] >> 20,
            p["meta_files"], m["untar"]["files"],
            "/".join(str(s) for s in p["stacks"]), p["lookup_files"]))


def _on_term(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.list:
        print("\n".join(W.workload_names() +
                        list(container.WORKLOAD_NAMES)))
        return 0
    util.set_quiet(a.quiet)
    signal.signal(signal.SIGTERM, _on_term)
    build = os.path.abspath(a.build if os.path.isabs(a.build)
                            else os.path.join(REPO, a.build))
    cache = os.path.abspath(a.cache or os.path.join(HERE, "cache"))
    out = os.path.abspath(a.out or os.path.join(
        HERE, "results", "tmp", "quick") if a.quick else
        a.out or os.path.join(HERE, "results"))
    report.hide_path(cache, "<cache>")
    report.hide_path(build, "<build>")
    report.hide_path(out, "<out>")
    walker = os.path.join(build, "bench", "lfb-walk")
    if not os.access(walker, os.X_OK):
        util.progress("bench: %s is missing: run make" % walker)
        return EXIT_FATAL
    os.makedirs(cache, exist_ok=True)
    _clean_stale_runs(cache)
    scratch = os.path.join(cache, "run-%d" % os.getpid())
    t0 = time.monotonic()
    notes = []
    ctx = runner.Context(scratch, walker, util.can_drop_caches())
    uring_saved = machine.set_fuse_uring(a.fuse_uring)
    try:
        ctx.scratch_fs = scratchfs.prepare(a.scratch_fs, scratch)
        return _run(a, build, cache, out, ctx, notes, t0)
    except KeyboardInterrupt:
        sys.stderr.write("bench: interrupted\n")
        return EXIT_FATAL
    except BenchError as e:
        sys.stderr.write("bench: %s\n" % e)
        return EXIT_FATAL
    finally:
        machine.restore_fuse_uring(uring_saved)
        try:
            scratchfs.release(scratch)
            ctx.cleanup()
        except BenchError as e:
            sys.stderr.write("bench: %s\n" % e)


def _run(a, build, cache, out, ctx, notes, t0):
    load_at_start = machine.loadavg()
    if not a.no_install:
        _install_peers(notes)
    ds, ds_notes = dataset.open_dataset(cache, a.quick, a.dataset, a.mirror)
    notes += ds_notes
    if not ctx.can_drop:
        notes.append("cold-cache runs were not possible (dropping the page "
                     "cache needs root): they ran on a fresh mount with "
                     "the caches as they were")
    os.makedirs(ctx.scratch, exist_ok=True)

    all_impls = impls.all_impls(build)
    chosen = [i for i in all_impls if not a.impl or i.name in a.impl]
    impl_meta = []
    runnable = []
    for i in chosen:
        why = i.unavailable()
        if why is None and i.fmt:
            try:
                ds.image_layers(i.fmt)
            except (BenchError, OSError) as e:
                why = "cannot write its layers: %s" % e
        impl_meta.append({"name": i.name, "label": i.label,
                          "version": i.version() if why is None else None,
                          "options": i.options(), "runnable": why is None,
                          "reason": why, "whiteout_format": i.fmt})
        if why is None:
            runnable.append(i)
        else:
            progress("%s is not runnable: %s" % (i.name, why))

    wls = [w for w in W.all_workloads(ds.params) if _selected(a, w.name)]
    if not util.which("fio"):
        notes.append("fio is not installed: the fio workloads could not run")
        wls = [w for w in wls if not w.name.startswith("fio_")]
    results = runner.run_workloads(wls, runnable, ds, ctx, _reps_for(a))

    # A start takes milliseconds and swings with the host's scheduling:
    # 30 starts per launcher give medians ten could not (podman's add
    # about 20 s to a run).
    creps = a.reps or (3 if a.quick else 30)
    launchers = []
    if _selected(a, "container_start"):
        cres, launchers, cnotes = container.run_container_start(
            ds, build, ctx.scratch, cache, creps)
        notes += cnotes
    launchers_rootless = []
    if _selected(a, "container_start_rootless"):
        rres, launchers_rootless, rnotes = \
            container.run_container_start_rootless(
                ds, build, ctx.scratch, creps, a.rootless_user,
                not a.no_install)
        notes += rnotes

    meta = {
        "schema": 1, "date": report.now(),
        "command": "python3 bench/bench.py " + " ".join(
            shlex.quote(x) for x in sys.argv[1:]),
        "mode": "quick" if a.quick else "full",
        "reps": a.reps or (2 if a.quick else 5),
        "duration_s": 0.0,
        "machine": machine.describe(cache, ctx.scratch_fs),
        "dataset": {"kind": ds.kind, "params": ds.params,
                    "manifest": ds.manifest,
                    "description": _describe_dataset(ds)},
        "implementations": impl_meta,
        "launchers": launchers,
        "launchers_rootless": launchers_rootless,
        "cold_cache": ctx.can_drop,
    }
    rep = report.Report(meta)
    order = [i["name"] for i in impl_meta]
    for res in results:
        rep.add(res, [r for r in ("native", "overlayfs") if r in order],
                order)
    if launchers:
        ran = [st["name"] for st in launchers]
        rep.add(cres, [r for r in ("bwrap-dir", "podman") if r in ran], ran)
    if launchers_rootless:
        ran = [st["name"] for st in launchers_rootless]
        rep.add(rres, [r for r in ("bwrap-dir", "podman") if r in ran], ran)
    rep.notes = a.note + notes + _standing_notes(results)
    meta["duration_s"] = time.monotonic() - t0
    meta["machine"]["load_at_start"] = load_at_start
    meta["machine"]["load_at_end"] = machine.loadavg()
    charts = rep.write(out)
    progress("results: %s" % os.path.join(out, "results.md"))
    for c in charts:
        progress("chart: %s" % os.path.join(out, c))
    return 0


def _standing_notes(results):
    notes = []
    names = {r.workload.name for r in results}
    if "append_1b_sparse_1gib" in names:
        notes.append("append_1b_sparse_1gib: 'holes kept' means the upper "
                     "copy takes at most 4 times the lower file's allocated "
                     "space (3 data extents of 1 MiB); a filled copy takes "
                     "the whole apparent size")
    if names & {"chown_r_10k", "chmod_r_10k", "rm_rf_10k"}:
        notes.append("unionfs-fuse writes its whiteouts as "
                     "`.unionfs-fuse/PATH_HIDDEN~` in the writable branch; "
                     "it honours the same markers in read-only branches, "
                     "so the image's lower-layer deletions are expressed "
                     "in its own format")
    return notes

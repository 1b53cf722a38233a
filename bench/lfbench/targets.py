"""The performance targets layerfs is held to (issue 9), checked against
one run's medians: for each, the measured figure and met / missed.

Every check reads only the summaries and details of this run, so the
answer is always relative to the peers measured beside it.  A target
whose workload did not run (--only, --impl, an error) reads "not
measured", never met."""

from . import stats

OURS = "layerfs"
KERNEL = stats.REF_KERNEL


def _ratio(summ, wl):
    s = summ.get(wl, {}).get(OURS)
    return s.get("ratio_" + KERNEL) if s else None


def _le_kernel(wl, limit):
    def check(summ, details, scaling):
        r = _ratio(summ, wl)
        return (None, None) if r is None else \
            ("%.2fx kernel overlayfs" % r, r <= limit)
    return check


def _throughput(wl, at_least):
    # Ratios are costs: a throughput of at least 0.9x is a cost of at
    # most 1/0.9.
    def check(summ, details, scaling):
        r = _ratio(summ, wl)
        return (None, None) if r is None else \
            ("%.2fx the kernel's throughput" % (1 / r), 1 / r >= at_least)
    return check


def _append(summ, details, scaling):
    r = _ratio(summ, "append_1b_1gib")
    sparse = [d for d in details.get("append_1b_sparse_1gib", {})
              .get(OURS, []) if "holes_kept" in d]
    if r is None or not sparse:
        return None, None
    holes = all(d["holes_kept"] for d in sparse)
    return ("%.2fx kernel overlayfs, holes %s" % (
        r, "kept" if holes else "filled"), r <= 1.0 and holes)


def _parallel(summ, details, scaling):
    par = scaling.get("parallel", {})
    ours, kern = par.get(OURS, {}), par.get(KERNEL, {})
    n = max(set(ours) & set(kern), default=None)
    if n is None or n == 1:
        return None, None
    # "Scales like the kernel": at least 90% of its speed-up.
    return ("speed-up %.2f at %d processes (kernel overlayfs %.2f)" % (
        ours[n], n, kern[n]), ours[n] >= 0.9 * kern[n])


def _layers(summ, details, scaling):
    ours = scaling.get("layers", {}).get(OURS, {})
    n = 128 if 128 in ours else max(ours, default=None)
    if n is None or n == 1:
        return None, None
    return "%.2fx the 1-layer time at %d layers" % (ours[n], n), \
        ours[n] <= 1.2


def _memory(summ, details, scaling):
    runs = details.get("daemon_rss_after_walks", {}).get(OURS, [])
    runs = [d for d in runs if "bytes_per_entry" in d]
    if not runs:
        return None, None
    d = runs[len(runs) // 2]
    grown = (d["rss_after_walks_kib"] - d["rss_at_mount_kib"]) * 1024.0
    if d.get("nodes_after_walks"):
        # The daemon's own count: what each node it holds costs.
        per, unit = grown / d["nodes_after_walks"], "node"
    else:
        per, unit = d["bytes_per_entry"], "walked entry"
    text = "%.0f bytes per %s" % (per, unit)
    ok = per <= 150
    if "nodes_after_drop" in d and d.get("nodes_after_walks"):
        text += "; %d nodes after the walks, %d once the kernel dropped " \
            "its caches" % (d["nodes_after_walks"], d["nodes_after_drop"])
        ok = ok and d["nodes_after_drop"] <= d["nodes_after_walks"] / 10
    elif "rss_after_drop_kib" in d:
        back = (d["rss_after_walks_kib"] - d["rss_after_drop_kib"]) * 1024.0
        text += "; %.0f%% of the growth returned after the kernel " \
            "dropped its caches" % (100.0 * back / grown if grown > 0
                                    else 100.0)
        ok = ok and back >= grown / 2
    return text, ok


def _mount(summ, details, scaling):
    s = summ.get("mount_umount_5layers", {}).get(OURS)
    if not s:
        return None, None
    return "%.1f ms" % (s["median"] * 1000), s["median"] <= 0.020


def _container(workload):
    def check(summ, details, scaling):
        c = summ.get(workload, {})
        ours, bw, pm = c.get("layerrun"), c.get("bwrap-dir"), c.get("podman")
        if not ours or not bw:
            return None, None
        r = ours["median"] / bw["median"]
        text = "%.2fx bwrap on a directory" % r
        ok = r <= 2.0
        if pm:
            text += ", %.1fx faster than podman" % (pm["median"] /
                                                     ours["median"])
            ok = ok and pm["median"] >= 10 * ours["median"]
        return text, ok
    return check


TARGETS = [
    ("`find` with per-file stat, cold", "<= 2.0x",
     _le_kernel("stat_walk_cold", 2.0)),
    ("the same, warm", "<= 1.5x", _le_kernel("stat_walk_warm", 1.5)),
    ("readdir of the 100k directory, cold", "<= 2.0x",
     _le_kernel("readdir_100k_cold", 2.0)),
    ("`ls -l` of it, cold", "<= 1.5x", _le_kernel("ls_l_100k_cold", 1.5)),
    ("read every file, warm", "<= 1.5x", _le_kernel("read_all_warm", 1.5)),
    ("untar 20k small files", "<= 1.5x", _le_kernel("untar_20k_sync", 1.5)),
    ("`rm -rf` of 10k lower files", "<= 2.0x",
     _le_kernel("rm_rf_10k", 2.0)),
    ("`chown -R` of 10k lower files", "<= 0.1x",
     _le_kernel("chown_r_10k", 0.1)),
    ("append 1 byte to a 1 GiB lower file", "<= 1.0x, holes kept",
     _append),
    ("4k random read (fio)", ">= 0.9x throughput",
     _throughput("fio_randread_4k", 0.9)),
    ("sequential read (fio)", ">= 0.9x throughput",
     _throughput("fio_seqread", 0.9)),
    ("sequential write (fio)", ">= 0.9x throughput",
     _throughput("fio_seqwrite", 0.9)),
    ("parallel stat/read, 8 processes", "scales like kernel overlayfs",
     _parallel),
    ("lookup in the bottom layer, 128 layers vs 1", "<= 1.2x", _layers),
    ("daemon memory after the walks", "<= 150 bytes per node, back down "
     "after the kernel drops its cache", _memory),
    ("mount + unmount of the 5-layer image", "<= 20 ms", _mount),
    ("`layerrun run IMAGE /bin/true`", "<= 2x bwrap; >= 10x faster than "
     "podman", _container("container_start")),
    ("`layerrun run IMAGE /bin/true`, rootless", "<= 2x bwrap; >= 10x "
     "faster than podman", _container("container_start_rootless")),
]


def evaluate(summaries, details, scaling):
    """[(target, goal, measured text or None, met True/False/None)]."""
    out = []
    for what, goal, check in TARGETS:
        text, ok = check(summaries, details, scaling)
        out.append((what, goal, text, ok))
    return out

"""The results: one JSON document with every measurement, and a Markdown
page with a table per workload, a summary table, the charts and the
machine."""

import json
import os
import time

from . import plots, stats, targets

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# The container workloads: their own sections, not in the summary.
CONTAINER = "container"


def _is_container(res):
    return res.workload.group == CONTAINER


def _unit_fmt(value, unit):
    if value is None:
        return "—"
    if unit == "s":
        if value >= 100:
            return "%.0f s" % value
        if value >= 1:
            return "%.2f s" % value
        return "%.1f ms" % (value * 1000)
    if unit == "IOPS":
        return "%.0f" % value
    return "%.1f %s" % (value, unit)


def _ratio_fmt(r):
    if r is None:
        return "—"
    if r >= 100:
        return "%.0f" % r
    if r >= 10:
        return "%.1f" % r
    if r >= 0.1:
        return "%.2f" % r
    if r >= 0.001:
        return "%.3f" % r
    return "<0.001"


class Report:
    def __init__(self, meta):
        self.meta = meta            # run description (dict)
        self.sections = []          # (Result, references, impl order)
        self.notes = []
        self.workload_charts = {}   # workload name -> chart path stem

    def add(self, result, references, order):
        self.sections.append((result, references, order))

    def _summaries(self, containers=True):
        return [(res.workload.name, stats.summarize(res, refs))
                for res, refs, _ in self.sections
                if containers or not _is_container(res)]

    def to_json(self):
        out = dict(self.meta)
        out["notes"] = self.notes
        out["workloads"] = []
        for res, refs, _ in self.sections:
            wl = res.workload
            out["workloads"].append({
                "name": wl.name, "title": wl.title, "group": wl.group,
                "unit": wl.unit, "better": wl.better, "cache": wl.cache,
                "references": list(refs),
                "runs": res.runs, "details": res.details,
                "errors": res.errors, "skipped": res.skipped,
                "load_at_start": res.load,
                "summary": stats.summarize(res, refs)})
        out["scaling"] = stats.scaling(dict(self._summaries()))
        out["targets"] = [
            {"target": t, "goal": g, "measured": m, "met": ok}
            for t, g, m, ok in self._targets()]
        return out

    def _targets(self):
        summ = dict(self._summaries())
        return targets.evaluate(
            summ, {r.workload.name: r.details for r, _, _ in self.sections},
            stats.scaling(summ))

    def write(self, out_dir):
        os.makedirs(out_dir, exist_ok=True)
        data = _scrub(self.to_json())
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump(data, f, indent=1, sort_keys=False)
            f.write("\n")
        impl_order = [i["name"] for i in self.meta["implementations"]]
        charts = []
        self.workload_charts = {}
        try:
            main = self._summaries(containers=False)
            charts = plots.draw(out_dir, main, impl_order)
            self.workload_charts = plots.draw_workloads(out_dir, [
                (res.workload.name, res.workload.unit, res.workload.better,
                 stats.summarize(res, refs), order)
                for res, refs, order in self.sections])
        except Exception as e:  # a chart must never lose the numbers
            self.notes.append("charts not drawn: %s" % e)
        md = _scrub(self.markdown(charts))
        with open(os.path.join(out_dir, "results.md"), "w") as f:
            f.write(md)
        return charts

    def markdown(self, charts):
        m = self.meta
        L = []
        L.append("# layerfs benchmark results\n")
        L.append("Run of %s (`%s`), %s mode, %s repetitions per workload "
                 "(see the runs column), %.1f minutes in all.\n" % (
                     m["date"], m["command"], m["mode"], m["reps"],
                     m["duration_s"] / 60.0))
        L.append("Each number is the median of the repetitions; the "
                 "implementations took turns within each repetition "
                 "(the order rotates), so drift of the machine spreads "
                 "over all of them.  Ratios read as cost: 1.00 is as fast "
                 "as the reference, 2.00 twice as slow (twice the time, or "
                 "half the throughput).\n")
        L += self._machine_md()
        L += self._impls_md()
        L += self._summary_md(charts)
        L += self._scaling_md()
        L += self._targets_md()
        L += self._container_md()
        L.append("## Every workload\n")
        for res, refs, order in self.sections:
            if not _is_container(res):
                L += self._workload_md(res, refs, order)
        if self.notes:
            L.append("## Notes\n")
            L += ["- %s" % n for n in self.notes]
            L.append("")
        return "\n".join(L) + "\n"

    def _machine_md(self):
        mc = self.meta["machine"]
        L = ["## Machine\n", "| | |", "| --- | --- |"]
        L.append("| CPU | %s, %d cores |" % (mc["cpu"], mc["cores"]))
        L.append("| memory | %.1f GiB |" % (mc["memory_bytes"] / 2.0 ** 30))
        L.append("| OS, kernel | %s, Linux %s |" % (mc["os"], mc["kernel"]))
        L.append("| cgroups | %s |" % mc["cgroups"])
        L.append("| CPU idle | %s |" % mc.get("cpuidle", "unknown"))
        L.append("| FUSE over io_uring (fuse enable_uring) | %s |"
                 % mc.get("fuse_io_uring", "unknown"))
        L.append("| load average | %s |" % self._load_md())
        L.append("| filesystem of the data | %s |" % mc["data_filesystem"])
        if mc.get("scratch_filesystem"):
            L.append("| filesystem of the upper layers | %s |"
                     % mc["scratch_filesystem"])
        pk = ", ".join("%s %s" % (p, v) for p, v in mc["packages"].items()
                       if v)
        L.append("| packages | %s |" % pk)
        ds = self.meta["dataset"]
        L.append("| dataset | %s |" % ds["description"])
        L.append("")
        return L

    def _load_md(self):
        mc = self.meta["machine"]

        def fmt(la):
            return "/".join("%.2f" % x for x in la) if la else "unknown"
        seen = [r.load for r, _, _ in self.sections if r.load is not None]
        out = "1/5/15 min: %s at the start, %s at the end" % (
            fmt(mc.get("load_at_start")), fmt(mc.get("load_at_end")))
        if seen:
            out += "; 1 min at the start of each workload: %.2f to %.2f" \
                % (min(seen), max(seen))
        return out + " (the bench alone keeps about 1 to 2 busy)"

    def _impls_md(self):
        L = ["## Implementations\n",
             "| implementation | version | options | status |",
             "| --- | --- | --- | --- |"]
        for i in self.meta["implementations"]:
            st = "ran" if i["runnable"] else "**not runnable**: %s" % \
                i["reason"]
            L.append("| %s | %s | %s | %s |" % (
                i["name"], i.get("version") or "—", i.get("options") or "",
                st))
        L.append("")
        return L

    def _summary_md(self, charts):
        order = [i["name"] for i in self.meta["implementations"]
                 if i["runnable"]]
        L = ["## Summary: time relative to kernel overlayfs\n",
             "Median of each implementation divided by the median of "
             "kernel overlayfs on the same workload (for throughput and "
             "IOPS, the inverse).  Lower is better; native directories "
             "are the limit.\n",
             "| workload | " + " | ".join(order) + " |",
             "| --- |" + " ---: |" * len(order)]
        for res, refs, _ in self.sections:
            wl = res.workload
            if _is_container(res):
                continue
            summ = stats.summarize(res, refs)
            cells = []
            for i in order:
                s = summ.get(i)
                if i in res.errors:
                    cells.append("error")
                elif s is None:
                    cells.append("n/a")
                elif s.get("ratio_" + stats.REF_KERNEL) is None:
                    cells.append(_unit_fmt(s["median"], wl.unit))
                else:
                    cells.append(_ratio_fmt(s["ratio_" + stats.REF_KERNEL]))
            L.append("| %s | %s |" % (wl.name, " | ".join(cells)))
        L.append("")
        L.append("Cells without a ratio show the value itself (no kernel "
                 "reference: the daemon's memory); `n/a` means the "
                 "workload does not apply, `error` that the run failed "
                 "(see the workload's table).\n")
        for c in charts:
            if c.endswith(".svg"):
                L.append("![%s](%s)\n" % (c[:-4], c))
        return L

    def _targets_md(self):
        L = ["## layerfs against its targets\n",
             "The performance targets of layerfs (issue 9), checked against "
             "this run's medians; ratios are to kernel overlayfs.\n",
             "| target | goal | measured | |", "| --- | --- | --- | --- |"]
        for what, goal, text, ok in self._targets():
            L.append("| %s | %s | %s | %s |" % (
                what, goal, text or "not measured",
                "—" if ok is None else "met" if ok else "**missed**"))
        L.append("")
        return L

    def _scaling_md(self):
        sc = stats.scaling(dict(self._summaries()))
        order = [i["name"] for i in self.meta["implementations"]]
        L = []
        for key, title, what in (
                ("parallel", "Parallel speed-up",
                 "time of `parallel_statread_1p` divided by the time with "
                 "N processes (higher is better; the machine's cores are "
                 "the limit)"),
                ("layers", "Layer scaling",
                 "time of `lookup_10k_Nlayers` divided by the time with one "
                 "layer (1.00 is flat; lower is better)")):
            rows = sc[key]
            ns = sorted({n for by_n in rows.values() for n in by_n})
            if len(ns) < 2:
                continue
            L += ["## %s\n" % title, what[0].upper() + what[1:] + ".\n",
                  "| implementation | " + " | ".join(
                      "N=%d" % n for n in ns) + " |",
                  "| --- |" + " ---: |" * len(ns)]
            for impl in [i for i in order if i in rows]:
                L.append("| %s | %s |" % (impl, " | ".join(
                    _ratio_fmt(rows[impl].get(n)) for n in ns)))
            L.append("")
        return L

    def _container_md(self):
        L = []
        for res, refs, order in self.sections:
            if not _is_container(res):
                continue
            wl = res.workload
            L += ["## %s\n" % wl.heading, wl.intro + "\n"]
            L += ["| launcher | what runs | version | status |",
                  "| --- | --- | --- | --- |"]
            for st in self.meta.get(wl.launchers_key, []):
                L.append("| %s | %s | %s | %s |" % (
                    st["name"], st.get("description", ""),
                    st.get("version") or "—",
                    "ran" if st["runnable"] else
                    "**not runnable**: %s" % st["reason"]))
            L.append("")
            L += self._workload_md(res, refs, order)
        return L

    def _workload_md(self, res, refs, order):
        wl = res.workload
        summ = stats.summarize(res, refs)
        L = ["### %s\n" % wl.name, "%s.  Unit: %s (%s is better)%s.\n" % (
            wl.title[:1].upper() + wl.title[1:], wl.unit, wl.better,
            "; caches dropped before each run" if wl.cache == "cold" else
            "")]
        head = "| implementation | median | min | max | runs | " + \
            " | ".join("vs %s" % r for r in refs) + " |"
        L += [head, "| --- |" + " ---: |" * (4 + len(refs))]
        names = [n for n in order if n in res.runs or n in res.errors
                 or n in res.skipped]
        for n in names:
            s = summ.get(n)
            if n in res.errors and not s:
                L.append("| %s | error: %s |" % (n, res.errors[n]))
                continue
            if s is None:
                why = res.skipped.get(n, "no result")
                L.append("| %s | skipped: %s |" % (n, why))
                continue
            L.append("| %s | %s | %s | %s | %d | %s |" % (
                n, _unit_fmt(s["median"], wl.unit),
                _unit_fmt(s["min"], wl.unit), _unit_fmt(s["max"], wl.unit),
                s["n"], " | ".join(_ratio_fmt(s.get("ratio_" + r))
                                   for r in refs)))
        extra = _details_md(res)
        if extra:
            L.append("")
            L += extra
        L.append("")
        chart = self.workload_charts.get(wl.name)
        if chart:
            L.append("![%s](%s.svg)\n" % (wl.name, chart))
        return L


def _details_md(res):
    """Facts a workload recorded besides its time (copy-up sizes)."""
    L = []
    for impl, dl in res.details.items():
        if not dl:
            continue
        d = dl[-1]
        if "upper_allocated" in d:
            s = "- %s: the copied-up file takes %.1f MiB in the upper " \
                "layer" % (impl, d["upper_allocated"] / 2.0 ** 20)
            if "holes_kept" in d:
                s += " — holes %s" % ("kept" if d["holes_kept"] else
                                      "**filled**")
            L.append(s)
        if "bytes_per_entry" in d:
            s = "- %s: %.1f MiB resident at mount, %.1f MiB after walking " \
                "%d entries (%.0f bytes per entry)" % (
                    impl, d["rss_at_mount_kib"] / 1024.0,
                    d["rss_after_walks_kib"] / 1024.0, d["entries"],
                    d["bytes_per_entry"])
            if "nodes_after_walks" in d:
                s += "; %d nodes in the daemon" % d["nodes_after_walks"]
            if "rss_after_drop_kib" in d:
                s += "; %.1f MiB after the kernel dropped its caches" % (
                    d["rss_after_drop_kib"] / 1024.0)
            if "nodes_after_drop" in d:
                s += ", %d nodes" % d["nodes_after_drop"]
            L.append(s + " (last run)")
        if "mount" in d:
            L.append("- %s: mount %.1f ms, unmount %.1f ms (last run)" % (
                impl, d["mount"] * 1000, d["unmount"] * 1000))
    return L


_HIDDEN = []


def hide_path(path, label):
    """Shows path as label in the results (the cache may live anywhere)."""
    _HIDDEN.append((os.path.abspath(path), label))


def _scrub(obj):
    """Removes this machine's paths from the output."""
    if isinstance(obj, str):
        for path, label in sorted(_HIDDEN, key=lambda x: -len(x[0])):
            obj = obj.replace(path, label)
        return obj.replace(_REPO + "/", "").replace(_REPO, ".")
    if isinstance(obj, dict):
        return {_scrub(k): _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def now():
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")

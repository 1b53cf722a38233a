"""The charts, drawn with gnuplot in SVG and PNG: the ratio of each
implementation to kernel overlayfs for every workload (one overview of
bars, log scale), one bar chart per workload of the medians with their
min-max range (charts/WORKLOAD.svg), and the lookup time against the
number of layers (lines, log-log)."""

import os
import shutil
import subprocess
import tempfile

from . import stats, util

_COLORS = {"native": "#4d4d4d", "overlayfs": "#1f77b4",
           "fuse-overlayfs": "#ff7f0e", "unionfs-fuse": "#9467bd",
           "layerfs": "#2ca02c", "bwrap-dir": "#4d4d4d",
           "bwrap-fuse-overlayfs": "#ff7f0e", "layerrun": "#2ca02c",
           "layerrun-lower": "#98df8a", "podman": "#d62728"}

# The per-workload charts go to this subdirectory of the results.
CHART_DIR = "charts"


def _gnuplot(script, cwd):
    r = subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise util.BenchError("gnuplot failed: %s" % util.last_line(r.stderr))


def _terminals(stem, width, height):
    return [("svg size %d,%d dynamic font 'Sans,11' background '#ffffff'"
             % (width, height), stem + ".svg"),
            ("pngcairo size %d,%d font 'Sans,10'" % (width, height),
             stem + ".png")]


def ratio_chart(out_dir, work, rows, impls, ref):
    """rows: [(workload, {impl: ratio})]; draws ratios.svg and ratios.png.
    Returns the file names, or [] when there is nothing to draw."""
    shown = [i for i in impls if i != ref and
             any(r.get(i) for _, r in rows)]
    rows = [(w, r) for w, r in rows if any(r.get(i) for i in shown)]
    if not rows or not shown:
        return []
    dat = os.path.join(work, "ratios.dat")
    with open(dat, "w") as f:
        f.write("workload " + " ".join('"%s"' % i for i in shown) + "\n")
        for w, r in rows:
            vals = ["%.4f" % r[i] if r.get(i) else "NaN" for i in shown]
            f.write("%s %s\n" % (w, " ".join(vals)))
    width = max(900, 60 * len(rows) + 200)
    files = []
    for term, name in _terminals("ratios", width, 560):
        plot = ", ".join(
            "'ratios.dat' using %d:xtic(1) title columnheader(%d) "
            "lc rgb '%s'" % (k + 2, k + 2, _COLORS.get(i, "#888888"))
            for k, i in enumerate(shown))
        _gnuplot("""
set terminal %s
set termoption noenhanced
set output '%s'
set title "Time relative to kernel overlayfs \
(median; 1 = same, 2 = twice as slow)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set logscale y 2
set grid ytics
set ylabel "ratio to %s (log scale)"
set xtics rotate by -40 left font ',9' nomirror
set key top left
set bmargin 9
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead \
    lc rgb '#1f77b4' lw 2 dt 2 front
plot %s
""" % (term, os.path.join(out_dir, name), ref, plot), work)
        files.append(name)
    return files


def scaling_chart(out_dir, work, series, impls):
    """series: {impl: [(layers, seconds)]}; draws scaling.svg/.png."""
    shown = [i for i in impls if series.get(i)]
    if not shown:
        return []
    for i in shown:
        with open(os.path.join(work, "scaling-%s.dat" % i), "w") as f:
            for n, v in sorted(series[i]):
                f.write("%d %.6f\n" % (n, v))
    files = []
    for term, name in _terminals("scaling", 900, 560):
        plot = ", ".join(
            "'scaling-%s.dat' using 1:2 with linespoints lw 2 pt 7 "
            "lc rgb '%s' title '%s'" % (i, _COLORS.get(i, "#888888"), i)
            for i in shown)
        _gnuplot("""
set terminal %s
set termoption noenhanced
set output '%s'
set title "lstat of the bottom layer's files, by number of layers (median)"
set logscale xy
set grid
set xlabel "layers"
set ylabel "seconds (log scale)"
set key top left
plot %s
""" % (term, os.path.join(out_dir, name), plot), work)
        files.append(name)
    return files


def _unit_label(unit):
    return {"s": "seconds", "MiB": "MiB"}.get(unit, unit)


def workload_charts(out_dir, work, items):
    """items: [(name, unit, better, {impl: summary}, order)]; draws
    charts/NAME.svg and .png for each, the bars in order, every one in one
    gnuplot process.  Returns {name: stem of its chart files}."""
    script = []
    drawn = {}
    for name, unit, better, summ, order in items:
        shown = [i for i in order if i in summ] + \
            [i for i in summ if i not in order]
        if not shown:
            continue
        dat = os.path.join(work, name + ".dat")
        # Times below a second read better in milliseconds.
        scale, label = 1.0, _unit_label(unit)
        if unit == "s" and max(summ[i]["max"] for i in shown) < 1.0:
            scale, label = 1000.0, "milliseconds"
        with open(dat, "w") as f:
            for i in shown:
                s = summ[i]
                f.write('"%s" %.9g %.9g %.9g %d\n' % (
                    i, s["median"] * scale, s["min"] * scale,
                    s["max"] * scale,
                    int(_COLORS.get(i, "#888888")[1:], 16)))
        stem = os.path.join(CHART_DIR, name)
        width = max(520, 110 * len(shown) + 160)
        for term, fname in _terminals(stem, width, 380):
            script.append("""
set terminal %s
set termoption noenhanced
set output '%s'
set title "%s: median, bar from min to max (%s is better)"
set style fill solid 0.85 border -1
set boxwidth 0.7
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set xrange [-0.6:%f]
set grid ytics
set ylabel "%s"
set xtics nomirror font ',9'
unset key
plot '%s' using 0:2:5:xtic(1) with boxes lc rgb variable, \
     '' using 0:3:(0):($4-$3) with vectors nohead lc rgb '#000000' \
        lw 1.5, \
     '' using 0:2:(sprintf("%%.3g", $2)) with labels offset 2.2,0.6 \
        font ',9'
""" % (term, os.path.join(out_dir, fname), name, better, len(shown) - 0.4,
                label, dat))
        drawn[name] = stem
    if drawn:
        _gnuplot("\n".join(script), work)
    return drawn


def draw(out_dir, summaries, order):
    """Both charts from the summaries of the main workloads."""
    rows = []
    series = {}
    for name, summ in summaries:
        ratios = {i: s.get("ratio_" + stats.REF_KERNEL)
                  for i, s in summ.items()}
        if name.startswith("lookup_10k_"):
            n = int(name[len("lookup_10k_"):-len("layers")])
            for i, s in summ.items():
                series.setdefault(i, []).append((n, s["median"]))
        if any(ratios.values()):
            rows.append((name, ratios))
    # The data files gnuplot reads are scratch: results.json has it all.
    work = tempfile.mkdtemp(prefix="lfbench-plot-")
    try:
        files = ratio_chart(out_dir, work, rows, order, stats.REF_KERNEL)
        files += scaling_chart(out_dir, work, series, order)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return files


def draw_workloads(out_dir, items):
    """A chart per workload (workload_charts); stale ones of an earlier
    run in the same place are removed first."""
    charts = os.path.join(out_dir, CHART_DIR)
    shutil.rmtree(charts, ignore_errors=True)
    os.makedirs(charts)
    work = tempfile.mkdtemp(prefix="lfbench-plot-")
    try:
        return workload_charts(out_dir, work, items)
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""Summaries of the measurements: median, min, max and ratios.

A ratio always reads as a cost: 1.00 is as fast as the reference, 2.00
twice as slow (twice the time, or half the throughput), 0.50 twice as
fast.  That way a bar chart of ratios has one direction whatever the
unit of the workload."""

import statistics

# The references every table is compared against.
REF_NATIVE = "native"
REF_KERNEL = "overlayfs"
REF_CONTAINER = "bwrap-dir"


def summary(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values)}


def cost_ratio(value, ref, better):
    if value is None or ref is None or value <= 0 or ref <= 0:
        return None
    return value / ref if better == "lower" else ref / value


def summarize(result, references):
    """{impl: {median, min, max, n, ratio_<ref>...}} of one Result."""
    wl = result.workload
    out = {}
    for impl, values in result.runs.items():
        s = summary(values)
        if s is None:
            continue
        out[impl] = s
    for impl, s in out.items():
        for ref in references:
            r = out.get(ref)
            s["ratio_" + ref] = cost_ratio(
                s["median"], r["median"] if r else None, wl.better) \
                if impl != ref else (1.0 if r else None)
    return out


def _series(summaries, prefix, suffix):
    """{impl: {n: median}} of the workloads named PREFIX<n>SUFFIX."""
    out = {}
    for name, summ in summaries.items():
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        n = name[len(prefix):len(name) - len(suffix)]
        if not n.isdigit():
            continue
        for impl, s in summ.items():
            out.setdefault(impl, {})[int(n)] = s["median"]
    return out


def scaling(summaries):
    """The two scaling questions, from {workload: summarize(...)}:
    parallel: {impl: {procs: time with 1 process / time with procs}}, a
    speed-up (2 on 2 idle cores is the limit); layers: {impl: {layers:
    time with layers / time with 1 layer}}, a slow-down (1 is flat)."""
    out = {"parallel": {}, "layers": {}}
    for key, prefix, suffix, speedup in (
            ("parallel", "parallel_statread_", "p", True),
            ("layers", "lookup_10k_", "layers", False)):
        for impl, by_n in _series(summaries, prefix, suffix).items():
            one = by_n.get(1)
            if not one:
                continue
            out[key][impl] = {n: (one / v if speedup else v / one)
                              for n, v in sorted(by_n.items()) if v > 0}
    return out

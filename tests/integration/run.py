#!/usr/bin/env python3
"""Runs the integration test modules, each in its own process with a time
limit, and prints one line per test and a closing summary.

usage: run.py [--timeout SECONDS] [--only SUBSTRINGS] [MODULE...]

--only keeps the modules whose file name contains any of its substrings
(separated by spaces or commas); one that matches no module is an error,
so a misspelt name cannot pass by running nothing.

A module that runs past its limit is killed (with its whole process group)
and every FUSE mount left under the test temporary directories is aborted,
so one hung daemon never stalls the run.  Exit status: 0 when nothing
failed.
"""

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lfstest  # noqa: E402



def cleanup_stray_mounts(run_dir):
    """Unmounts what a crashed or timed-out module left mounted under this
    run's own directory (never another run's: several may share the
    machine)."""
    prefix = run_dir + "/"
    with open("/proc/self/mountinfo") as f:
        mounts = [l.split()[4] for l in f]
    for m in sorted(mounts, reverse=True):
        if m.startswith(prefix):
            lfstest.force_unmount(m)


def make_run_dir():
    """A directory of this run for every test's scratch files (the modules
    get it as TMPDIR).  Like /tmp, writable by all and sticky: the
    unprivileged programs the rootless tests start (podman, conmon,
    layerrun) keep their own temporary files in TMPDIR."""
    d = tempfile.mkdtemp(prefix=lfstest.TMP_PREFIX + "run-")
    os.chmod(d, 0o1777)
    return d


def run_module(path, timeout, run_dir):
    name = os.path.splitext(os.path.basename(path))[0]
    start = time.time()
    env = dict(os.environ, TMPDIR=run_dir)
    proc = subprocess.Popen([sys.executable, "-u", path, "-v"], cwd=HERE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    cleanup_stray_mounts(run_dir)
    text = out.decode(errors="replace")
    results = []
    for m in re.finditer(r"^@@result (\S+) (pass|fail|skip) ?(.*)$", text,
                         re.M):
        test = m.group(1).replace("__main__.", name + ".")
        results.append((test, m.group(2), m.group(3)))
    # What a module wants said even when it passes (a retry, say).
    for m in re.finditer(r"^@@note (.*)$", text, re.M):
        results.append((name, "note", m.group(1)))
    if timed_out:
        results.append((name, "fail", "timed out after %ds" % timeout))
    elif proc.returncode != 0 and not any(r[1] == "fail" for r in results):
        results.append((name, "fail", "exit status %d" % proc.returncode))
    return results, text, time.time() - start


def fuse_transport():
    """Which way this run's daemons take their requests: the fuse
    module's enable_uring decides it for every mount but test_uring's
    (which turns it on and off itself), and some kernels boot with it
    on, so a log says which one it exercised."""
    try:
        with open("/sys/module/fuse/parameters/enable_uring") as f:
            on = f.read().strip() == "Y"
    except OSError:
        return "fuse module: no enable_uring parameter (/dev/fuse only)"
    return "fuse module: enable_uring=%s (%s)" % (
        "Y" if on else "N",
        "daemons take requests over io_uring" if on
        else "daemons read /dev/fuse")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--only", default="")
    ap.add_argument("modules", nargs="*")
    a = ap.parse_args()
    mods = a.modules or sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    wanted = [w for w in re.split(r"[\s,]+", a.only) if w]
    if wanted:
        unmatched = [w for w in wanted
                     if not any(w in os.path.basename(m) for m in mods)]
        if unmatched:
            print("run.py: no test module matches %s"
                  % ", ".join(map(repr, unmatched)), file=sys.stderr)
            return 2
        mods = [m for m in mods
                if any(w in os.path.basename(m) for w in wanted)]
    npass = nfail = nskip = 0
    print("# %s" % fuse_transport(), flush=True)
    run_dir = make_run_dir()
    for path in mods:
        results, text, secs = run_module(path, a.timeout, run_dir)
        failed = False
        for test, verdict, why in results:
            if verdict == "pass":
                npass += 1
                print("ok     %s" % test)
            elif verdict == "skip":
                nskip += 1
                print("skip   %s: %s" % (test, why))
            elif verdict == "note":
                print("note   %s: %s" % (test, why))
            else:
                nfail += 1
                failed = True
                print("FAIL   %s: %s" % (test, why))
        print("# %s: %.1fs" % (os.path.basename(path), secs), flush=True)
        if failed:
            # The module's own output explains the failure.
            sys.stdout.write("".join("#   " + l + "\n"
                                     for l in text.splitlines()[-80:]))
    cleanup_stray_mounts(run_dir)
    with open("/proc/self/mountinfo") as f:
        still = any(l.split()[4].startswith(run_dir + "/") for l in f)
    if still:
        print("# left in place (something is still mounted): %s" % run_dir)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (npass, nfail, nskip))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())

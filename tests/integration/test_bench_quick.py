"""The benchmark runs end to end in --quick mode on a tiny dataset.

Speed is never asserted: these tests check that every workload ran on
every implementation that can run here (or says why not), that each
measurement was checked against the native tree, and that the results,
tables and charts are written."""

import json
import os
import shutil
import subprocess
import sys

import layerrun_util as lru
import lfstest
from lfstest import LayerfsTestCase

BENCH = os.path.join(lfstest.ROOT, "bench", "bench.py")
WALKER = os.path.join(lfstest.BUILD, "bench", "lfb-walk")
IMPLS = ["native", "overlayfs", "fuse-overlayfs", "unionfs-fuse", "layerfs"]
LAUNCHERS = ["bwrap-dir", "bwrap-fuse-overlayfs", "layerrun",
             "layerrun-lower", "podman"]
# Implementations of this project: a failed workload there is a bug.
OURS = ("native", "layerfs")


def run_bench(args, timeout=500):
    return subprocess.run(
        [sys.executable, BENCH, "--build", lfstest.BUILD, "--no-install"] +
        args, capture_output=True, text=True, timeout=timeout)


def _live_pids_of(uid):
    """The pids of UID's processes, zombies left out (the machine's init
    reaps those of a container's orphans a moment later)."""
    out = set()
    for p in os.listdir("/proc"):
        try:
            if not p.isdigit() or os.stat("/proc/" + p).st_uid != uid:
                continue
            with open("/proc/%s/stat" % p) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.add(int(p))
        except (OSError, IndexError):
            continue
    return out


class BenchQuick(LayerfsTestCase):
    # The quick run is shared by the tests below: it is the slow part.
    _shared = None

    @classmethod
    def setUpClass(cls):
        cls._shared = None

    @classmethod
    def tearDownClass(cls):
        if cls._shared:
            shutil.rmtree(cls._shared["tmp"], ignore_errors=True)

    def quick_run(self):
        if not os.access(WALKER, os.X_OK):
            self.fail("%s is missing: run make first" % WALKER)
        cls = type(self)
        if cls._shared is None:
            import tempfile
            tmp = tempfile.mkdtemp(prefix=lfstest.TMP_PREFIX + "bench-")
            out = os.path.join(tmp, "out")
            # The rootless start runs as the tests' own unprivileged user
            # (with --no-install the bench creates none).
            user_args, user = [], None
            if lfstest.is_root():
                ids, _ = lru.ensure_test_user()
                if ids:
                    user = lru.TEST_USER
                    user_args = ["--rootless-user", user]
            fuse_mode = os.stat("/dev/fuse").st_mode
            before = _live_pids_of(lru.user_ids(user)[0]) if user else set()
            r = run_bench(["--quick", "--reps", "1", "--cache",
                           os.path.join(tmp, "cache"), "--out", out] +
                          user_args)
            cls._shared = {"tmp": tmp, "out": out, "proc": r, "user": user,
                           "fuse_mode": fuse_mode, "pids_before": before}
        r = cls._shared["proc"]
        if r.returncode != 0:
            self.fail("bench --quick exited %d: %s" % (
                r.returncode, r.stderr.strip().splitlines()[-3:]))
        with open(os.path.join(cls._shared["out"], "results.json")) as f:
            data = json.load(f)
        return cls._shared, data

    def test_every_workload_and_implementation_reported(self):
        shared, data = self.quick_run()
        listed = subprocess.run([sys.executable, BENCH, "--list"],
                                capture_output=True, text=True, check=True)
        full_names = listed.stdout.split()
        got = [w["name"] for w in data["workloads"]]
        stacks = data["dataset"]["params"]["stacks"]
        # The quick stacks are shallower; every other name is the same.
        want = [n for n in full_names if not n.startswith("lookup_10k_")] + \
            ["lookup_10k_%dlayers" % n for n in stacks]
        self.assertEqual(sorted(got), sorted(want))

        impls = {i["name"]: i for i in data["implementations"]}
        self.assertEqual(sorted(impls), sorted(IMPLS))
        for name, i in impls.items():
            if not i["runnable"]:
                self.assertTrue(i["reason"], "%s: no reason given" % name)
        if lfstest.is_root() and lfstest.kernel_overlay_available():
            self.assertTrue(impls["overlayfs"]["runnable"],
                            impls["overlayfs"]["reason"])
        self.assertTrue(impls["layerfs"]["runnable"],
                        impls["layerfs"]["reason"])
        self.assertTrue(impls["native"]["runnable"])

    def test_measurements_checked_and_complete(self):
        shared, data = self.quick_run()
        runnable = [i["name"] for i in data["implementations"]
                    if i["runnable"]]
        for w in data["workloads"]:
            if w["name"].startswith("container_start"):
                continue
            for impl in runnable:
                if impl in w["skipped"]:
                    self.assertTrue(w["skipped"][impl])
                    continue
                if impl in w["errors"]:
                    self.assertNotIn(impl, OURS, "%s on %s: %s" % (
                        w["name"], impl, w["errors"][impl]))
                    self.assertTrue(w["errors"][impl])
                    continue
                if impl not in w["runs"]:
                    # Workloads that do not apply (no daemon, no mount).
                    continue
                values = w["runs"][impl]
                self.assertEqual(len(values), 1, (w["name"], impl))
                self.assertGreater(values[0], 0, (w["name"], impl))
                s = w["summary"][impl]
                self.assertEqual(s["median"], values[0])
        by_name = {w["name"]: w for w in data["workloads"]}
        # The FUSE daemons' memory is measured, never the kernel's.
        rss = by_name["daemon_rss_after_walks"]
        self.assertIn("layerfs", rss["runs"])
        self.assertNotIn("overlayfs", rss["runs"])
        self.assertNotIn("native", rss["runs"])
        # What a walked entry costs the daemon: the walk saw the whole
        # tree and the flat directory.
        mem = rss["details"]["layerfs"][0]
        self.assertGreater(mem["entries"],
                           data["dataset"]["manifest"]["flat_entries"])
        self.assertGreaterEqual(mem["rss_after_walks_kib"], 1)
        self.assertGreater(mem["nodes_after_walks"],
                           data["dataset"]["manifest"]["flat_entries"])
        if data["cold_cache"]:
            # The kernel's forgets reach layerfs: its nodes go.
            self.assertLess(mem["nodes_after_drop"],
                            mem["nodes_after_walks"] / 2)
        # Every target is listed, and judged when its workloads ran.
        self.assertEqual(len(data["targets"]), 18)
        for t in data["targets"]:
            self.assertIn(t["met"], (True, False), t)
        # The scaling tables are derived from the medians.
        sc = data["scaling"]
        self.assertAlmostEqual(sc["parallel"]["layerfs"]["1"], 1.0)
        self.assertAlmostEqual(sc["layers"]["layerfs"]["1"], 1.0)
        deep = max(data["dataset"]["params"]["stacks"])
        self.assertAlmostEqual(
            sc["layers"]["layerfs"][str(deep)],
            by_name["lookup_10k_%dlayers" % deep]["summary"]["layerfs"]
            ["median"] / by_name["lookup_10k_1layers"]["summary"]
            ["layerfs"]["median"])
        # Copy-up of the sparse file says whether its holes were kept.
        sparse = by_name["append_1b_sparse_1gib"]
        for impl, details in sparse["details"].items():
            if impl != "native" and details:
                self.assertIn("holes_kept", details[0], impl)
        # Ratios to the references are there when both ran.
        stat = by_name["stat_walk_warm"]["summary"]
        self.assertAlmostEqual(stat["native"]["ratio_native"], 1.0)
        if "overlayfs" in stat:
            want = stat["layerfs"]["median"] / stat["overlayfs"]["median"]
            self.assertAlmostEqual(stat["layerfs"]["ratio_overlayfs"], want)

    def test_container_start_lists_every_launcher(self):
        shared, data = self.quick_run()
        launchers = {ln["name"]: ln for ln in data["launchers"]}
        self.assertEqual(sorted(launchers), sorted(LAUNCHERS))
        for name, ln in launchers.items():
            if not ln["runnable"]:
                self.assertTrue(ln["reason"], name)
        # layerrun is this project's: where it is built it must run.
        for name in ("layerrun", "layerrun-lower"):
            if os.path.exists(os.path.join(lfstest.BUILD, "layerrun")):
                self.assertTrue(launchers[name]["runnable"],
                                launchers[name]["reason"])
            else:
                self.assertFalse(launchers[name]["runnable"])
                self.assertIn("layerrun", launchers[name]["reason"])
        ctr = [w for w in data["workloads"] if w["name"] == "container_start"]
        self.assertEqual(len(ctr), 1)
        for name, ln in launchers.items():
            if ln["runnable"] and name not in ctr[0]["errors"]:
                self.assertEqual(len(ctr[0]["runs"][name]), 1, name)

    def test_rootless_container_start(self):
        """The same launchers as an unprivileged user: layerrun runs
        rootless where the bench runs as root, and /dev/fuse, opened to
        all for the workload, has its own mode again afterwards."""
        shared, data = self.quick_run()
        self.assertEqual(os.stat("/dev/fuse").st_mode, shared["fuse_mode"])
        launchers = {ln["name"]: ln for ln in data["launchers_rootless"]}
        self.assertEqual(sorted(launchers), sorted(LAUNCHERS))
        for name, ln in launchers.items():
            if not ln["runnable"]:
                self.assertTrue(ln["reason"], name)
        ctr = [w for w in data["workloads"]
               if w["name"] == "container_start_rootless"]
        self.assertEqual(len(ctr), 1)
        if not lfstest.is_root():
            for name, ln in launchers.items():
                self.assertFalse(ln["runnable"], name)
                self.assertIn("container_start", ln["reason"])
            return
        if not shared["user"]:
            self.skipTest("no unprivileged user %s to run as"
                          % lru.TEST_USER)
        if not os.path.exists(os.path.join(lfstest.BUILD, "layerrun")):
            self.skipTest("layerrun is not built")
        for name in ("layerrun", "layerrun-lower"):
            self.assertTrue(launchers[name]["runnable"],
                            launchers[name]["reason"])
            self.assertNotIn(name, ctr[0]["errors"])
            self.assertEqual(len(ctr[0]["runs"][name]), 1, name)
        # Nothing the run started as the user is left running.
        left = _live_pids_of(lru.user_ids(shared["user"])[0]) - \
            shared["pids_before"]
        self.assertEqual(left, set())

    def test_markdown_and_charts_written(self):
        shared, data = self.quick_run()
        out = shared["out"]
        with open(os.path.join(out, "results.md")) as f:
            md = f.read()
        for w in data["workloads"]:
            self.assertIn("### %s\n" % w["name"], md)
        self.assertIn("## Machine", md)
        self.assertIn("vs overlayfs", md)
        # The results never name this machine's scratch paths.
        self.assertNotIn(shared["tmp"], md)
        with open(os.path.join(out, "results.json")) as f:
            self.assertNotIn(shared["tmp"], f.read())
        if not lfstest.have_tool("gnuplot"):
            self.skipTest("needs gnuplot (not installed)")
        for chart in ("ratios", "scaling"):
            with open(os.path.join(out, chart + ".png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with open(os.path.join(out, chart + ".svg")) as f:
                self.assertIn("<svg", f.read())
            self.assertIn("](%s.svg)" % chart, md)
        # One bar chart per workload, container start included.
        for w in data["workloads"]:
            stem = os.path.join("charts", w["name"])
            with open(os.path.join(out, stem + ".png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertIn("](%s.svg)" % stem, md)

    def test_only_and_impl_select(self):
        shared, _ = self.quick_run()
        out = os.path.join(shared["tmp"], "only")
        r = run_bench(["--quick", "--reps", "1", "--cache",
                       os.path.join(shared["tmp"], "cache"), "--out", out,
                       "--only", "stat_walk_w*", "--impl", "native,layerfs"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "results.json")) as f:
            data = json.load(f)
        self.assertEqual([w["name"] for w in data["workloads"]],
                         ["stat_walk_warm"])
        self.assertEqual([i["name"] for i in data["implementations"]],
                         ["native", "layerfs"])
        self.assertEqual(sorted(data["workloads"][0]["runs"]),
                         ["layerfs", "native"])
        # Progress went to stderr.
        self.assertIn("stat_walk_warm", r.stderr)

    def test_scratch_fs_ext4_journal(self):
        """--scratch-fs ext4-journal puts the upper layers on a journaled
        ext4 made for the run, says so in the results, and leaves
        neither the mount nor the image behind."""
        self.require_root()
        self.require_tool("mkfs.ext4")
        shared, _ = self.quick_run()
        cache = os.path.join(shared["tmp"], "cache")
        out = os.path.join(shared["tmp"], "ext4j")
        r = run_bench(["--quick", "--reps", "1", "--cache", cache,
                       "--out", out, "--only", "chown_r_10k",
                       "--impl", "layerfs", "--scratch-fs", "ext4-journal"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "results.json")) as f:
            data = json.load(f)
        self.assertIn("ext4 with a journal",
                      data["machine"]["scratch_filesystem"])
        self.assertEqual(len(data["workloads"][0]["runs"]["layerfs"]), 1)
        with open(os.path.join(out, "results.md")) as f:
            self.assertIn("| filesystem of the upper layers |", f.read())
        self.assertEqual([n for n in os.listdir(cache)
                          if n.startswith("run-")], [])
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(cache, f.read())

    def test_bad_usage_is_one_line_and_exit_1(self):
        r = run_bench(["--impl", "nosuchfs"], timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bench: unknown implementation 'nosuchfs'", r.stderr)
        r = run_bench(["--only", "no_such_workload"], timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no workload matches", r.stderr)


if __name__ == "__main__":
    lfstest.main()

"""layertool stats: the counters a real mount wrote, shown as a table
that says the same as the JSON file."""

import json
import os
import re

import lfstest
import layertool_util as lt


class TestStats(lfstest.LayerfsTestCase):

    def test_table_matches_the_mount(self):
        self.require_metacopy()
        low = self.layer("low", {"f": "data" * 1000, "g": "g",
                                 "h": "h", "d/x": "x"})
        stats = self.path("stats.json")
        m = self.mount_rw([low], opts=["stats=" + stats])
        with open(os.path.join(m.path, "f"), "a") as f:
            f.write("more")
        os.chmod(os.path.join(m.path, "g"), 0o600)
        os.unlink(os.path.join(m.path, "h"))
        os.rename(os.path.join(m.path, "d"), os.path.join(m.path, "e"))
        self.assertEqual(m.unmount(), 0)
        with open(stats) as f:
            doc = json.load(f)
        self.assertGreaterEqual(doc["copyups"], 1)
        r = lt.run_layertool(["stats", stats])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = r.stdout.decode()

        def row(label):
            m = re.search(r"^  %s +(\S+(?: \S+)?)$" % re.escape(label), out,
                          re.M)
            self.assertIsNotNone(m, "no row %r in:\n%s" % (label, out))
            return m.group(1)

        self.assertEqual(row("files copied up"), str(doc["copyups"]))
        self.assertEqual(row("metadata-only copies"),
                         str(doc["meta_copyups"]))
        self.assertEqual(row("whiteouts created"), str(doc["whiteouts"]))
        self.assertEqual(row("directories renamed (redirects)"),
                         str(doc["redirects"]))
        self.assertEqual(row("lookups"), str(doc["lookups"]))
        self.assertGreaterEqual(doc["meta_copyups"], 1)
        self.assertGreaterEqual(doc["whiteouts"], 1)
        self.assertEqual(doc["redirects"], 1)
        self.assertIn(m.upper, out)
        self.assertIn(low, out)
        self.assertRegex(row("data copied"), r"^[0-9.]+ (B|KiB)$")
        # Every field this layerfs writes has its row: none is left to
        # "other counters", which is for a newer layerfs's.
        self.assertNotIn("other counters", out)
        self.assertEqual(row("FUSE passthrough"),
                         "yes" if doc["passthrough"] else "no")
        self.assertEqual(row("kernel writeback cache"),
                         "yes" if doc["writeback"] else "no")
        self.assertEqual(row("stale index entries taken out"),
                         str(doc["index_stale"]))
        self.assertEqual(row("/dev/fuse workers started"),
                         str(doc["dev_fuse_workers_started"]))

    def test_unknown_counters_are_shown(self):
        p = self.path("s.json")
        with open(p, "w") as f:
            json.dump({"version": 1, "copyups": 3, "new_counter": 42,
                       "layers": []}, f)
        r = lt.run_layertool(["stats", p])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertRegex(r.stdout.decode(), r"new_counter +42")

    def test_not_a_stats_file(self):
        p = self.path("bad.json")
        with open(p, "w") as f:
            f.write("{\"copyups\": ")
        r = lt.run_layertool(["stats", p])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"not a layerfs statistics file", r.stderr)
        r = lt.run_layertool(["stats", self.path("missing.json")])
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    lfstest.main()

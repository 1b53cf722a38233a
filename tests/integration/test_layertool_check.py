"""layertool check: each planted problem is found, with its code, layer
and path; the exit status follows the worst severity."""

import json
import os

import lfstest
import layertool_util as lt

LOWER = {
    "data": "data",
    "hidden": "hidden",
    "etc/passwd": "root",
}


class TestCheck(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        self.require_root()  # device nodes, trusted.* xattrs

    def check(self, *layers, code):
        r = lt.run_layertool(["check", "--json"] + list(layers))
        self.assertEqual(r.returncode, code, r.stdout.decode()
                         + r.stderr.decode())
        doc = json.loads(r.stdout)
        self.assertEqual(doc["layers"], list(layers))
        return {(p["code"], p["layer"], p["path"]): p for p in
                doc["problems"]}, doc

    def test_clean_stack(self):
        top = self.layer("top", {".wh.hidden": "", "etc/new": "n",
                                 "lnk": ("symlink", "/etc/passwd"),
                                 "rel": ("symlink", "etc/../data")})
        low = self.layer("low", LOWER)
        found, doc = self.check(top, low, code=0)
        self.assertEqual(found, {})
        r = lt.run_layertool(["check", top, low])
        self.assertEqual(r.stdout.decode().strip().splitlines()[-1],
                         "0 errors, 0 warnings in 2 layers")

    def test_every_planted_problem(self):
        outside = self.layer("outside", {"shared": "shared"})
        top = self.layer("top", {
            ".wh.": "",                              # reserved-name
            "etc/.wh..": "",                         # reserved-name
            ".wh.data/": None,                       # whiteout-not-file
            "sub/.wh..wh..opq/": None,               # opaque-marker-not-file
            "file-opq": "",                          # opaque-on-non-dir
            "escape": ("symlink", "../../../etc/shadow"),  # symlink-escape
            "deep/escape": ("symlink", "../../x"),    # symlink-escape
            "deep/mid": ("symlink", "../y/../../x"),  # symlink-escape
            ".wh.nothing": "",                       # whiteout-hides-nothing
            "etc/.wh.passwd": "not empty",           # whiteout-has-data
            "null": ("chardev", 1, 3),               # device-file
            "standin": "",                           # device-file (record)
            "owned": "",                             # fine: owner record
            "#1f2e-3a": "partial copy",              # leftover-work-file
            ".wh..wh.plnk/": None,                   # leftover-work-file
            "meta": "",                              # upper-layer-mark
            ".wh.hidden": "",                        # fine: hides hidden
        })
        os.setxattr(os.path.join(top, "file-opq"), "trusted.overlay.opaque",
                    b"y")
        os.setxattr(os.path.join(top, "meta"), "user.layerfs.metacopy",
                    b"/meta")
        # A rootless layer's device, and a file with only an owner.
        os.setxattr(os.path.join(top, "standin"),
                    "user.containers.override_stat", b"0:0:0666:block-8-0")
        os.setxattr(os.path.join(top, "owned"),
                    "user.containers.override_stat", b"5:5:0644")
        os.link(os.path.join(outside, "shared"), os.path.join(top, "linked"))
        low = self.layer("low", LOWER)
        found, doc = self.check(top, low, code=5)
        want = {
            ("reserved-name", 0, "/.wh."),
            ("reserved-name", 0, "/etc/.wh.."),
            ("whiteout-not-file", 0, "/.wh.data"),
            ("opaque-marker-not-file", 0, "/sub/.wh..wh..opq"),
            ("opaque-on-non-directory", 0, "/file-opq"),
            ("symlink-escape", 0, "/escape"),
            ("symlink-escape", 0, "/deep/escape"),
            ("symlink-escape", 0, "/deep/mid"),
            ("whiteout-hides-nothing", 0, "/.wh.nothing"),
            ("whiteout-has-data", 0, "/etc/.wh.passwd"),
            ("device-file", 0, "/null"),
            ("device-file", 0, "/standin"),
            ("leftover-work-file", 0, "/#1f2e-3a"),
            ("leftover-work-file", 0, "/.wh..wh.plnk"),
            ("upper-layer-mark", 0, "/meta"),
            ("hardlink-outside-layer", 0, "/linked"),
        }
        self.assertEqual(set(found), want)
        self.assertEqual(doc["errors"], 8)
        self.assertEqual(doc["warnings"], 8)
        self.assertIn("block device 8:0 (an override_stat stand-in)",
                      found[("device-file", 0, "/standin")]["message"])
        sev = {k[0]: p["severity"] for k, p in found.items()}
        self.assertEqual(sev["symlink-escape"], "error")
        self.assertEqual(sev["whiteout-hides-nothing"], "warning")
        # Where only the leading '..' climb, import would clamp them.
        msg = lambda p: found[("symlink-escape", 0, p)]["message"]  # noqa
        self.assertIn("import would clamp it to 'etc/shadow'",
                      msg("/escape"))
        self.assertIn("clamp it to '../x'", msg("/deep/escape"))
        self.assertNotIn("clamp", msg("/deep/mid"))

    def test_warnings_only_and_lower_layers(self):
        top = self.layer("top", {".wh.data": ""})
        # The bottom layer's whiteouts hide nothing at all.
        low = self.layer("low", dict(LOWER, **{"etc/.wh.group": ""}))
        found, _ = self.check(top, low, code=4)
        self.assertEqual(set(found), {("whiteout-hides-nothing", 1,
                                       "/etc/.wh.group")})
        # Text output: one line per problem, then the summary.
        r = lt.run_layertool(["check", top, low])
        lines = r.stdout.decode().strip().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith("warning: %s: /etc/.wh.group: "
                                            % low), lines[0])
        self.assertTrue(lines[0].endswith("[whiteout-hides-nothing]"))

    def test_control_characters_in_names_stay_on_one_line(self):
        # A name with a newline forged a report line of its own, and an
        # escape sequence reached the terminal; JSON keeps the name.
        name = ".wh.z\nerror: forged\x1b[2J"
        top = self.layer("top", {name: ""})
        found, _ = self.check(top, code=4)
        self.assertEqual(set(found),
                         {("whiteout-hides-nothing", 0, "/" + name)})
        r = lt.run_layertool(["check", top])
        lines = r.stdout.decode().strip().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("/.wh.z\\x0aerror: forged\\x1b[2J: ", lines[0])
        self.assertNotIn("\x1b", r.stdout.decode())

    def test_overlay_whiteout_hiding_nothing(self):
        top = self.layer("top", {"hidden": ("whiteout",),
                                 "none": ("whiteout",)})
        low = self.layer("low", LOWER)
        found, _ = self.check(top, low, code=4)
        self.assertEqual(set(found), {("whiteout-hides-nothing", 0, "/none")})

    def test_whiteout_hard_linked_with_a_file(self):
        # A file of the layer linked to a whiteout of the same layer: its
        # links are all here, but one inode is both a marker and a file.
        top = self.layer("top", {".wh.hidden": "",
                                 "file": ("hardlink", ".wh.hidden"),
                                 "etc/.wh..wh..opq": "",
                                 "etc/marked": ("hardlink",
                                                "etc/.wh..wh..opq")})
        low = self.layer("low", LOWER)
        found, _ = self.check(top, low, code=4)
        self.assertEqual(set(found), {
            ("whiteout-hardlinked", 0, "/.wh.hidden"),
            ("whiteout-hardlinked", 0, "/etc/.wh..wh..opq")})
        self.assertIn("'/file'", found[("whiteout-hardlinked", 0,
                                        "/.wh.hidden")]["message"])
        # Linked with a file of another layer too: that link is outside.
        outside = self.layer("outside", {"elsewhere": ""})
        os.link(os.path.join(top, "file"),
                os.path.join(outside, "elsewhere-too"))
        found, _ = self.check(top, low, code=4)
        self.assertIn(("hardlink-outside-layer", 0, "/file"), found)
        self.assertIn("3 links, 2 of them",
                      found[("hardlink-outside-layer", 0, "/file")]
                      ["message"])

    def test_shared_whiteout_inode(self):
        # layerfs and kernel overlayfs link every whiteout they make to one
        # inode in the work directory: links elsewhere are no problem
        # when only whiteouts name the inode here.
        work = self.layer("work", {"whiteout": ""})
        top = self.layer("top", {})
        os.link(os.path.join(work, "whiteout"),
                os.path.join(top, ".wh.hidden"))
        os.link(os.path.join(work, "whiteout"), os.path.join(top, ".wh.data"))
        low = self.layer("low", LOWER)
        found, _ = self.check(top, low, code=0)
        self.assertEqual(found, {})

    def test_unreadable_layer(self):
        r = lt.run_layertool(["check", self.path("missing")])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"missing", r.stderr)


if __name__ == "__main__":
    lfstest.main()

"""layertool on trees deeper than the descriptor limit and the stack.

A layer or a container's upper directory is anyone's making: a tar with
long pax paths, or a container that goes on making directories, gives a
tree 20,000 levels deep.  Each command here runs with its open-files
limit at lfstest.LOW_FD_LIMIT (256), where a walk holding a descriptor per
level failed with EMFILE long before the bottom; check goes 20,000 levels
down, where one recursing per level overflowed its stack.
"""

import json
import os
import stat
import tarfile

import lfstest
import layertool_util as lt

DEPTH = 3000
DEEP = "/".join(["d"] * DEPTH)


class TestDeepTrees(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(lt.LAYERTOOL):
            self.fail("%s is missing: run make first" % lt.LAYERTOOL)
        self.require_root()

    def layertool(self, args, code=0):
        r = lt.run_layertool(args, preexec_fn=lfstest.low_fd_limit)
        self.assertEqual(r.returncode, code, r.stderr.decode()[-2000:])
        return r

    def tar_members(self, path):
        """name: (type, content of a file) of every member."""
        out = {}
        with tarfile.open(path) as t:
            for m in t.getmembers():
                data = t.extractfile(m).read() if m.isfile() else None
                out[m.name] = (m.type, data)
        return out

    def diff_lines(self, args):
        r = self.layertool(["diff"] + list(args))
        return {p: (k, int(n)) for k, n, p in
                (line.split(None, 2)
                 for line in r.stdout.decode().splitlines())}

    def test_export_of_a_deep_upper_directory(self):
        low = self.layer("low", {"etc/x": "x"})
        up = self.deep_tree("up", DEPTH)
        # Alone, and over lower layers (whose walk first looks through
        # the whole upper directory for renamed directories).
        for name, args in (("alone", []), ("over", ["--lower", low])):
            with self.subTest(name):
                out = self.path(name + ".tar")
                self.layertool(["export"] + args + [up, out])
                members = self.tar_members(out)
                self.assertEqual(members[DEEP + "/leaf"],
                                 (tarfile.REGTYPE, b"deep\n"))
                dirs = [n for n, (t, _) in members.items()
                        if t == tarfile.DIRTYPE]
                self.assertEqual(len(dirs), DEPTH)

    def test_deep_renamed_directory(self):
        # Renamed, the deep directory of the lower layer is exported and
        # diffed whole, through its redirect.
        low = self.deep_tree("low", DEPTH + 1)
        os.rename(os.path.join(low, "d"), os.path.join(low, "src"))
        m = self.mount_rw([low])
        os.rename(os.path.join(m.path, "src"), os.path.join(m.path, "moved"))
        self.assertEqual(m.unmount(), 0)
        out = self.path("out.tar")
        self.layertool(["export", "--lower", low, m.upper, out])
        members = self.tar_members(out)
        self.assertIn("moved/.wh..wh..opq", members)
        self.assertIn(".wh.src", members)
        self.assertEqual(members["moved/" + DEEP + "/leaf"],
                         (tarfile.REGTYPE, b"deep\n"))
        lines = self.diff_lines([m.upper, low])
        self.assertEqual(lines["/src"], ("D", 0))
        self.assertEqual(lines["/moved/" + DEEP + "/leaf"], ("A", 5))
        self.assertEqual(len(lines), 1 + DEPTH + 2)

    def test_diff_of_a_deep_merged_tree(self):
        low = self.deep_tree("low", DEPTH, data="old\n")
        up = self.deep_tree("up", DEPTH, data="new!\n")
        lfd, ufd = lfstest.walk_down(low, DEPTH), lfstest.walk_down(up, DEPTH)
        try:
            with open(os.open("gone", os.O_WRONLY | os.O_CREAT, 0o644,
                              dir_fd=lfd), "w") as f:
                f.write("gone")
            os.close(os.open(".wh.gone", os.O_WRONLY | os.O_CREAT, 0o644,
                             dir_fd=ufd))
            os.mkdir("added", dir_fd=ufd)
        finally:
            os.close(lfd)
            os.close(ufd)
        lines = self.diff_lines([up, low])
        self.assertEqual(lines["/" + DEEP + "/leaf"], ("C", 5))
        self.assertEqual(lines["/" + DEEP + "/gone"], ("D", 4))
        self.assertEqual(lines["/" + DEEP + "/added"], ("A", 0))
        self.assertEqual(lines["/" + DEEP], ("C", 0))
        self.assertEqual(len(lines), DEPTH + 3)

    def test_check_deeper_than_the_stack(self):
        depth = 20000
        layer = self.deep_tree("layer", depth, leaf=".wh.nothing", data="")
        # 4: warnings only.
        r = self.layertool(["check", "--json", layer], code=4)
        problems = json.loads(r.stdout)["problems"]
        self.assertEqual([(p["code"], p["path"]) for p in problems],
                         [("whiteout-hides-nothing",
                           "/" + "d/" * depth + ".wh.nothing")])

    def test_convert_of_a_deep_layer(self):
        layer = self.deep_tree("layer", DEPTH, leaf=".wh.gone", data="")
        fd = lfstest.walk_down(layer, DEPTH)
        try:
            os.close(os.open(".wh..wh..opq", os.O_WRONLY | os.O_CREAT,
                             0o644, dir_fd=fd))
        finally:
            os.close(fd)
        self.layertool(["convert", "--to", "overlay", layer])
        fd = lfstest.walk_down(layer, DEPTH)
        try:
            self.assertEqual(sorted(os.listdir(fd)), ["gone"])
            st = os.stat("gone", dir_fd=fd, follow_symlinks=False)
            self.assertTrue(stat.S_ISCHR(st.st_mode))
            self.assertEqual(st.st_rdev, 0)
            self.assertEqual(os.getxattr(fd, "trusted.overlay.opaque"), b"y")
        finally:
            os.close(fd)
        self.layertool(["convert", "--to", "dotwh", layer])
        fd = lfstest.walk_down(layer, DEPTH)
        try:
            self.assertEqual(sorted(os.listdir(fd)),
                             [".wh..wh..opq", ".wh.gone"])
            self.assertNotIn("trusted.overlay.opaque", os.listxattr(fd))
        finally:
            os.close(fd)


if __name__ == "__main__":
    lfstest.main()

"""layerfs against kernel overlayfs on the same layers.

The layers are written once in the OCI form (.wh. files, .wh..wh..opq) for
layerfs and converted to the kernel's form (0/0 devices, opaque xattrs) for
overlayfs.  The merged trees must be identical: names, types, modes,
owners, sizes, contents, link targets, device numbers and user xattrs.

Differences by design, handled here rather than hidden:
- kernel overlayfs refuses to rename a directory with lower content
  (EXDEV, unless redirect_dir=on); layerfs renames it.  The sequences use
  mv(1), which falls back to copy and delete on EXDEV, so both views end
  the same.
- kernel overlayfs copies data on chmod/chown (metacopy is off by
  default); layerfs copies metadata only.  The views are the same; the
  upper layers differ until the data is written.
"""

import errno
import os
import subprocess

import lfstest
import overlay_util as ovl
from lfstest import (LayerfsTestCase, RENAME_EXCHANGE, RENAME_NOREPLACE,
                     renameat2, snapshot, write)


def base_layers(test):
    low = test.layer("low", {
        "etc/motd": "motd from low\n",
        "etc/hosts": "hosts\n",
        "bin/tool": ("file", "#!/bin/sh\necho tool\n", 0o755),
        "gone.txt": "will be removed by mid",
        "merged/a": "a", "merged/sub/x": "x", "merged/sub/y": "y",
        "emptymerge/keep/": None,
        "olddir/f1": "f1", "olddir/inner/f2": "f2",
        "hl1": "hard linked data",
        "data/big.bin": os.urandom(200000),
        "link": ("symlink", "etc/motd"),
        "dangling": ("symlink", "/nonexistent/target"),
        "chmod-me": "chmod then write\n",
        "xattr-me": "xattrs",
    })
    os.link(os.path.join(low, "hl1"), os.path.join(low, "hl2"))
    os.setxattr(os.path.join(low, "xattr-me"), "user.kept", b"lower value")
    os.chown(os.path.join(low, "etc/hosts"), 7, 8)
    mid = test.layer("mid", {
        ".wh.gone.txt": "",
        "merged/b": "b",
        "merged/sub/.wh.y": "",
        "emptymerge/keep/.wh..wh..opq": "",
        "opq/.wh..wh..opq": "",
        "opq/only": "only this",
    })
    os.makedirs(os.path.join(low, "opq"), exist_ok=True)
    with open(os.path.join(low, "opq/hidden"), "w") as f:
        f.write("hidden by mid's opaque dir")
    top = test.layer("top", {"merged/c": "c", "etc/issue": "issue\n"})
    return [top, mid, low]


def kernel_copies(test, layers):
    out = []
    for i, l in enumerate(layers):
        dst = test.path("k%d" % i)
        ovl.copy_layer(l, dst)
        ovl.to_overlay_format(dst)
        out.append(dst)
    return out


def steps():
    """Named steps; each takes the merged root."""
    j = os.path.join
    return [
        ("create", lambda r: write(j(r, "newfile"), "new\n")),
        ("append-lower", lambda r: write(j(r, "etc/motd"), "more\n", "a")),
        ("chmod-then-write", lambda r: (os.chmod(j(r, "chmod-me"), 0o600),
                                        write(j(r, "chmod-me"), "w\n", "a"))),
        ("chown-lower", lambda r: os.chown(j(r, "bin/tool"), 123, 456)),
        ("truncate-lower", lambda r: os.truncate(j(r, "data/big.bin"), 1000)),
        ("unlink-lower", lambda r: os.unlink(j(r, "etc/issue"))),
        ("unlink-hardlinked", lambda r: os.unlink(j(r, "hl1"))),
        ("write-other-link", lambda r: write(j(r, "hl2"), "changed\n")),
        ("rmdir-nonempty", lambda r: os.rmdir(j(r, "merged"))),
        ("rm-rf-merged", lambda r: subprocess.run(
            ["rm", "-rf", j(r, "merged")], check=True)),
        ("mkdir-over-removed", lambda r: os.mkdir(j(r, "merged"))),
        ("file-in-recreated", lambda r: write(j(r, "merged/fresh"), "f")),
        ("rename-over-whiteout", lambda r: os.rename(j(r, "newfile"),
                                                     j(r, "gone.txt"))),
        ("rename-lower-file", lambda r: os.rename(j(r, "etc/hosts"),
                                                  j(r, "hosts.moved"))),
        ("mv-lower-dir", lambda r: subprocess.run(
            ["mv", j(r, "olddir"), j(r, "newdir")], check=True)),
        ("write-in-moved", lambda r: write(j(r, "newdir/inner/f2"), "z", "a")),
        ("symlink", lambda r: os.symlink("hosts.moved", j(r, "sl"))),
        ("link-lower", lambda r: os.link(j(r, "chmod-me"), j(r, "cm2"))),
        ("setxattr", lambda r: os.setxattr(j(r, "xattr-me"), "user.new",
                                           b"v")),
        ("removexattr", lambda r: os.removexattr(j(r, "xattr-me"),
                                                 "user.kept")),
        ("utime-lower", lambda r: os.utime(j(r, "etc/motd"), (1000, 2000))),
        ("mkfifo", lambda r: os.mkfifo(j(r, "fifo"))),
        ("mknod", lambda r: os.mknod(j(r, "null2"), 0o644 | 0o020000,
                                     os.makedev(1, 3))),
        ("noreplace-exists", lambda r: renameat2(j(r, "sl"), j(r, "cm2"),
                                                 RENAME_NOREPLACE)),
        ("exchange", lambda r: renameat2(j(r, "sl"), j(r, "cm2"),
                                         RENAME_EXCHANGE)),
        ("rename-dir-over-empty", lambda r: (os.mkdir(j(r, "srcd")),
                                             write(j(r, "srcd/in"), "i"),
                                             os.rename(j(r, "srcd"),
                                                       j(r, "emptymerge/keep")))),
        ("rmdir-merged-empty", lambda r: (os.unlink(j(r, "opq/only")),
                                          os.rmdir(j(r, "opq")))),
        ("recreate-opq", lambda r: os.makedirs(j(r, "opq/deeper"))),
        ("mkdir-reserved", lambda r: os.mkdir(j(r, ".wh.forged"))),
        ("create-reserved", lambda r: write(j(r, "merged/.wh.x"), "")),
        ("rename-to-reserved", lambda r: os.rename(j(r, "sl"),
                                                   j(r, ".wh.sl"))),
        # A second name made through the mount, then renamed (the rename
        # failed with EIO when the name was not the one the daemon knew).
        ("link-then-rename", lambda r: (write(j(r, "lk1"), "l"),
                                        os.link(j(r, "lk1"), j(r, "lk2")),
                                        os.rename(j(r, "lk2"), j(r, "lk3")),
                                        write(j(r, "lk3"), "+", "a"))),
        ("rename-link-of-lower", lambda r: (
            os.link(j(r, "etc/motd"), j(r, "motd.hl")),
            os.rename(j(r, "motd.hl"), j(r, "newdir/motd.hl2")),
            write(j(r, "newdir/motd.hl2"), "via link\n", "a"))),
    ]


# Where the two are meant to differ: kernel overlayfs lets users create
# ".wh." names (they are ordinary there); layerfs refuses them with EPERM
# because in an OCI layer such a name is a whiteout.
EXPECTED_ERRNO_DIFF = {"mkdir-reserved", "create-reserved",
                       "rename-to-reserved"}


class Differential(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        self.require_kernel_overlay()

    def kernel_mount(self, lower, upper=None, work=None, extra=""):
        mnt = self.mkdirs("kmnt%d" % len(self._lfs_cleanups))
        ovl.mount_overlay(mnt, lower, upper, work, extra)
        self.before_cleanup(lambda: ovl.umount(mnt))
        return mnt

    def assert_same_tree(self, a, b, what):
        sa = snapshot(a, xattrs=True)
        sb = snapshot(b, xattrs=True)
        if sa != sb:
            diff = []
            for k in sorted(set(sa) | set(sb)):
                if sa.get(k) != sb.get(k):
                    diff.append("%s:\n  layerfs: %s\n  kernel:  %s"
                                % (k, sa.get(k), sb.get(k)))
            self.fail("%s: trees differ\n%s" % (what, "\n".join(diff[:20])))

    def test_read_view_matches_kernel(self):
        layers = base_layers(self)
        k = self.kernel_mount(kernel_copies(self, layers))
        m = self.mount(layers)
        self.assert_same_tree(m.path, k, "read-only view")

    def run_sequence(self, opts, tag):
        layers = base_layers(self)
        kl = kernel_copies(self, layers)
        ku, kw = self.mkdirs(tag + "ku", tag + "kw")
        k = self.kernel_mount(kl, ku, kw)
        m = self.mount_rw(layers, opts=opts, name=tag)
        for name, fn in steps():
            results = []
            for root in (m.path, k):
                try:
                    fn(root)
                    results.append(0)
                except subprocess.CalledProcessError as e:
                    results.append(-e.returncode)
                except OSError as e:
                    results.append(e.errno)
            if name in EXPECTED_ERRNO_DIFF:
                self.assertEqual(results[0], errno.EPERM, name)
                # Keep the kernel's view comparable: drop what it made.
                for n in (".wh.forged", "merged/.wh.x", ".wh.sl"):
                    p = os.path.join(k, n)
                    if os.path.isdir(p):
                        os.rmdir(p)
                    elif os.path.lexists(p):
                        if n == ".wh.sl":
                            os.rename(p, os.path.join(k, "sl"))
                        else:
                            os.unlink(p)
            else:
                self.assertEqual(results[0], results[1],
                                 "%s: layerfs %s, kernel %s"
                                 % (name, results[0], results[1]))
            self.assert_same_tree(m.path, k, "after " + name)
        # Hard links: the remaining link keeps its data and count.
        self.assertEqual(os.stat(os.path.join(m.path, "hl2")).st_nlink,
                         os.stat(os.path.join(k, "hl2")).st_nlink)
        return m, k, layers, kl, ku

    def test_sequence_dotwh_upper(self):
        self.run_sequence((), "d")

    def test_sequence_overlay_upper(self):
        self.run_sequence(("whiteout=overlay",), "o")

    def test_uppers_equivalent_after_conversion(self):
        # Plain upper layers (no metacopy marks or redirects) so that each
        # implementation can read the other's.
        m, k, layers, kl, ku = self.run_sequence(
            ("metacopy=off", "redirect_dir=off", "index=off"), "p")
        lview = snapshot(m.path, xattrs=True)
        kview = snapshot(k, xattrs=True)
        m.unmount()
        self._mounts.remove(m)
        ovl.umount(k)

        # layerfs's upper, converted, read by the kernel.
        lup = self.path("lup-converted")
        ovl.copy_layer(m.upper, lup)
        strip_xattrs(lup, "user.layerfs.")
        ovl.to_overlay_format(lup)
        k2 = self.kernel_mount([lup] + kl)
        self.assertEqual(snapshot(k2, xattrs=True), lview,
                         "kernel reading layerfs's upper")

        # The kernel's upper, converted, read by layerfs.
        kup = self.path("kup-converted")
        ovl.copy_layer(ku, kup)
        ovl.to_dotwh_format(kup)
        m2 = self.mount([kup] + layers, mnt=self.path("m2"))
        self.assertEqual(snapshot(m2.path, xattrs=True), kview,
                         "layerfs reading the kernel's upper")


def strip_xattrs(root, prefix):
    for dirpath, dirnames, filenames in os.walk(root):
        for p in [dirpath] + [os.path.join(dirpath, n) for n in filenames]:
            if os.path.islink(p):
                continue
            try:
                for a in os.listxattr(p):
                    if a.startswith(prefix):
                        os.removexattr(p, a)
            except OSError:
                pass


if __name__ == "__main__":
    lfstest.main()

#!/usr/bin/env python3
"""layerrun and trees deeper than the descriptor limit, as root and
rootless: the --tmpfs copy of what the image holds at the target, and
commit of a container that went deep.  A container can go as deep as it
likes (lrpayload deep make: 3,000 levels, past PATH_MAX).  layerrun runs
with its open-files limit at lfstest.LOW_FD_LIMIT, which the container,
layerfs and layertool inherit; a walk holding a descriptor per level
failed with EMFILE a few hundred levels down.
"""

import os
import subprocess
import tarfile

import lfstest
from layerrun_case import LayerrunCase

DEPTH = 3000


class Deep:
    """Tests run by both the root and the rootless class."""

    def run_low(self, args):
        return self.lr.run(args, timeout=120,
                           preexec_fn=lfstest.low_fd_limit)

    def run_low_ok(self, args):
        r = self.run_low(args)
        if r.returncode != 0:
            self.fail("layerrun %s: exit %d: %s" % (
                " ".join(args), r.returncode, r.stderr.decode()[-2000:]))
        return r.stdout.decode()

    def deep_made(self, name, depth, *opts):
        """A container NAME (of the image, or of what opts say) that made
        a tree DEPTH deep in its /tmp."""
        self.holds_deep_trees()
        out = self.run_ok(["run", "--name", name] + list(opts) +
                          ([] if opts else [self.image]) +
                          ["/bin/lrpayload", "deep", "make", "/tmp",
                           str(depth)])
        self.assertEqual(out, "%d: made\n" % depth)

    def test_tmpfs_copies_a_deep_tree(self):
        top = self.deep_tree("top/deep", DEPTH, data="deep %d\n" % DEPTH)
        if self.user:
            subprocess.run(["chown", "-R", "%d:%d" % (self.uid, self.gid),
                            os.path.dirname(top)], check=True)
        lower = ":".join([os.path.dirname(top)] + self.image_layers())
        out = self.run_low_ok(["run", "--rm", "--lower", lower, "--tmpfs",
                               "/deep", "/bin/lrpayload", "deep", "read",
                               "/deep"])
        self.assertEqual(out, "%d: deep %d\n" % (DEPTH, DEPTH))

    def test_commit_of_a_deep_container(self):
        # The new image holds the tree, as deep as the image's layer store
        # takes (paths of up to PATH_MAX bytes).
        self.deep_made("deep", 1500)
        out_dir = os.path.join(self.user_dir("committed"), "img")
        self.run_low_ok(["commit", "deep", out_dir])
        out = self.run_ok(["run", "--rm", out_dir, "/bin/lrpayload", "deep",
                           "read", "/tmp"])
        self.assertEqual(out, "1500: deep 1500\n")
        # Deeper, the store refuses the layer, in one line.
        self.deep_made("deeper", DEPTH)
        r = self.run_low(["commit", "deeper",
                          os.path.join(self.user_dir("committed"), "img2")])
        err = r.stderr.decode()
        self.assertNotEqual(r.returncode, 0, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("longer than the limit", err)

    def test_commit_of_a_deep_container_to_a_layer_tarball(self):
        # A --lower container gives a tarball: no depth is too much.
        self.deep_made("deep", DEPTH, "--lower",
                       ":".join(self.image_layers()))
        out = os.path.join(self.user_dir("committed"), "layer.tar")
        self.run_low_ok(["commit", "deep", out])
        with tarfile.open(out) as t:
            leaf = t.extractfile("tmp/" + "d/" * DEPTH + "leaf").read()
        self.assertEqual(leaf, b"deep %d\n" % DEPTH)


class RootTests(Deep, LayerrunCase):
    ROOTLESS = False


class RootlessTests(Deep, LayerrunCase):
    ROOTLESS = True


if __name__ == "__main__":
    lfstest.main()

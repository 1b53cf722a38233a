"""layerfs on trees deeper than a worker thread's stack.

A lower layer is anyone's making, and so is a container's upper
directory: a tree may be tens of thousands of levels deep.  Whatever the
daemon does to one must not recurse once per level: a worker's stack
overflowing kills the daemon, and with it the mount.  The daemon runs
here with its stack limit at STACK_LIMIT, which the threads it starts
take as their stack size, so that a recursion gives out a few thousand
levels down, not fifty thousand (with the usual 8 MiB).
"""

import os
import resource
import subprocess

import lfstest

DEPTH = 8000
RM_DEPTH = 2000  # removal takes time in proportion to depth squared
STACK_LIMIT = 512 * 1024


class TestDeepLayerfs(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        self.require_root()

    def mount_small_stack(self, lower, opts):
        """mount_rw with the daemon's stack limit at STACK_LIMIT; a
        ThreadSanitizer build, whose every frame is larger, keeps its
        own."""
        if "tsan" in os.path.basename(lfstest.BUILD):
            return self.mount_rw(lower, opts=opts)
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        resource.setrlimit(resource.RLIMIT_STACK, (STACK_LIMIT, hard))
        try:
            return self.mount_rw(lower, opts=opts)
        finally:
            resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))

    def read_leaf(self, root, depth):
        fd = lfstest.walk_down(root, depth)
        try:
            leaf = os.open("leaf", os.O_RDONLY, dir_fd=fd)
            try:
                return os.read(leaf, 100)
            finally:
                os.close(leaf)
        finally:
            os.close(fd)

    def test_rename_of_a_deep_lower_directory_without_redirects(self):
        """With redirect_dir=off a lower directory is renamed by copying
        its whole tree up.  That copy recursed once per level: at 50,000
        levels (8,000 here) the daemon died of a stack overflow, and the
        rename failed with ECONNABORTED on a dead mount."""
        low = self.path("low")
        lfstest.make_deep_tree(os.path.join(low, "top"), DEPTH)
        self.holds_deep_trees()
        m = self.mount_small_stack([low], ("redirect_dir=off",))
        os.rename(os.path.join(m.path, "top"), os.path.join(m.path, "top2"))
        self.assertEqual(sorted(os.listdir(m.path)), ["top2"])
        self.assertEqual(self.read_leaf(os.path.join(m.path, "top2"), DEPTH),
                         b"deep\n")
        self.assertEqual(m.unmount(), 0)
        # The whole tree is in the upper layer, the lower one untouched.
        self.assertEqual(self.read_leaf(os.path.join(m.upper, "top2"), DEPTH),
                         b"deep\n")
        self.assertEqual(self.read_leaf(os.path.join(low, "top"), DEPTH),
                         b"deep\n")
        again = self.mount(
            [low], m.upper, m.work, ("redirect_dir=off",),
            mnt=self.path("again"))
        self.assertEqual(sorted(os.listdir(again.path)), ["top2"])
        self.assertEqual(
            self.read_leaf(os.path.join(again.path, "top2"), DEPTH),
            b"deep\n")

    def test_removal_of_a_deep_tree(self):
        """rm -rf of a deep tree made through the mount, with the small
        stack: every directory goes, the lower layer's names stay."""
        low = self.layer("low-rm", {"top/keep": "k\n"})
        m = self.mount_small_stack([low], ())
        self.holds_deep_trees()
        lfstest.make_deep_tree(os.path.join(m.path, "top", "x"), RM_DEPTH)
        r = subprocess.run(["rm", "-rf", os.path.join(m.path, "top", "x")],
                           capture_output=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-500:])
        self.assertEqual(os.listdir(os.path.join(m.path, "top")), ["keep"])
        self.assertEqual(m.unmount(), 0)
        self.assertEqual(os.listdir(os.path.join(m.upper, "top")), [])


if __name__ == "__main__":
    lfstest.main()

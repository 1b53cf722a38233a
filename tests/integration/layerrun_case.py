"""The base class of the layerrun tests: a busybox image and a launcher,
as root (RootCase) or as an unprivileged user (RootlessCase).

Each test gets a fresh image directory and state directory under its
scratch directory; whatever containers it leaves are removed (killed
first) in tearDown, before the scratch directory goes.
"""

import os
import subprocess

import layerrun_util as lu
import lfstest


class LayerrunCase(lfstest.LayerfsTestCase):
    """Subclasses set ROOTLESS."""

    ROOTLESS = False

    def setUp(self):
        super().setUp()
        for prog in (lu.LAYERRUN, lu.LAYERTOOL, lu.PAYLOAD):
            if not os.path.exists(prog):
                self.fail("%s is missing: run make first" % prog)
        self.busybox = lu.find_busybox()
        if not self.busybox:
            self.skipTest("needs busybox-static (make deps)")
        self.user = None
        self.uid = os.geteuid()
        self.gid = os.getegid()
        if self.ROOTLESS and lfstest.is_root():
            if not lfstest.have_tool("runuser"):
                self.skipTest("needs runuser (util-linux)")
            ids, why = lu.ensure_test_user()
            if ids is None:
                self.skipTest(why)
            self.user = lu.TEST_USER
            self.uid, self.gid = ids
            fuse = lu.fuse_open_to_all()
            fuse.__enter__()
            self.addCleanup(fuse.__exit__, None, None, None)
        elif not self.ROOTLESS and not lfstest.is_root():
            self.skipTest("needs root (the rootless class runs as you)")
        elif self.ROOTLESS and not os.access("/dev/fuse", os.R_OK | os.W_OK):
            self.skipTest("/dev/fuse is not accessible to this user")
        state = self.path("state")
        os.makedirs(state, mode=0o700)
        os.chown(state, self.uid, self.gid)
        self.lr = lu.Launcher(state, self.user)
        self.before_cleanup(self.lr.remove_all)
        self.image = self.import_image("img")

    def user_dir(self, name):
        """A directory of the test's user in the scratch directory."""
        p = self.path(name)
        os.makedirs(p, exist_ok=True)
        os.chown(p, self.uid, self.gid)
        return p

    def import_image(self, name, extra=None):
        """The busybox image imported into the scratch directory, by the
        test's user (so a rootless import keeps owners in xattrs)."""
        work = self.user_dir(name + "-src")
        tar = lu.make_rootfs_tar(work, self.busybox, extra)
        os.chown(tar, self.uid, self.gid)
        dest = os.path.join(self.user_dir(name + "-images"), name)
        r = subprocess.run(self.lr.as_user([lu.LAYERTOOL, "import", tar,
                                            dest]),
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            self.fail("layertool import failed: %s" % r.stderr.decode())
        return dest

    def image_layers(self):
        import layertool_util
        return layertool_util.image_layers(self.image)

    def run_ok(self, args, timeout=60, **kw):
        """layerrun ARGS, which must succeed; its stdout as text."""
        r = self.lr.run(args, timeout=timeout, **kw)
        if r.returncode != 0:
            self.fail("layerrun %s: exit %d: %s" % (
                " ".join(args), r.returncode, r.stderr.decode().strip()))
        return r.stdout.decode()

    def sh(self, script, *opts, name=None):
        """Runs `sh -c SCRIPT` in a new container of the image (removed
        again unless NAME is given); (status, stdout, stderr)."""
        args = ["run"] + list(opts)
        args += ["--name", name] if name else ["--rm"]
        args += [self.image, "/bin/sh", "-c", script]
        r = self.lr.run(args)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def sh_ok(self, script, *opts, name=None):
        rc, out, err = self.sh(script, *opts, name=name)
        if rc != 0:
            self.fail("container sh -c %r: exit %d: %s" % (script, rc, err))
        return out

    def detach(self, name, *cmd, opts=()):
        """Starts a detached container; waits until its init runs."""
        out = self.run_ok(["run", "-d", "--name", name] + list(opts) +
                          [self.image] + list(cmd))
        self.assertEqual(out.strip(), name)
        return self.lr.state_pids(name)

    def container_dir(self, name, *parts):
        return os.path.join(self.lr.root_dir, name, *parts)

"""The command line: the forms that must mount, daemon mode, and every
kind of bad input refused with one line, a non-zero status, nothing
mounted and no daemon left behind."""

import errno
import os
import shutil
import subprocess
import time

import lfstest
from lfstest import LAYERFS, LayerfsTestCase, mounted_fstype


def layerfs_daemons(mnt):
    """pids of running layerfs processes serving mountpoint `mnt` (other
    mounts on the machine come and go by themselves)."""
    out = subprocess.run(["pgrep", "-x", "layerfs"], capture_output=True,
                         text=True).stdout
    pids = set()
    for p in out.split():
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if os.fsencode(mnt) in args:
            pids.add(int(p))
    return pids


class CommandLine(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        self.low = self.layer("low", {"f": "data", "d/g": "g"})
        self.mnt = self.mkdirs("mnt")

    def run_layerfs(self, *args, timeout=20):
        return subprocess.run([LAYERFS] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def unmount(self, path):
        subprocess.run(["fusermount3", "-u", path], capture_output=True,
                       timeout=20)

    def test_help_and_version(self):
        r = self.run_layerfs("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("lowerdir=", "upperdir=", "workdir=", "initdir=",
                     "whiteout=", "metacopy=", "redirect_dir=", "index=",
                     "fsync=", "volatile", "stats=", "uidmapping=",
                     "squash_to_uid=", "xattr_permissions=", "timeout=",
                     "threads=", "spin_us=", "static_nlink", "noacl", "Exit status"):
            self.assertIn(word, r.stdout)
        r = self.run_layerfs("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^layerfs \d+\.\d+")

    def test_daemon_mode_returns_ready_and_detached(self):
        before = layerfs_daemons(self.mnt)
        # Through a pipe: if the daemon kept stdout or stderr, `cat` would
        # wait for it forever and the timeout would fire.
        r = subprocess.run("%s -o lowerdir=%s %s 2>&1 | cat"
                           % (LAYERFS, self.low, self.mnt), shell=True,
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout)
        # Ready when the command returns: no polling needed.
        self.assertEqual(mounted_fstype(self.mnt), "fuse.layerfs")
        self.assertEqual(open(os.path.join(self.mnt, "f")).read(), "data")
        new = layerfs_daemons(self.mnt) - before
        self.assertEqual(len(new), 1)
        pid = new.pop()
        with open("/proc/%d/status" % pid) as f:
            ppid = [l for l in f if l.startswith("PPid:")][0].split()[1]
        fds = os.listdir("/proc/%d/fd" % pid)
        for fd in ("0", "1", "2"):
            self.assertEqual(os.readlink("/proc/%d/fd/%s" % (pid, fd)),
                             "/dev/null")
        self.unmount(self.mnt)
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists("/proc/%d" % pid):
            time.sleep(0.05)
        self.assertFalse(os.path.exists("/proc/%d" % pid),
                         "daemon did not exit after unmount")
        self.assertIsNotNone(ppid)
        self.assertIsNotNone(fds)

    def test_ready_fd_keeps_the_daemon_and_says_when_mounted(self):
        r, w = os.pipe()
        err = open(self.path("err"), "w+")
        p = subprocess.Popen([LAYERFS, "-o", "lowerdir=%s,ready_fd=%d"
                              % (self.low, w), self.mnt], pass_fds=[w],
                             stdout=subprocess.DEVNULL, stderr=err)
        os.close(w)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        with os.fdopen(r, "rb") as ready:
            self.assertEqual(ready.read(1), b"1")
        # The process started is the daemon: mounted, still running, in a
        # session of its own, with its standard descriptors detached.
        self.assertEqual(mounted_fstype(self.mnt), "fuse.layerfs")
        self.assertEqual(open(os.path.join(self.mnt, "f")).read(), "data")
        self.assertIsNone(p.poll())
        self.assertEqual(os.getsid(p.pid), p.pid)
        for fd in ("0", "1", "2"):
            self.assertEqual(os.readlink("/proc/%d/fd/%s" % (p.pid, fd)),
                             "/dev/null")
        self.unmount(self.mnt)
        self.assertEqual(p.wait(timeout=20), 0)
        # A failure before the mount closes the pipe without the byte,
        # after one line on stderr.
        r, w = os.pipe()
        p = subprocess.Popen([LAYERFS, "-o", "lowerdir=%s,ready_fd=%d"
                              % (self.low, w), self.path("no-such-dir")],
                             pass_fds=[w], stderr=subprocess.PIPE, text=True)
        os.close(w)
        with os.fdopen(r, "rb") as ready:
            self.assertEqual(ready.read(1), b"")
        self.assertNotEqual(p.wait(timeout=20), 0)
        self.assertIn("mountpoint", p.stderr.read())
        p.stderr.close()
        err.close()
        r = self.run_layerfs("-o", "lowerdir=%s,ready_fd=99" % self.low,
                             self.mnt)
        self.assertEqual(r.returncode, 1)
        self.assertIn("ready_fd=99 is not an open descriptor", r.stderr)

    def check_mounted_by_helper(self, r, source):
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            self.assertEqual(mounted_fstype(self.mnt), "fuse.layerfs")
            self.assertEqual(open(os.path.join(self.mnt, "d/g")).read(), "g")
            with open("/proc/self/mountinfo") as f:
                line = [l for l in f if l.split()[4] == self.mnt][0]
            self.assertIn(source, line)  # SOURCE becomes the fsname
        finally:
            subprocess.run(["umount", self.mnt], capture_output=True)

    def test_mount_t_fuse_program_hash_source(self):
        # mount(8) -> mount.fuse3 -> "PROGRAM SOURCE MOUNTPOINT -o OPTS"
        self.require_root()
        if not os.path.exists("/sbin/mount.fuse3"):
            self.skipTest("mount.fuse3 is missing")
        r = subprocess.run(["mount", "-t", "fuse", LAYERFS + "#layerfs-demo",
                            self.mnt, "-o", "lowerdir=" + self.low],
                           capture_output=True, text=True, timeout=20)
        self.check_mounted_by_helper(r, "layerfs-demo")

    def test_mount_fuse3_with_subtype(self):
        # What `mount -t fuse.layerfs SRC MNT -o ...` and an fstab line
        # run once layerfs is installed in PATH.
        self.require_root()
        if not os.path.exists("/sbin/mount.fuse3"):
            self.skipTest("mount.fuse3 is missing")
        bindir = self.mkdirs("bin")
        os.symlink(LAYERFS, os.path.join(bindir, "layerfs"))
        env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"])
        r = subprocess.run(["/sbin/mount.fuse3", "fstab-src", self.mnt,
                            "-t", "fuse.layerfs", "-o",
                            "rw,nodev,lowerdir=" + self.low],
                           capture_output=True, text=True, env=env,
                           timeout=20)
        self.check_mounted_by_helper(r, "fstab-src")

    def test_fstab_style_source_and_options_after(self):
        # What mount.fuse3 runs: layerfs SOURCE MOUNTPOINT -o OPTS
        r = self.run_layerfs("src", self.mnt, "-o",
                             "rw,nodev,nosuid,lowerdir=" + self.low)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(mounted_fstype(self.mnt), "fuse.layerfs")
        self.unmount(self.mnt)

    def mount_options_of(self, path):
        """The per-mount and superblock options of the mount at path."""
        path = os.path.realpath(path)
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                if parts[4].encode().decode("unicode_escape") == path:
                    sep = parts.index("-")
                    return (set(parts[5].split(",")),
                            set(parts[sep + 3].split(",")))
        return None

    def test_every_documented_kernel_option_mounts(self):
        # Each option of the man page's "Passed to the kernel" list must
        # give a working mount (fstab lines carry them), and the ones
        # that change the mount must show on it.  max_read once made
        # the kernel's INIT fail after the daemon had said it was
        # mounted (status 0, nothing there); the access-time ones but
        # noatime were refused by libfuse.
        cases = [
            ("nosuid", {"nosuid"}, set()),
            ("noexec", {"noexec"}, set()),
            ("sync", set(), {"sync"}),
            ("dirsync", set(), {"dirsync"}),
            ("async", set(), set()),
            ("suid,dev,exec", set(), set()),
            ("allow_root", set(), set()),
            ("default_permissions", set(), {"default_permissions"}),
            ("auto_unmount", set(), set()),
            ("fsname=myname,subtype=mine", set(), set()),
            ("max_read=65536", set(), {"max_read=65536"}),
            ("atime", {"relatime"}, set()),
            ("relatime", {"relatime"}, set()),
            ("norelatime", {"relatime"}, set()),
            ("nostrictatime", {"relatime"}, set()),
            ("noatime", {"noatime"}, set()),
            ("strictatime", set(), set()),
            ("noatime,strictatime", set(), set()),
            ("strictatime,noatime", {"noatime"}, set()),
            ("diratime", set(), set()),
            ("nodiratime", {"nodiratime"}, set()),
            ("lazytime,nolazytime", set(), set()),
        ]
        # As root: through fusermount3, allow_root needs user_allow_other
        # and the mount cannot be changed after (a warning, relatime).
        self.require_root()
        for opts, per_mount, per_sb in cases:
            with self.subTest(opts=opts):
                r = self.run_layerfs("-o", "lowerdir=%s,%s" % (self.low,
                                                              opts),
                                     self.mnt)
                try:
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stderr, "")
                    self.assertEqual(mounted_fstype(self.mnt),
                                     "fuse.mine" if "subtype=" in opts
                                     else "fuse.layerfs")
                    with open(os.path.join(self.mnt, "f")) as f:
                        self.assertEqual(f.read(), "data")
                    mnt_opts, sb_opts = self.mount_options_of(self.mnt)
                    self.assertLessEqual(per_mount, mnt_opts)
                    self.assertLessEqual(per_sb, sb_opts)
                    atime = {"noatime", "relatime"} & mnt_opts
                    if opts.split(",")[-1] == "strictatime":
                        self.assertEqual(atime, set())
                finally:
                    self.unmount(self.mnt)
        # blksize= is for block-device FUSE mounts only: refused here,
        # before anything is mounted, as is a max_read of nothing.
        self.assert_refused(["-o", "lowerdir=%s,blksize=4096" % self.low,
                             self.mnt], 1, "unknown option 'blksize=4096'")
        self.assert_refused(["-o", "lowerdir=%s,max_read=0" % self.low,
                             self.mnt], 1, "max_read")

    def assert_refused(self, args, status, *words):
        before = layerfs_daemons(self.mnt)
        r = self.run_layerfs(*args)
        self.assertEqual(r.returncode, status, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("layerfs: "), lines[0])
        for w in words:
            self.assertIn(w, lines[0])
        self.assertIsNone(mounted_fstype(self.mnt))
        self.assertEqual(layerfs_daemons(self.mnt) - before, set())

    def test_bad_input(self):
        missing = self.path("missing")
        self.assert_refused(["-o", "lowerdir=" + missing, self.mnt], 2,
                            missing, "No such file or directory")
        afile = self.path("afile")
        open(afile, "w").close()
        self.assert_refused(["-o", "lowerdir=" + afile, self.mnt], 2,
                            afile, "not a directory")
        self.assert_refused(["-o", "lowerdir=", self.mnt], 1, "empty")
        self.assert_refused(["-o", "lowerdir=%s,frobnicate=1" % self.low,
                             self.mnt], 1, "unknown option 'frobnicate=1'")
        self.assert_refused(["-o", "lowerdir=" + self.low,
                             self.path("nomnt")], 2, "mountpoint",
                            "No such file or directory")
        self.assert_refused(["-o", "lowerdir=" + self.low, self.low], 2,
                            "itself the", self.low)
        inner = os.path.join(self.low, "d")
        self.assert_refused(["-o", "lowerdir=" + self.low, inner], 2,
                            "inside the", self.low)
        up, wk = self.mkdirs("up", "wk")
        self.assert_refused(["-o", "lowerdir=%s,upperdir=%s" % (self.low, up),
                             self.mnt], 1, "workdir")
        self.assert_refused(["-o", "lowerdir=%s,upperdir=%s,workdir=%s"
                             % (self.low, up, os.path.join(up, "w")),
                             self.mnt], 2, "workdir")
        self.assert_refused(["-o", "lowerdir=%s,upperdir=%s,workdir=%s"
                             % (self.low, self.low, wk), self.mnt], 2,
                            "also a lower layer")
        self.assert_refused(["-o", "lowerdir=%s,whiteout=zip" % self.low,
                             self.mnt], 1, "whiteout=")
        self.assert_refused(["--bogus", self.mnt], 1, "--bogus")

    def test_timeout_not_a_number_refused(self):
        # NaN fails every comparison: timeout=nan passed a range check
        # written as `t < 0 || t > 1e10` and turned udba=reval's checks
        # off for good (a listing was never due).
        for bad in ("nan", "NaN", "-nan", "inf", "-1", "1e11", ""):
            self.assert_refused(["-o", "lowerdir=%s,udba=reval,timeout=%s"
                                 % (self.low, bad), self.mnt], 1,
                                "timeout= needs a number of seconds")

    def test_spin_us_out_of_range_refused(self):
        for bad in ("", "x", "-1", "1001", "20us"):
            self.assert_refused(["-o", "lowerdir=%s,spin_us=%s"
                                 % (self.low, bad), self.mnt], 1,
                                "spin_us= needs a number of microseconds")

    def test_metacopy_on_with_udba_reval_refused(self):
        # udba=reval copies data at every copy-up (a metadata-only copy
        # would read a lower file that changes); metacopy=on asked for
        # by name cannot be honoured, in either order.
        for opts in ("udba=reval,metacopy=on", "metacopy=on,udba=reval",
                     "metacopy,udba=reval"):
            self.assert_refused(["-o", "lowerdir=%s,%s" % (self.low, opts),
                                 self.mnt], 1, "metacopy=on", "udba=reval")
        # The default, and metacopy=off, mount.
        up, wk = self.mkdirs("up", "wk")
        for opts in ("udba=reval", "udba=reval,metacopy=off",
                     "metacopy=on,metacopy=off,udba=reval"):
            m = self.mount([self.low], up, wk, opts=opts.split(","))
            self.assertEqual(open(os.path.join(m.path, "f")).read(), "data")
            m.unmount()

    def test_unreadable_lowerdir(self):
        if lfstest.is_root():
            # root reads anything: test as an unprivileged user.
            if not shutil.which("setpriv"):
                self.skipTest("needs setpriv")
            secret = self.layer("secret", {"x": "y"})
            os.chmod(secret, 0o700)
            mnt = self.mkdirs("umnt")
            os.chmod(mnt, 0o777)
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                "--clear-groups", LAYERFS, "-o",
                                "lowerdir=" + secret, mnt],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("Permission denied", r.stderr)
            self.assertIn(secret, r.stderr)
            self.assertIsNone(mounted_fstype(mnt))
        else:
            self.skipTest("runs as root, to make a directory unreadable "
                          "to another user")

    def test_root_that_cannot_act_as_its_callers_refuses(self):
        """A root daemon acts as each caller of the mount (setfsuid),
        which needs CAP_SETPCAP to keep its capabilities across; without
        it every file another user made was root's, set-user-id bits
        and all (found by review).  It refuses to mount then, with one
        line; a read-only mount, which makes no file, still mounts."""
        if not lfstest.is_root() or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv")
        up, wk = self.mkdirs("up-nopcap", "wk-nopcap")
        r = subprocess.run(["setpriv", "--bounding-set", "-setpcap",
                            "--inh-caps", "-setpcap", LAYERFS, "-o",
                            "lowerdir=%s,upperdir=%s,workdir=%s"
                            % (self.low, up, wk), self.mnt],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("CAP_SETPCAP", r.stderr)
        self.assertIsNone(mounted_fstype(self.mnt))
        r = subprocess.run(["setpriv", "--bounding-set", "-setpcap",
                            "--inh-caps", "-setpcap", LAYERFS, "-o",
                            "lowerdir=" + self.low, self.mnt],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.unmount(self.mnt)

    def test_workdir_in_use(self):
        up, wk = self.mkdirs("up2", "wk2")
        self.mount([self.low], up, wk)
        self.assert_refused(["-o", "lowerdir=%s,upperdir=%s,workdir=%s"
                             % (self.low, up, wk), self.mnt], 2, "in use")

    def test_mount_right_after_an_unmount(self):
        # umount returns before the daemon has exited, and its daemon
        # holds the workdir's lock until then: a mount made at once
        # waits for it rather than fail (it did, from a script looping
        # over umount and mount, one time in a few).
        self.require_root()
        up, wk = self.mkdirs("up3", "wk3")
        opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (self.low, up, wk)
        try:
            for i in range(20):
                r = self.run_layerfs("-o", opts, self.mnt)
                self.assertEqual(r.returncode, 0, (i, r.stderr))
                u = subprocess.run(["umount", self.mnt], capture_output=True,
                                   timeout=20)
                self.assertEqual(u.returncode, 0, u.stderr)
        finally:
            lfstest.force_unmount(self.mnt)

    def test_mount_over_a_mount_whose_daemon_was_killed(self):
        # A killed daemon leaves its mount answering ENOTCONN: a new
        # mount there says what it is and what to do, in one line, and
        # once it is unmounted the same layers mount again, the upper
        # layer's writes all there.  Where the fuse module serves FUSE
        # over io_uring (enable_uring=Y, which some kernels boot with),
        # the kernel closes the daemon's rings a moment after it is
        # gone: a request in that moment is ended ECONNABORTED, and the
        # new mount has to say the same of it.
        up, wk = self.mkdirs("up4", "wk4")
        m = self.mount([self.low], up, wk)
        self.addCleanup(lfstest.force_unmount, m.path)
        with open(os.path.join(m.path, "new"), "w") as f:
            f.write("kept")
        # The kernel keeps the root's attributes from here on, and
        # answers a stat of the mountpoint from them even once the
        # daemon is gone (the new mount used to go over the dead one).
        os.stat(m.path)
        m.proc.kill()
        m.proc.wait(timeout=20)
        opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (self.low, up, wk)
        r = self.run_layerfs("-o", opts, m.path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            "layerfs: mountpoint '%s' is a FUSE mount whose daemon has "
            "ended: unmount it first (fusermount3 -u)" % m.path])
        self.assertIn(lfstest.errno_of(os.statvfs, m.path),
                      (errno.ENOTCONN, errno.ECONNABORTED))
        self.unmount(m.path)
        r = self.run_layerfs("-o", opts, m.path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(m.path, "new")) as f:
            self.assertEqual(f.read(), "kept")
        self.unmount(m.path)

    def test_sigterm_unmounts_cleanly(self):
        m = self.mount([self.low])
        os.kill(m.pid, 15)
        m.proc.wait(timeout=10)
        self.assertEqual(m.proc.returncode, 0)
        self.assertIsNone(mounted_fstype(m.path))

    def test_error_trace_names_each_error_the_daemon_answers(self):
        # LFS_TRACE_ERRORS=1: one line per error reply, routine answers
        # left out, at most 256 lines so that an unread stderr pipe
        # never blocks the daemon.
        self.require_root()  # CAP_MKNOD for the refused mknod
        m = self.mount_rw([self.low],
                          env=dict(os.environ, LFS_TRACE_ERRORS="1"))
        self.assertFalse(os.path.exists(os.path.join(m.path, "absent")))
        with self.assertRaises(OSError) as e:
            os.getxattr(os.path.join(m.path, "f"), "user.absent")
        self.assertEqual(e.exception.errno, errno.ENODATA)
        for i in range(300):
            lfstest.daemon_refuses_a_request(m.path, "c%d" % i)
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        lines = m.stderr().splitlines()
        self.assertEqual(len(lines), 257, lines[:3])
        want = (r"^layerfs: MKNOD of node 1 for pid %d answered EPERM "
                r"\(Operation not permitted\)$" % os.getpid())
        for line in lines[:256]:
            self.assertRegex(line, want)
        self.assertEqual(lines[256], "layerfs: more error replies, not traced")

    def test_error_trace_off_writes_nothing(self):
        self.require_root()
        m = self.mount_rw([self.low],
                          env=dict(os.environ, LFS_TRACE_ERRORS="0"))
        lfstest.daemon_refuses_a_request(m.path, "c")
        self.assertEqual(m.unmount(), 0)
        self._mounts.remove(m)
        self.assertEqual(m.stderr(), "")


if __name__ == "__main__":
    lfstest.main()

"""layerfs as podman's overlay mount_program (containers/storage), for
real: root and rootless, images built with whiteouts, containers that
write and delete, diff, commit, mount; and a storage populated by
fuse-overlayfs switched to layerfs.

Podman runs with a private storage, runroot and configuration (through
CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF),
offline, from a busybox-static rootfs imported with `podman import`.
runc is the runtime (Debian 12's crun refuses a cgroup v1 hybrid host),
cgroupfs the cgroup manager, events go to a file, and the default
ulimits stay under the hard limits an unprivileged root may raise to.
"""

import errno
import os
import pwd
import resource
import shutil
import signal
import subprocess
import tarfile
import tempfile

import layerrun_util as lru
import lfstest
import rootless_ns
from lfstest import LAYERFS, LayerfsTestCase

PODMAN_PACKAGES = ["podman", "runc", "uidmap", "fuse-overlayfs"]
# The unprivileged user for the rootless runs: needs /etc/subuid and
# /etc/subgid ranges.  LFS_PODMAN_USER names another one.
ROOTLESS_USER = os.environ.get("LFS_PODMAN_USER", "lrtest")
# What a podman run can leave behind, ended by pid at cleanup when its
# command line names the test's directory.
LEFTOVER_PROGRAMS = {"layerfs", "fuse-overlayfs", "conmon", "podman"}
BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "rm", "mkdir", "touch",
                   "stat", "id", "true", "test", "sleep", "tail", "chown",
                   "chmod", "find", "sort"]

# Layers with the three kinds of change: added, changed and deleted files
# and a deleted directory, so the image's layers carry whiteouts.
CONTAINERFILE = """\
FROM localhost/lfbase
RUN mkdir -p /data/sub /data/gone && echo one > /data/a && \\
    echo two > /data/b && echo keep > /data/sub/k && echo x > /data/gone/x
RUN rm /data/b && echo changed > /data/a && rm -r /data/sub && \\
    mkdir /data/sub && echo new > /data/sub/n && rm -r /data/gone && \\
    chown 7:8 /data/a && chmod 640 /data/a
"""

# What every container of the built image sees.
BUILT_VIEW_CMD = ("cat /data/a /data/sub/n; ls /data /data/sub; "
                  "stat -c '%u:%g %a' /data/a; "
                  "test ! -e /data/b && test ! -e /data/gone && "
                  "test ! -e /data/sub/k && echo hidden || echo visible")
BUILT_VIEW = "changed\nnew\n/data:\na\nsub\n\n/data/sub:\nn\n7:8 640\nhidden\n"

# The container that changes its root: runs once (a marker file), then
# only reports, so `podman start -a` shows the state its upper holds.
CHANGE_CMD = ("test -e /marker || { echo w > /data/new; rm /data/a; "
              "rm /bin/true; echo app >> /etc/passwd; rm -r /data/sub; "
              "mkdir /data/sub; echo z > /data/sub/z; mkdir /data/d2; "
              "chown 5:6 /data/d2; touch /marker; }; "
              "ls /data /data/sub; cat /data/new; tail -n 1 /etc/passwd; "
              "stat -c '%u:%g' /data/d2; "
              "test ! -e /bin/true && test ! -e /data/a && echo gone || "
              "echo present")
CHANGED_VIEW = ("/data:\nd2\nnew\nsub\n\n/data/sub:\nz\nw\napp\n5:6\n"
                "gone\n")
CHANGED_DIFF = {"A /data/new", "D /data/a", "D /bin/true", "C /etc/passwd",
                "A /data/d2", "A /data/sub/z", "A /marker"}


def package_installed(name):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                       capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


_install_error = None


def ensure_podman():
    """Installs podman (and runc, uidmap, fuse-overlayfs) from Debian when
    missing and running as root.  Returns None, or why podman cannot
    be used."""
    global _install_error
    missing = [p for p in PODMAN_PACKAGES if not package_installed(p)]
    if not missing:
        return None
    if _install_error is not None:
        return _install_error
    if not lfstest.is_root():
        _install_error = ("podman is not installed (as root: apt-get "
                          "install %s)" % " ".join(missing))
        return _install_error
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                           timeout=300)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True,
                           env=env, timeout=300)
            r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                               timeout=300)
    except subprocess.TimeoutExpired:
        _install_error = "installing podman timed out"
        return _install_error
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        _install_error = "cannot install podman: %s" % (
            lines[-1] if lines else "apt-get failed")
        return _install_error
    return None


def has_subid_range(user, path):
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] in (
                        user.pw_name, str(user.pw_uid)) and \
                        int(fields[2]) >= 65536:
                    return True
    except (OSError, ValueError):
        pass
    return False


def busybox_rootfs_tar(tmp, busybox):
    """A minimal busybox-static root filesystem as a tar archive."""
    root = os.path.join(tmp, "rootfs")
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(busybox, os.path.join(root, "bin", "busybox"))
    os.chmod(os.path.join(root, "bin", "busybox"), 0o755)
    for a in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")
    tar = os.path.join(tmp, "rootfs.tar")
    with tarfile.open(tar, "w") as t:
        for name in sorted(os.listdir(root)):
            t.add(os.path.join(root, name), arcname=name)
    shutil.rmtree(root)
    return tar


class PodmanEnv:
    """One private podman installation: storage, runroot, configuration,
    run as root or as an unprivileged user."""

    def __init__(self, base, user=None, single_id=False):
        self.base = base
        self.user = user  # a pwd entry, or None for root
        # A user without subuid ranges: podman maps only the user's id.
        self.single_id = single_id
        os.makedirs(base)
        self.storage = os.path.join(base, "storage")
        self.runroot = os.path.join(base, "run")
        self.xdg = os.path.join(base, "xdg")
        # Private too: podman's temporary state and network definitions,
        # which `system reset` would otherwise clear machine-wide.
        for d in (self.storage, self.runroot, self.xdg,
                  os.path.join(base, "tmp"), os.path.join(base, "net")):
            os.makedirs(d, mode=0o700)
        hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]

        def low(hard):
            return 1024 if hard == resource.RLIM_INFINITY else min(1024, hard)
        with open(os.path.join(base, "containers.conf"), "w") as f:
            f.write('[containers]\nnetns = "none"\n'
                    'default_ulimits = ["nofile=%d:%d", "nproc=%d:%d"]\n'
                    '[engine]\nruntime = "runc"\n'
                    'cgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n'
                    'tmp_dir = "%s"\n'
                    '[network]\nnetwork_config_dir = "%s"\n'
                    % (low(hard_nofile), low(hard_nofile),
                       low(hard_nproc), low(hard_nproc),
                       os.path.join(base, "tmp"), os.path.join(base, "net")))
        with open(os.path.join(base, "registries.conf"), "w") as f:
            f.write("unqualified-search-registries = []\n")
        self.set_mount_program(LAYERFS)
        if user:
            for dirpath, dirnames, filenames in os.walk(base):
                for n in [dirpath] + [os.path.join(dirpath, x)
                                      for x in filenames]:
                    os.chown(n, user.pw_uid, user.pw_gid)

    def set_mount_program(self, program):
        # rootless_storage_path: the graph root of a rootless podman.
        path = os.path.join(self.base, "storage.conf")
        with open(path, "w") as f:
            f.write('[storage]\ndriver = "overlay"\n'
                    'graphroot = "%s"\nrunroot = "%s"\n'
                    'rootless_storage_path = "%s"\n'
                    '[storage.options.overlay]\nmount_program = "%s"\n'
                    % (self.storage, self.runroot, self.storage, program))
            if self.single_id:
                f.write('ignore_chown_errors = "true"\n')
        if self.user:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def env(self):
        e = dict(os.environ,
                 CONTAINERS_CONF=os.path.join(self.base, "containers.conf"),
                 CONTAINERS_STORAGE_CONF=os.path.join(self.base,
                                                      "storage.conf"),
                 CONTAINERS_REGISTRIES_CONF=os.path.join(self.base,
                                                         "registries.conf"),
                 HOME=self.base, XDG_RUNTIME_DIR=self.xdg,
                 TMPDIR=self.base)
        if self.user:
            e["USER"] = e["LOGNAME"] = self.user.pw_name
        e.pop("XDG_CONFIG_HOME", None)
        e.pop("XDG_DATA_HOME", None)
        return e

    def command(self, args):
        cmd = ["podman"] + list(args)
        if self.user:
            cmd = ["setpriv", "--reuid=%d" % self.user.pw_uid,
                   "--regid=%d" % self.user.pw_gid, "--init-groups"] + cmd
        return cmd

    def run(self, *args, timeout=120):
        return subprocess.run(self.command(args), capture_output=True,
                              text=True, env=self.env(), cwd=self.base,
                              timeout=timeout)

    def shell(self, script, timeout=60):
        """A host command in podman's mount namespace (rootless: inside
        `podman unshare`, where its FUSE mounts live)."""
        if self.user:
            return self.run("unshare", "sh", "-c", script, timeout=timeout)
        return subprocess.run(["sh", "-c", script], capture_output=True,
                              text=True, env=self.env(), timeout=timeout)

    def pause_pid(self):
        for d in (os.path.join(self.base, "tmp"),
                  os.path.join(self.xdg, "libpod", "tmp")):
            try:
                with open(os.path.join(d, "pause.pid")) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                continue
        return None

    def cleanup(self):
        """Removes containers, images and mounts, then ends what this
        installation left running: the rootless pause process and any
        layerfs, fuse-overlayfs or conmon serving its storage."""
        try:
            self.run("system", "reset", "-f", timeout=120)
        except subprocess.TimeoutExpired:
            pass
        pid = self.pause_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                with open("/proc/%s/comm" % p) as f:
                    comm = f.read().strip()
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if comm in LEFTOVER_PROGRAMS and self.base.encode() in cmdline:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass


class PodmanTestCase(LayerfsTestCase):
    def setUp(self):
        super().setUp()
        if not lfstest.is_root():
            self.skipTest("needs root (to install podman and to run it "
                          "as root and as an unprivileged user)")
        why = ensure_podman()
        if why:
            self.skipTest(why)
        self.require_tool("setpriv", "findmnt")
        busybox = shutil.which("busybox")
        if not busybox:
            self.skipTest("needs busybox-static")
        self.tar = busybox_rootfs_tar(self.tmp, busybox)
        os.chmod(self.tar, 0o644)

    def rootless_user(self, single_id=False):
        name = "nobody" if single_id else ROOTLESS_USER
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            self.skipTest("needs an unprivileged user %s with subuid and "
                          "subgid ranges (LFS_PODMAN_USER names another)"
                          % name)
        for path in ("/etc/subuid", "/etc/subgid"):
            if has_subid_range(user, path) == single_id:
                self.skipTest("user %s has %s range of 65536 ids in %s"
                              % (user.pw_name,
                                 "a" if single_id else "no", path))
        # The unprivileged podman opens /dev/fuse itself (the mode
        # change shared with other tests running beside).
        self.enterContext(lru.fuse_open_to_all())
        # The scratch directory must be reachable for that user.
        os.chmod(self.tmp, 0o755)
        return user

    def podman_env(self, user=None, name="podman", single_id=False):
        # A short base directory: conmon's sockets live below it and a
        # unix socket path holds at most 107 bytes (a deeper TMPDIR made
        # every rootless run wait out conmon's 20 s timeout).
        short = tempfile.mkdtemp(prefix="lfp-", dir="/tmp")
        os.chmod(short, 0o755)

        def remove_short():
            with open("/proc/self/mountinfo") as f:
                left = [l.split()[4] for l in f
                        if l.split()[4].startswith(short + "/")]
            for m in sorted(left, reverse=True):
                lfstest.force_unmount(m)
            shutil.rmtree(short, ignore_errors=True)
        self.before_cleanup(remove_short)
        env = PodmanEnv(os.path.join(short, name), user, single_id)
        self.before_cleanup(env.cleanup)
        shutil.copy(self.tar, os.path.join(env.base, "rootfs.tar"))
        ctx = os.path.join(env.base, "ctx")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Containerfile"), "w") as f:
            f.write(CONTAINERFILE)
        if user:
            for p in (os.path.join(env.base, "rootfs.tar"), ctx,
                      os.path.join(ctx, "Containerfile")):
                os.chown(p, user.pw_uid, user.pw_gid)
        r = env.run("info", "--format",
                    "{{.Store.GraphRoot}} {{.Store.RunRoot}}")
        if r.returncode != 0:
            self.skipTest("podman cannot run here: %s"
                          % last_line(r.stderr))
        self.assertEqual(r.stdout.split()[0], env.storage)
        self.assertTrue(r.stdout.split()[1].startswith(env.base),
                        r.stdout)
        return env

    def podman(self, env, *args, timeout=120):
        r = env.run(*args, timeout=timeout)
        if r.returncode != 0:
            self.fail("podman %s failed (%d): %s%s" % (
                " ".join(args), r.returncode, r.stdout[-1000:],
                r.stderr.strip()[-2000:]))
        return r.stdout

    # The steps, shared by the tests.

    def build_images(self, env):
        self.podman(env, "import", "rootfs.tar", "localhost/lfbase")
        self.podman(env, "build", "--pull=never", "--network=none",
                    "-t", "localhost/lfbuilt", "ctx")

    def check_built_image(self, env):
        out = self.podman(env, "run", "--rm", "localhost/lfbuilt", "sh",
                          "-c", BUILT_VIEW_CMD)
        self.assertEqual(out, BUILT_VIEW)

    def change_container(self, env):
        out = self.podman(env, "run", "--name", "changed",
                          "localhost/lfbuilt", "sh", "-c", CHANGE_CMD)
        self.assertEqual(out, CHANGED_VIEW)

    def check_changed_container(self, env):
        # Its upper, read again by a new mount: same view.
        out = self.podman(env, "start", "-a", "changed")
        self.assertEqual(out, CHANGED_VIEW)
        diff = set(self.podman(env, "diff", "changed").splitlines())
        self.assertTrue(CHANGED_DIFF <= diff, sorted(diff))
        self.assertNotIn("A /data/a", diff)
        self.assertFalse(any(".wh." in line for line in diff), diff)
        self.podman(env, "commit", "changed", "localhost/lfcommitted")
        out = self.podman(env, "run", "--rm", "localhost/lfcommitted",
                          "sh", "-c", CHANGE_CMD)
        self.assertEqual(out, CHANGED_VIEW)

    def check_mounter(self, env):
        """While a container runs, its root is a layerfs mount."""
        self.podman(env, "run", "-d", "--name", "sleeper",
                    "localhost/lfbuilt", "sleep", "60")
        try:
            merged = self.podman(
                env, "inspect", "--format",
                "{{.GraphDriver.Data.MergedDir}}", "sleeper").strip()
            r = env.shell("findmnt -n -o FSTYPE,SOURCE -M '%s'" % merged)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(), ["fuse.layerfs", "layerfs"])
            out = self.podman(env, "exec", "sleeper", "sh", "-c",
                              "cat /data/a; echo x > /data/x; cat /data/x")
            self.assertEqual(out, "changed\nx\n")
        finally:
            env.run("rm", "-f", "-t", "0", "sleeper")

    def check_uidmap(self, env):
        """A container with its own id mapping: containers/storage passes
        uidmapping=/gidmapping= (container id on disk : id seen) and
        layerfs shifts ownership both ways.  Rootless only: as root,
        podman 4.3 also idmaps the lower layers, which breaks
        fuse-overlayfs as much as layerfs."""
        out = self.podman(env, "run", "--name", "mapped", "--uidmap",
                          "0:1:5000", "--gidmap", "0:1:5000",
                          "localhost/lfbuilt", "sh", "-c",
                          "stat -c '%u:%g' /data/a; touch /data/m; "
                          "chown 3:4 /data/m; stat -c '%u:%g' /data/m")
        self.assertEqual(out, "7:8\n3:4\n")
        upper = self.podman(env, "inspect", "--format",
                            "{{.GraphDriver.Data.UpperDir}}",
                            "mapped").strip()
        r = env.shell("stat -c '%%u:%%g' '%s/data/m'" % upper)
        self.assertEqual((r.returncode, r.stdout), (0, "3:4\n"), r.stderr)
        self.podman(env, "rm", "mapped")

    def check_podman_mount(self, env):
        script = ("m=$(podman mount changed) && cat \"$m/data/new\" && "
                  "ls \"$m/data\" && findmnt -n -o FSTYPE -M \"$m\"; "
                  "podman umount changed >/dev/null")
        r = env.shell(script)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "w\nd2\nnew\nsub\nfuse.layerfs\n")


def last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


class PodmanWithLayerfs(PodmanTestCase):
    """Everything podman does with images and containers, through
    layerfs."""

    def exercise(self, env):
        self.build_images(env)
        self.check_built_image(env)
        self.change_container(env)
        self.check_changed_container(env)
        self.check_mounter(env)
        self.check_podman_mount(env)
        if env.user:
            self.check_uidmap(env)

    def test_root(self):
        self.exercise(self.podman_env())

    def test_rootless(self):
        self.exercise(self.podman_env(self.rootless_user()))


class RootlessSingleId(PodmanTestCase):
    """A user without subuid ranges: the container's root is the user's
    own id, nothing can be chowned, so the modes (and owners) a
    container sets live in user.containers.override_stat xattrs of the
    upper files, and read back the same from a new mount."""

    VIEW_CMD = ("test -e /marker || { chmod 604 /etc/passwd; mkdir /dd; "
                "chmod 2710 /dd; echo x > /dd/f; chmod 4751 /dd/f; "
                "touch /marker; }; stat -c '%a %u:%g %n' /etc/passwd /dd "
                "/dd/f /bin/busybox")
    VIEW = ("604 0:0 /etc/passwd\n2710 0:0 /dd\n4751 0:0 /dd/f\n"
            "755 0:0 /bin/busybox\n")

    def test_modes_kept_in_override_stat(self):
        env = self.podman_env(self.rootless_user(single_id=True),
                              single_id=True)
        self.podman(env, "import", "rootfs.tar", "localhost/lfbase")
        out = self.podman(env, "run", "--name", "single",
                          "localhost/lfbase", "sh", "-c", self.VIEW_CMD)
        self.assertEqual(out, self.VIEW)
        self.check_single(env)
        upper = self.podman(env, "inspect", "--format",
                            "{{.GraphDriver.Data.UpperDir}}",
                            "single").strip()
        for rel, want in (("etc/passwd", b"0:0:0604"),
                          ("dd", b"0:0:02710"), ("dd/f", b"0:0:04751")):
            value = os.getxattr(os.path.join(upper, rel),
                                "user.containers.override_stat")
            self.assertEqual(value.rstrip(b"\0"), want, rel)

    def test_switch_from_fuse_overlayfs(self):
        fuse_overlayfs = shutil.which("fuse-overlayfs")
        if not fuse_overlayfs:
            self.skipTest("needs fuse-overlayfs")
        env = self.podman_env(self.rootless_user(single_id=True),
                              single_id=True)
        env.set_mount_program(fuse_overlayfs)
        self.podman(env, "import", "rootfs.tar", "localhost/lfbase")
        out = self.podman(env, "run", "--name", "single",
                          "localhost/lfbase", "sh", "-c", self.VIEW_CMD)
        self.assertEqual(out, self.VIEW)
        env.set_mount_program(LAYERFS)
        self.check_single(env)

    def check_single(self, env):
        """The container's upper read by a new layerfs mount, and the
        image committed from it."""
        self.assertEqual(self.podman(env, "start", "-a", "single"),
                         self.VIEW)
        self.podman(env, "commit", "single", "localhost/lfsingle")
        out = self.podman(env, "run", "--rm", "localhost/lfsingle", "sh",
                          "-c", self.VIEW_CMD)
        self.assertEqual(out, self.VIEW)


class SwitchFromFuseOverlayfs(PodmanTestCase):
    """A storage whose image layers and container upper were written
    through fuse-overlayfs (its whiteouts, opaque markers and ownership
    records) keeps working when mount_program becomes layerfs."""

    def switch(self, env):
        fuse_overlayfs = shutil.which("fuse-overlayfs")
        if not fuse_overlayfs:
            self.skipTest("needs fuse-overlayfs")
        env.set_mount_program(fuse_overlayfs)
        self.build_images(env)
        # What fuse-overlayfs shows is the reference: its image layers
        # can differ from layerfs-built ones (containers/storage reads a
        # mount program's upper in the .wh. format, so an opaque directory
        # that fuse-overlayfs marks by xattr loses its mark in the layer).
        built = self.podman(env, "run", "--rm", "localhost/lfbuilt", "sh",
                            "-c", BUILT_VIEW_CMD)
        self.change_container(env)
        diff = self.podman(env, "diff", "changed")
        self.assertEqual(self.podman(env, "ps", "-q"), "")
        env.set_mount_program(LAYERFS)
        self.assertEqual(self.podman(env, "run", "--rm", "localhost/lfbuilt",
                                     "sh", "-c", BUILT_VIEW_CMD), built)
        # The container's upper, written by fuse-overlayfs.
        self.assertEqual(self.podman(env, "start", "-a", "changed"),
                         CHANGED_VIEW)
        # layerfs lists every addition and deletion fuse-overlayfs listed
        # (and also the files of a replaced directory as deleted, which
        # fuse-overlayfs leaves out).  "C" lines are left out of the
        # comparison: podman's naive diff derives them from times.
        new_diff = set(self.podman(env, "diff", "changed").splitlines())
        added_deleted = {line for line in diff.splitlines()
                         if line[:2] in ("A ", "D ")}
        self.assertTrue(added_deleted <= new_diff,
                        (sorted(diff.splitlines()), sorted(new_diff)))
        self.assertTrue(CHANGED_DIFF <= new_diff, sorted(new_diff))
        self.podman(env, "commit", "changed", "localhost/lfcommitted")
        out = self.podman(env, "run", "--rm", "localhost/lfcommitted",
                          "sh", "-c", CHANGE_CMD)
        self.assertEqual(out, CHANGED_VIEW)
        self.check_mounter(env)
        self.check_podman_mount(env)

    def test_root(self):
        self.switch(self.podman_env())

    def test_rootless(self):
        self.switch(self.podman_env(self.rootless_user()))


class IdMappingLikeFuseOverlayfs(LayerfsTestCase):
    """uidmapping=/gidmapping= mean what they mean to fuse-overlayfs
    (DISK:VIEW:LEN), since containers/storage writes them for it: the
    same stack shows the same owners through both, and a chown through
    both stores the same ids."""

    def test_same_owners_as_fuse_overlayfs(self):
        self.require_root()
        self.require_tool("fuse-overlayfs")
        low = self.layer("low", {"f": "x", "d/g": "y"})
        os.chown(os.path.join(low, "f"), 5, 6)
        os.chown(os.path.join(low, "d"), 70000, 7)  # unmapped uid
        opts = "uidmapping=:0:100000:65536,gidmapping=0:200000:65536"
        seen = {}
        for prog in ("fuse-overlayfs", LAYERFS):
            name = os.path.basename(prog)
            up, wk, mnt = self.mkdirs(name + "-up", name + "-wk",
                                      name + "-mnt")
            self.run_cmd([prog, "-o", "lowerdir=%s,upperdir=%s,workdir=%s,%s"
                          % (low, up, wk, opts), mnt])
            try:
                new = os.path.join(mnt, "new")
                open(new, "w").close()
                os.chown(new, 100003, 200004)
                seen[name] = {
                    rel: (st.st_uid, st.st_gid) for rel, st in (
                        (rel, os.lstat(os.path.join(mnt, rel)))
                        for rel in ("f", "d", "d/g", "new"))}
                st = os.lstat(os.path.join(up, "new"))
                seen[name]["upper new"] = (st.st_uid, st.st_gid)
            finally:
                self.run_cmd(["umount", mnt], check=False)
        self.assertEqual(seen["layerfs"]["f"], (100005, 200006))
        self.assertEqual(seen["layerfs"]["upper new"], (3, 4))
        self.assertEqual(seen["layerfs"], seen["fuse-overlayfs"])

    def test_acl_ids_mapped_like_owners(self):
        """The kernel enforces an ACL with the ids the daemon gives it,
        so the named entries are mapped like owners: an entry for the
        disk id of view user 5 must grant view user 5, and one set
        through the mount must name the disk id.  (fuse-overlayfs shows
        and stores them unmapped.)  An entry for a disk id outside the
        ranges is left out (no caller can be that user), one for a view
        id outside them refused."""
        self.require_root()
        self.require_tool("setfacl", "getfacl")
        low = self.layer("low-acl", {"f": "x\n", "d/g": "y\n"})
        f = os.path.join(low, "f")
        os.chown(f, 100000, 200000)
        os.chmod(f, 0o640)
        self.run_cmd(["setfacl", "-m", "u:100005:r,u:5:rw,g:200007:r,o::-",
                      f])
        self.run_cmd(["setfacl", "-d", "-m", "u:100006:rx",
                      os.path.join(low, "d")])
        m = self.mount_rw([low], opts=("uidmapping=100000:0:65536",
                                       "gidmapping=200000:0:65536"))
        mf = os.path.join(m.path, "f")

        def getfacl(path, *args):
            return self.run_cmd(["getfacl", "-n", "--omit-header"] +
                                list(args) + [path]).stdout.decode().split()
        self.assertEqual(getfacl(mf), [
            "user::rw-", "user:5:r--", "group::r--", "group:7:r--",
            "mask::rw-", "other::---"])
        self.assertEqual(getfacl(os.path.join(m.path, "d"), "-d"), [
            "user::rwx", "user:6:r-x", "group::r-x", "mask::r-x",
            "other::r-x"])
        for uid, ok in ((5, True), (100005, False)):
            r = subprocess.run(["cat", mf], user=uid, group=uid,
                               extra_groups=[], capture_output=True)
            self.assertEqual(r.returncode == 0, ok, (uid, r.stderr))
        self.run_cmd(["setfacl", "-m", "u:9:rw", mf])
        self.assertIn("user:100009:rw-", getfacl(os.path.join(m.upper, "f")))
        self.assertIn("user:9:rw-", getfacl(mf))
        r = subprocess.run(["setfacl", "-m", "u:70000:r", mf],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Invalid argument", r.stderr)

    def test_creation_as_an_id_the_daemon_cannot_take_is_refused(self):
        """A rootless daemon makes a caller's files as the caller's disk
        id.  Where its user namespace has no such id, the switch to it
        does not take, and the entry would be made as the daemon itself:
        refused with EOVERFLOW instead, and nothing is made.  Both ways
        there: the options map the caller to an id beyond the
        namespace's range (uidmapping=100000:0:1), or leave the caller
        out (uidmapping=0:1:1000), which makes it the overflow id,
        65534, which a namespace of 65534 ids lacks too."""
        self.require_root()
        base = rootless_ns.ID_BASE
        low = self.layer("low-ids", {"f": "x\n"})
        os.chown(self.tmp, base, base)
        for tag, ids, maps in (("mapped", 65536, "100000:0:1"),
                               ("left-out", 65534, "0:1:1000")):
            up, work, mnt = self.mkdirs(tag + "-up", tag + "-work",
                                        tag + "-mnt")
            for d in (up, work, mnt):
                os.chown(d, base, base)
            # Writable by all, whatever the root shows as: the creation
            # reaches the daemon.
            os.chmod(up, 0o777)

            def body(ns):
                m = lfstest.start_layerfs(
                    mnt, [low], up, work,
                    ("uidmapping=" + maps, "gidmapping=" + maps))
                try:
                    got = []
                    for make in (lambda p: os.close(os.open(
                                     p, os.O_CREAT | os.O_WRONLY, 0o644)),
                                 os.mkdir,
                                 lambda p: os.symlink("f", p)):
                        try:
                            make(os.path.join(mnt, "new"))
                            got.append(0)
                        except OSError as e:
                            got.append(e.errno)
                    self.assertEqual(
                        (got, os.listdir(up), os.listdir(mnt)),
                        ([errno.EOVERFLOW] * 3, [], ["f"]), tag)
                finally:
                    self.assertEqual(m.unmount(), 0)
            with lru.fuse_open_to_all():
                rootless_ns.run(body, ids=ids)

if __name__ == "__main__":
    lfstest.main()

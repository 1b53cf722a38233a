#!/usr/bin/env python3
"""Container escape regressions for layerrun, as root and rootless: each
attempt must fail, and the host must be unchanged afterwards.

Hostile images are made by putting a layer of traps (symlinks to host
paths, a '#!/proc/self/exe' script) on top of the busybox image's layer
with --lower.
"""

import hashlib
import json
import os
import subprocess

import layerrun_util as lu
import lfstest
from layerrun_case import LayerrunCase


def host_mounts(under):
    """The host's mount points below UNDER (other programs on this
    machine may mount elsewhere meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(m for m in (l.split()[4] for l in f)
                      if m.startswith(under))


def mounts_below(top):
    """The host's mount points strictly below TOP."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].encode().decode("unicode_escape")
                  for line in f]
    return sorted({p for p in points if p.startswith(top + "/")})


def list_script(dirs):
    """A shell script that prints every entry of DIRS, each prefixed
    with its directory: nothing when they are all empty."""
    return "; ".join("ls -A %s 2>/dev/null | sed 's|^|%s: |'" % (d, d)
                     for d in dirs)


class Escapes:
    """Tests run by both the root and the rootless class."""

    def trap_layer(self, name, links=(), files=None):
        """A layer of symlinks (name -> target) and files."""
        d = self.path(name)
        os.makedirs(d)
        for link, target in links:
            p = os.path.join(d, link)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            os.symlink(target, p)
        for rel, (text, mode) in (files or {}).items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, mode)
        return d

    def run_trapped(self, top, *args):
        lower = ":".join([top] + self.image_layers())
        return self.lr.run(["run", "--rm", "--lower", lower] + list(args))

    def host_dir(self, name):
        d = self.path(name)
        os.makedirs(d)
        with open(os.path.join(d, "marker"), "w") as f:
            f.write("host\n")
        return d

    def assert_host_dir_untouched(self, d):
        self.assertEqual(os.listdir(d), ["marker"], d)
        self.assertIsNone(lfstest.mounted_fstype(d), d)

    # -- symlinks on the mount targets --------------------------------------

    def test_symlinked_mount_targets(self):
        before = host_mounts(self.tmp)
        for target in ("proc", "dev", "sys", "dev/pts", "dev/shm",
                       "proc/sys", "sys/firmware"):
            with self.subTest(target=target):
                h = self.host_dir("host-" + target.replace("/", "-"))
                top = self.trap_layer("trap-" + target.replace("/", "-"),
                                      [(target, h)])
                r = self.run_trapped(top, "sh", "-c",
                                     "ls /%s >/dev/null; echo x > "
                                     "/%s/pwned" % (target, target))
                self.assertIn(r.returncode, (0, 1, 125), r.stderr)
                self.assert_host_dir_untouched(h)
        self.assertEqual(host_mounts(self.tmp), before)

    def test_symlinked_etc_hosts_and_resolv(self):
        hf = os.path.join(self.host_dir("host-etc"), "marker")
        top = self.trap_layer("trap-etc", [("etc/hosts", hf),
                                           ("etc/resolv.conf", hf),
                                           ("etc/hostname", hf)])
        r = self.run_trapped(top, "sh", "-c",
                             "cat /etc/hosts; echo pwned >> /etc/hosts; "
                             "echo pwned >> /etc/resolv.conf")
        with open(hf) as f:
            self.assertEqual(f.read(), "host\n")
        self.assertNotIn(b"host\n", r.stdout.split(b"localhost")[0])

    def test_symlinked_volume_target(self):
        h = self.host_dir("host-voltarget")
        src = self.user_dir("volsrc")
        for target in (h, "../../../../../.." + h):
            with self.subTest(target=target):
                top = self.trap_layer("trap-vol%d" % len(target),
                                      [("data", target)])
                r = self.run_trapped(top, "-v", src + ":/data", "sh", "-c",
                                     "echo x > /data/pwned")
                # The link dangles in the container: what it names is
                # made there, inside the root, and takes the volume.
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assert_host_dir_untouched(h)
                os.unlink(os.path.join(src, "pwned"))

    def test_dangling_symlink_mount_targets(self):
        # As runc and crun: a volume or tmpfs target that is a dangling
        # symlink (an image's /var/run -> /run/x, say) gets what the
        # link names made, followed inside the root, then the mount.
        src = self.user_dir("volsrc")
        links = [("abs", "/made/abs"), ("rel", "sub/../made-rel"),
                 ("chain1", "chain2"), ("chain2", "/made/chained"),
                 ("up", "../../../../made-up"), ("dir/mid", "/made/mid")]
        top = self.trap_layer("trap-dangling", links)
        for link, made in (("abs", "/made/abs"), ("rel", "/made-rel"),
                           ("chain1", "/made/chained"),
                           ("up", "/made-up"),
                           ("dir/mid/below", "/made/mid/below")):
            with self.subTest(link=link):
                r = self.run_trapped(
                    top, "-v", src + ":/" + link, "--tmpfs",
                    "/" + link + "/t", "sh", "-c",
                    "echo in > %s/f && grep -c ' %s/t ' "
                    "/proc/self/mountinfo" % (made, made))
                self.assertEqual((r.returncode, r.stdout), (0, b"1\n"),
                                 r.stderr)
                with open(os.path.join(src, "f")) as f:
                    self.assertEqual(f.read(), "in\n")
                os.unlink(os.path.join(src, "f"))
                os.rmdir(os.path.join(src, "t"))
        self.assertEqual(os.listdir(src), [])
        # A loop of links: one line, no container.
        top = self.trap_layer("trap-loop", [("l1", "l2"), ("l2", "/l1")])
        for how in (["-v", src + ":/l1"], ["--tmpfs", "/l1/t"]):
            with self.subTest(how=how[0]):
                r = self.run_trapped(top, *how, "true")
                self.assertEqual(r.returncode, 125, r.stderr)
                err = r.stderr.decode()
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn("symbolic links", err)

    def test_volume_target_symlinked_into_proc_refused(self):
        # /proc and below take no volume or tmpfs (runc refuses those
        # too): an image's symlink must not carry one there, over the
        # container's procfs or its init's /proc/1 files (a writable
        # host directory in place of /proc/self/... misleads whatever
        # reads them in the container, exec's process among them).
        src = self.user_dir("volsrc")
        links = [("d1", "/proc"), ("d2", "../proc/sys/kernel"),
                 ("d3", "/proc/self/fd"), ("d4", "d4b"),
                 ("d4b", "proc/1"), ("dir/d5", "../../proc/sys")]
        top = self.trap_layer("trap-proc", links)
        for link, _ in links:
            for how in (["-v", src + ":/" + link], ["--tmpfs", "/" + link]):
                with self.subTest(link=link, how=how[0]):
                    r = self.run_trapped(top, "--name", "procvol", *how,
                                         "true")
                    self.assertEqual(r.returncode, 125, r.stderr)
                    err = r.stderr.decode()
                    self.assertEqual(len(err.splitlines()), 1, err)
                    self.assertIn("/proc", err)
                    self.assertFalse(os.path.exists(
                        self.container_dir("procvol")))
        self.assertEqual(os.listdir(src), [])
        # A symlink to elsewhere still takes the volume, inside the root.
        top = self.trap_layer("trap-elsewhere", [("data", "/root")])
        r = self.run_trapped(top, "-v", src + ":/data", "sh", "-c",
                             "echo in > /root/f")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(src, "f")) as f:
            self.assertEqual(f.read(), "in\n")

    def test_dotdot_in_volume_paths_refused(self):
        src = self.user_dir("volsrc")
        for ctr in ("/../../../tmp/x", "/a/../../b", "data/../.."):
            with self.subTest(ctr=ctr):
                r = self.lr.run(["run", "--rm", "-v", src + ":" + ctr,
                                 self.image, "true"])
                self.assertEqual(r.returncode, 125)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    # -- the launcher's binary ---------------------------------------------

    def test_proc_self_exe_cannot_reach_the_launcher(self):
        with open(lu.LAYERRUN, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        # The CVE-2019-5736 way: a '#!/proc/self/exe' command makes the
        # kernel run whatever the exec'ing process runs.  With the
        # launcher's libraries in the image, its own binary would start.
        files = {"bin/evil": ("#!/proc/self/exe --version\n", 0o755)}
        r = subprocess.run(["ldd", lu.LAYERRUN], capture_output=True)
        top = self.trap_layer("trap-exe", files=files)
        for line in r.stdout.decode().splitlines():
            lib = [w for w in line.split() if w.startswith("/")]
            if lib:
                dest = top + lib[0]
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                subprocess.run(["cp", "-L", lib[0], dest], check=True)
        for args in (["/bin/evil"], ["sh", "-c", "/bin/evil"]):
            with self.subTest(args=args):
                r = self.run_trapped(top, *args)
                self.assertNotIn(b"layerrun", r.stdout)
        # Nor through exec.
        self.detach("exeowner", "sleep", "600")
        r = self.lr.run(["exec", "exeowner", "lrpayload", "exe1"])
        self.assertNotEqual(r.stdout, b"ok\n")
        out = self.run_ok(["exec", "exeowner", "sh", "-c",
                           "lrpayload exe1; echo x > /proc/1/exe; "
                           "readlink /proc/1/exe; true"])
        self.assertNotIn("ok", out.splitlines()[0])
        self.assertNotIn(lu.LAYERRUN, out)
        with open(lu.LAYERRUN, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest)

    # -- descriptors, working directory, /proc of the host ------------------

    def test_no_leaked_descriptors(self):
        r, w = os.pipe()  # an fd of the caller's, inherited by layerrun
        try:
            res = self.lr.run(["run", "--rm", self.image, "lrpayload",
                               "fds"], pass_fds=(r, w))
        finally:
            os.close(r)
            os.close(w)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, b"")
        self.detach("fdowner", "sleep", "600")
        self.assertEqual(self.run_ok(["exec", "fdowner", "lrpayload",
                                      "fds"]), "")

    def test_working_directory_outside_root(self):
        h = self.host_dir("host-cwd")
        top = self.trap_layer("trap-cwd", [("wd", h)])
        for wd in ("/wd", "/../../..", "/tmp/../../.."):
            with self.subTest(wd=wd):
                r = self.run_trapped(top, "-w", wd, "sh", "-c",
                                     "pwd; echo x > pwned; ls")
                self.assertNotIn(b"marker", r.stdout)
                self.assert_host_dir_untouched(h)
        r = self.lr.run(["run", "--rm", "-w", "relative/dir", self.image,
                         "true"])
        self.assertEqual(r.returncode, 125)

    def test_host_processes_unreachable(self):
        out = self.sh_ok("readlink /proc/1/root; ls /proc/1/root/ 2>&1; "
                         "ls /proc | grep -c '^[0-9]'")
        self.assertNotIn(os.path.basename(self.tmp), out)
        # init, sh, ls/grep: a handful, not the host's hundreds.
        self.assertLess(int(out.split()[-1]), 10, out)
        rc, out, _ = self.sh("ls /proc/1/root/", "--pid", "host")
        self.assertNotEqual(rc, 0, "host init's root listed:\n" + out)

    def test_daemon_of_a_joined_container_unreachable(self):
        # A container that joins another's namespaces (--net container:A)
        # has its layerfs daemon started in A's user namespace, where A,
        # with --pid host and CAP_SYS_PTRACE, could read the daemon's
        # /proc root, the host's, and its descriptors (found by review).
        # The daemon, and a container's first process until it runs its
        # command, are not dumpable: /proc keeps them to the host's root.
        host = self.user_dir("host-joined")
        marker = os.path.join(host, "marker")
        with open(marker, "w") as f:
            f.write("host only\n")
        os.chown(marker, self.uid, self.gid)
        self.detach("a", "sleep", "600",
                    opts=("--pid", "host", "--cap-add", "SYS_PTRACE"))
        daemon = self.detach("b", "sleep", "600",
                             opts=("--net", "container:a"))["daemon_pid"]
        out = self.run_ok(["exec", "a", "sh", "-c",
                           "cat /proc/%d/root%s 2>&1; ls /proc/%d/fd 2>&1; "
                           "true" % (daemon, marker, daemon)])
        self.assertNotIn("host only", out)
        self.assertIn("Permission denied", out)

    def test_host_file_systems_below_sys_hidden_with_host_net(self):
        # --net host cannot have a sysfs of its own: the host's /sys is
        # bound, and with it what the host mounts below (locked to it in
        # the container's user namespace).  Their files are root's by
        # mode only, so a root container read the host's trace buffers
        # (trace_pipe, consumed), pstore's crash logs and the host's
        # cgroups (found by review).  Every one of them is covered.
        below = mounts_below("/sys")
        if not below:
            self.skipTest("the host mounts nothing below /sys")
        self.assertEqual(self.sh_ok(list_script(below), "--net", "host"),
                         "")
        # Its own sysfs, still there.
        self.assertIn("lo", self.sh_ok("ls /sys/class/net", "--net",
                                       "host").split())

    def test_host_file_systems_below_proc_hidden_with_host_pid(self):
        # The same for --pid host's bind of the host's /proc: what the
        # host mounts below it (binfmt_misc, mounted here for the test
        # where the host has not) is covered.
        self.require_root()
        binfmt = "/proc/sys/fs/binfmt_misc"
        if binfmt not in mounts_below("/proc"):
            r = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc",
                                binfmt], capture_output=True)
            if r.returncode != 0:
                self.skipTest("cannot mount binfmt_misc: %s"
                              % r.stderr.decode().strip())
            self.addCleanup(subprocess.run, ["umount", binfmt],
                            capture_output=True)
        below = mounts_below("/proc")
        self.assertEqual(self.sh_ok(list_script(below), "--pid", "host"),
                         "")
        # The host's processes, still there.
        self.assertIn(str(os.getpid()),
                      self.sh_ok("ls /proc", "--pid", "host").split())

    # -- privileged operations with the default capabilities ----------------

    def test_privileged_syscalls_fail(self):
        for call in ("mount", "umount", "unshare-user", "unshare-mount",
                     "pivot_root", "init_module", "ptrace-1",
                     "sethostname"):
            with self.subTest(call=call):
                out = self.sh_ok("lrpayload syscall " + call)
                self.assertIn(out.strip(),
                              ("EPERM", "EACCES", "ENOSPC", "ENOSYS"), out)
        out = self.sh_ok("lrpayload syscall chroot", "--cap-drop",
                         "SYS_CHROOT")
        self.assertEqual(out.strip(), "EPERM")
        # Nor with mount(8) and chroot(8) of busybox.
        rc, _, _ = self.sh("mount -t tmpfs none /tmp")
        self.assertNotEqual(rc, 0)
        rc, _, _ = self.sh("chroot / true", "--cap-drop", "ALL")
        self.assertNotEqual(rc, 0)

    # -- the seccomp filter and the kernel keyrings -------------------------

    @staticmethod
    def first_call_newer_than_the_build():
        """The number after the last system call the build's libseccomp
        knows on this machine's ABI (mounter/gen/seccomp_numbers.c)."""
        header = os.path.join(lfstest.BUILD, "mounter", "gen",
                              "seccomp_numbers.h")
        with open(header) as f:
            for line in f:
                if line.startswith("#define SECCOMP_NR_LAST_NATIVE "):
                    return int(line.split()[2]) + 1
        raise AssertionError("no SECCOMP_NR_LAST_NATIVE in " + header)

    def test_seccomp_refuses_calls_newer_than_the_build(self):
        """A system call newer than the build's libseccomp knows fails
        as on an older kernel (ENOSYS), where the kernel would run it:
        no list could have banned it."""
        newer = self.first_call_newer_than_the_build()
        out = self.sh_ok("lrpayload syscall nr:%d" % newer,
                         "--security-opt", "seccomp=unconfined").strip()
        if out == "ENOSYS":
            self.skipTest("this kernel has no call newer than the build "
                          "knows (%d)" % newer)
        self.assertEqual(self.sh_ok("lrpayload syscall nr:%d" % newer)
                         .strip(), "ENOSYS")

    def test_seccomp_filter(self):
        for call in ("keyctl", "add_key", "io_uring_setup", "userfaultfd",
                     "keyctl-x32"):
            with self.subTest(call=call):
                out = self.sh_ok("lrpayload syscall " + call).strip()
                self.assertIn(out, ("EPERM", "ENOSYS"))
        # Its 32-bit number does not get around it ("n/a": this kernel
        # runs no 32-bit calls; the unit test covers that section).
        out = self.sh_ok("lrpayload syscall keyctl-i386").strip()
        self.assertIn(out, ("EPERM", "n/a"))
        # The filter is what refused: unconfined, the same call works.
        out = self.sh_ok("lrpayload syscall keyctl", "--security-opt",
                         "seccomp=unconfined").strip()
        if out == "ENOSYS":
            self.skipTest("kernel without keyrings")
        self.assertEqual(out, "ok")
        # A capability lifts its own ban (an invalid time: the kernel
        # answers EINVAL once the call reaches it; the clock stays).
        self.assertEqual(self.sh_ok("lrpayload syscall clock_settime-bad")
                         .strip(), "EPERM")
        self.assertEqual(self.sh_ok("lrpayload syscall clock_settime-bad",
                                    "--cap-add", "SYS_TIME").strip(),
                         "EINVAL")
        # exec'd processes get the container's filter.
        self.detach("filtered", "sleep", "600")
        self.assertEqual(self.run_ok(["exec", "filtered", "lrpayload",
                                      "syscall", "keyctl"]).strip(), "EPERM")
        self.detach("unfiltered", "sleep", "600",
                    opts=("--security-opt", "seccomp=unconfined"))
        self.assertEqual(self.run_ok(["exec", "unfiltered", "lrpayload",
                                      "syscall", "keyctl"]).strip(), "ok")

    def test_init_confined_as_its_command(self):
        # The container's PID 1 (layerrun-init) ran unfiltered and in the
        # launcher's session keyring: a process allowed to trace it
        # (--cap-add SYS_PTRACE) could make it call what the filter
        # denies, keyctl on the launcher's keys among them.  It takes
        # the command's confinement (payload_confine), keyring included.
        def seccomp_of_init(*opts):
            out = self.sh_ok("grep -E '^Seccomp:' /proc/1/status", *opts)
            return out.split()[1]
        self.assertEqual(seccomp_of_init(), "2")   # a filter
        self.assertEqual(seccomp_of_init("--security-opt",
                                         "seccomp=unconfined"), "0")

    def test_seccomp_profile(self):
        """--security-opt seccomp=PROFILE, Docker's and podman's JSON: it
        replaces the built-in filter, for run and exec."""
        profile = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86",
                                              "SCMP_ARCH_X32"]}],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                 "errnoRet": 13},
                # Only when the first argument is CLOCK_REALTIME.
                {"names": ["clock_settime"], "action": "SCMP_ACT_ERRNO",
                 "errnoRet": 33,
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                # Not for a container holding CAP_SYS_ADMIN.
                {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO",
                 "errnoRet": 25, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["a_call_no_kernel_has"],
                 "action": "SCMP_ACT_ERRNO"},
            ],
        }
        path = os.path.join(self.user_dir("profiles"), "p.json")
        with open(path, "w") as f:
            json.dump(profile, f)
        opt = ("--security-opt", "seccomp=" + path)
        out = self.sh_ok("mkdir /x 2>/dev/null || echo DENIED; "
                         "for c in clock_settime-bad sethostname keyctl; do "
                         "lrpayload syscall $c; done", *opt)
        self.assertEqual(out.split(), ["DENIED", "EDOM", "ENOTTY", "ok"])
        out = self.sh_ok("lrpayload syscall sethostname", *opt,
                         "--cap-add", "SYS_ADMIN")
        self.assertEqual(out.strip(), "ok")
        self.detach("profiled", "sleep", "600", opts=opt)
        out = self.run_ok(["exec", "profiled", "sh", "-c",
                           "mkdir /y 2>/dev/null || echo DENIED"])
        self.assertEqual(out.strip(), "DENIED")
        # podman's own profile, where it is installed: its rules for
        # CAP_SYS_ADMIN holders (mount) apply only to them.
        podman = "/usr/share/containers/seccomp.json"
        if os.path.exists(podman):
            popt = ("--security-opt", "seccomp=" + podman)
            out = self.sh_ok("mkdir /d && lrpayload syscall mount", *popt)
            self.assertEqual(out.strip(), "EPERM")
            out = self.sh_ok("lrpayload syscall mount", *popt,
                             "--cap-add", "SYS_ADMIN")
            self.assertEqual(out.strip(), "ok")
        for text in ('{"defaultAction": "SCMP_ACT_NOTIFY"}', "{broken",
                     '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                     '[{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}'):
            with self.subTest(profile=text):
                with open(path, "w") as f:
                    f.write(text)
                r = self.lr.run(["run", "--rm", *opt, self.image, "true"])
                self.assertEqual(r.returncode, 125)
                err = r.stderr.decode()
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("seccomp profile", err)

    def test_launcher_keys_unreachable(self):
        """A key in the launcher's session keyring (where login sessions
        keep theirs) is the possessor's to read: never the container's."""
        def with_key(*cmd):
            argv = self.lr.as_user([lu.PAYLOAD, "withkey", "lrtest-key",
                                    "s3cret"] + list(cmd))
            r = subprocess.run(argv, capture_output=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.decode().strip()
        if with_key(lu.PAYLOAD, "keyring", "lrtest-key") != "s3cret":
            self.skipTest("kernel without keyrings")
        run = [lu.LAYERRUN, "--root", self.lr.root_dir, "run", "--rm"]
        probe = [self.image, "lrpayload", "keyring", "lrtest-key"]
        self.assertEqual(with_key(*run, *probe), "EPERM")
        # Unconfined, it has a new, empty session keyring.
        self.assertEqual(with_key(*run, "--security-opt",
                                  "seccomp=unconfined", *probe), "ENOKEY")

    def test_chroot_fallback_is_closed(self):
        """--no-pivot (the initramfs fallback): chroot is dropped and the
        host's root stays out of reach."""
        out = self.sh_ok("lrpayload syscall chroot; cd /; cd ../../..; ls; "
                         "cut -d' ' -f5 /proc/self/mountinfo",
                         "--no-pivot")
        lines = out.split()
        self.assertEqual(lines[0], "EPERM")
        self.assertNotIn(os.path.basename(self.tmp), out)
        self.assertNotIn("work", lines)  # the host's top directories
        self.assertNotIn("usr", lines)
        # `layerrun exec` into such a container enters its init's root,
        # not merely the root of the mount namespace it joins (the
        # host's, where the launcher itself ran in a chroot and the
        # container's root is one in it: pivot_root is refused there).
        self.detach("nopivot", "sleep", "600", opts=("--no-pivot",))
        out = self.run_ok(["exec", "nopivot", "sh", "-c",
                           "cd /; cd ../../..; ls; head -1 /etc/passwd"])
        lines = out.split()
        self.assertNotIn("work", lines)
        self.assertNotIn(os.path.basename(self.tmp), out)
        self.assertIn("bin", lines)

    def test_writes_to_masked_and_read_only_paths(self):
        script = ";".join(
            "(echo 1 > %s) 2>/dev/null && echo WROTE %s" % (p, p)
            for p in ("/proc/sys/kernel/hostname", "/proc/sysrq-trigger",
                      "/proc/sys/vm/drop_caches", "/sys/kernel/uevent_helper",
                      "/proc/keys", "/proc/timer_list", "/sys/firmware/x",
                      "/proc/irq/default_smp_affinity",
                      "/proc/bus/x"))
        script += "; umount /proc/keys 2>/dev/null && echo UNMASKED"
        script += "; cat /proc/keys /proc/timer_list 2>/dev/null | wc -c"
        out = self.sh_ok(script)
        self.assertNotIn("WROTE", out)
        self.assertNotIn("UNMASKED", out)
        self.assertEqual(out.split()[-1], "0")


class RootEscapes(Escapes, LayerrunCase):
    ROOTLESS = False


class RootlessEscapes(Escapes, LayerrunCase):
    ROOTLESS = True


if __name__ == "__main__":
    lfstest.main()

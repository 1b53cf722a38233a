#!/usr/bin/env python3
"""layerrun on a busybox-static image, as root and as an unprivileged
user: processes, hostname, mounts, the upper layer, exit codes and
signals, exec, volumes, commit, limits and state.

Every behaviour is checked from both sides: what the container's
processes see, and what lands on the host (upper layer, state, lower
layers).
"""

import contextlib
import fcntl
import json
import os
import stat
import pty
import pwd
import re
import select
import shutil
import signal
import struct
import termios
import subprocess
import threading
import time

import layerrun_util as lu
import lfstest
from layerrun_case import LayerrunCase
from test_passthrough import kernel_has_passthrough


def run_in_pty(argv, script, rows=33, cols=101, timeout=30):
    """Runs argv on a new terminal of that size, types script; returns
    (exit status, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols,
                                                     0, 0))
    out = b""
    typed = False
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            if not typed:  # the prompt came: type
                os.write(fd, script)
                typed = True
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    else:
        os.kill(pid, signal.SIGKILL)
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(st), out.decode(errors="replace")


def proc_state(pid):
    """The state letter of process PID (R, S, T, Z ...); None when it is
    gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class Behaviour:
    """Tests run by both the root and the rootless class."""

    # -- an interactive terminal -------------------------------------------

    def test_interactive_tty_shell(self):
        script = (b"tty; echo T=$TERM; stty size; sleep 30 & jobs; "
                  b"kill %1; exit 3\n")
        rc, out = run_in_pty(self.lr.argv(["run", "--rm", "-it",
                                           self.image, "/bin/sh"]), script)
        self.assertEqual(rc, 3, out)
        self.assertIn("/dev/pts/0", out)
        self.assertIn("T=xterm", out)
        self.assertIn("33 101", out)
        self.assertRegex(out, r"\[1\]\+ +Running +sleep 30")
        self.detach("term", "sleep", "600")
        rc, out = run_in_pty(self.lr.argv(["exec", "-it", "term",
                                           "/bin/sh"]),
                             b"tty; stty size; ps -o comm; exit 4\n",
                             rows=20, cols=70)
        self.assertEqual(rc, 4, out)
        self.assertIn("20 70", out)
        self.assertRegex(out, r"/dev/pts/\d")
        self.assertIn("sleep", out)
        # The command's terminal and its start are reported by two
        # processes: the terminal coming first must work too (it once
        # made exec exit 125 without a word, now and then).
        argv = ["env", "LAYERRUN_TEST_EXEC_REPORT_DELAY_MS=300"] + \
            self.lr.argv(["exec", "-it", "term", "/bin/sh"])
        rc, out = run_in_pty(argv, b"stty size; exit 5\n", rows=21, cols=71)
        self.assertEqual(rc, 5, out)
        self.assertIn("21 71", out)

    # -- processes, names, mounts -----------------------------------------

    def test_pid1_and_only_container_processes(self):
        out = self.sh_ok("ps -o pid,comm; echo; cat /proc/1/cmdline")
        table, cmdline = out.split("\n\n", 1)
        rows = [l.split() for l in table.splitlines()[1:]]
        pids = sorted(int(r[0]) for r in rows)
        # init, the shell, ps: nothing of the host's.
        self.assertEqual(pids[0], 1, out)
        self.assertLessEqual(len(pids), 3, out)
        self.assertIn("layerrun-init", cmdline)

    def test_hostname_default_and_given(self):
        self.assertEqual(self.sh_ok("hostname", name="named").strip(),
                         "named")
        self.assertEqual(
            self.sh_ok("hostname; cat /etc/hostname",
                       "--hostname", "box.example").split(),
            ["box.example", "box.example"])
        host = os.uname().nodename
        self.assertNotEqual(self.sh_ok("hostname").strip(), host)

    def test_no_host_mount_visible(self):
        out = self.sh_ok("cat /proc/self/mountinfo")
        points = [l.split()[4] for l in out.splitlines()]
        self.assertEqual(points[0], "/", out)
        for p in points[1:]:
            self.assertTrue(p.split("/")[1] in ("proc", "dev", "sys"),
                            "host mount %s visible:\n%s" % (p, out))
        # Nor the host's files: the launcher's scratch directory is not
        # reachable by any path.
        rc, _, _ = self.sh("ls %s" % self.tmp)
        self.assertNotEqual(rc, 0)

    def test_dev_proc_sys(self):
        out = self.sh_ok(
            "ls /dev; echo ---; for l in /dev/fd /dev/stdin /dev/stdout "
            "/dev/stderr; do readlink $l; done; echo ---; head -c 4 /dev/zero | wc -c; "
            "touch /sys/x 2>&1; echo ---; cat /proc/self/mountinfo")
        devs, links, rest, info = out.split("---\n")
        for d in ("null", "zero", "full", "random", "urandom", "tty",
                  "pts", "ptmx", "shm", "mqueue"):
            self.assertIn(d, devs.split(), devs)
        self.assertEqual(links.split(), ["/proc/self/fd", "/proc/self/fd/0",
                                         "/proc/self/fd/1",
                                         "/proc/self/fd/2"])
        self.assertIn("4", rest.split())
        self.assertIn("Read-only file system", rest)
        opts = {l.split()[4]: l.split()[5] for l in info.splitlines()}
        self.assertTrue(opts["/sys"].startswith("ro"), info)
        self.assertTrue(opts["/proc/sys"].startswith("ro"), info)
        for masked in ("/proc/keys", "/proc/timer_list", "/sys/firmware"):
            if os.path.exists(masked):
                self.assertIn(masked, opts, info)

    def test_capabilities_and_no_new_privs(self):
        out = self.sh_ok("grep -E '^(CapEff|CapBnd|NoNewPrivs)' "
                         "/proc/self/status")
        f = dict(l.split(":\t") for l in out.splitlines())
        self.assertEqual(int(f["CapEff"], 16), lu.DOCKER_DEFAULT_CAPS)
        self.assertEqual(int(f["CapBnd"], 16), lu.DOCKER_DEFAULT_CAPS)
        self.assertEqual(f["NoNewPrivs"].strip(), "1")
        out = self.sh_ok("grep CapEff /proc/self/status", "--cap-drop",
                         "ALL", "--cap-add", "KILL")
        self.assertEqual(int(out.split()[1], 16), 1 << 5)
        out = self.sh_ok("grep CapEff /proc/self/status", "-u", "1000")
        self.assertEqual(int(out.split()[1], 16), 0)

    def test_user_env_workdir(self):
        out = self.sh_ok("id -u; id -g; pwd; echo $GREETING; echo $HOME",
                         "-u", "1000:1000", "-w", "/srv/app", "-e",
                         "GREETING=hi there")
        self.assertEqual(out.splitlines(),
                         ["1000", "1000", "/srv/app", "hi there", "/home"])
        if self.ROOTLESS:
            # A single-id namespace has no uid 1000: one clear line.
            rc, _, err = self.sh("id", "--userns", "single", "-u", "1000")
            self.assertNotEqual(rc, 0)
            self.assertIn("single-id namespace", err)

    def set_image_config(self, **config):
        """Sets keys of the image's OCI runtime configuration (Entrypoint,
        Cmd, ...) in its config.json."""
        path = os.path.join(self.image, "config.json")
        with open(path) as f:
            doc = json.load(f)
        doc.setdefault("config", {}).update(config)
        with open(path, "w") as f:
            json.dump(doc, f)

    def test_entrypoint_and_cmd_of_the_image(self):
        self.set_image_config(Entrypoint=["/bin/echo", "ep"],
                              Cmd=["from-cmd"])
        cases = [([], [], "ep from-cmd\n"),
                 ([], ["x", "y"], "ep x y\n"),
                 (["--entrypoint", "/bin/echo"], [], "\n"),
                 # As podman: "" resets the entrypoint (and the image's
                 # Cmd goes with it); the command given runs alone.
                 (["--entrypoint", ""], ["echo", "plain"], "plain\n")]
        for opts, cmd, want_out in cases:
            with self.subTest(opts=opts, cmd=cmd):
                r = self.lr.run(["run", "--rm"] + opts + [self.image] + cmd)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.decode(), want_out)
        # Nothing left to run: one line, 125, nothing left behind.
        r = self.lr.run(["run", "--rm", "--name", "noep", "--entrypoint", "",
                         self.image])
        self.assertEqual(r.returncode, 125)
        err = r.stderr.decode()
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("no command", err)
        self.assertFalse(os.path.exists(self.container_dir("noep")))

    def test_relative_symlinks_while_the_host_renames(self):
        # Paths in the container are opened with openat2(RESOLVE_IN_ROOT),
        # which fails a ".." with EAGAIN (for the caller to retry) when
        # any rename or mount on the machine races with it.  Images hold
        # such symlinks (/var/run -> ../run): a busy host must not make
        # their volume targets, working directory or /etc/passwd fail.
        top = self.user_dir("dotdot-layer")
        os.symlink("../root", os.path.join(top, "data"))
        os.symlink("../srv/work", os.path.join(top, "work"))
        os.makedirs(os.path.join(top, "etc"))
        os.makedirs(os.path.join(top, "srv", "work"))
        with open(os.path.join(top, "srv", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n"
                    "app:x:1000:1000:app:/home:/bin/sh\n")
        os.symlink("../srv/passwd", os.path.join(top, "etc", "passwd"))
        lower = ":".join([top] + self.image_layers())
        src = self.user_dir("volsrc")
        stop = threading.Event()

        def rename_loop():
            a, b = self.path("ren-a"), self.path("ren-b")
            open(a, "w").close()
            while not stop.is_set():
                os.rename(a, b)
                os.rename(b, a)
        t = threading.Thread(target=rename_loop)
        t.start()
        try:
            for i in range(10):
                r = self.lr.run(["run", "--rm", "--lower", lower, "-v",
                                 src + ":/data", "--tmpfs", "/data/t",
                                 "-w", "/work", "-u", "app", "sh", "-c",
                                 "pwd; id -u"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.decode(), "/srv/work\n1000\n")
        finally:
            stop.set()
            t.join()

    # -- the init layer and the upper layer -------------------------------
    # -- the init layer and the upper layer -------------------------------

    def test_init_layer_files_not_in_upper(self):
        out = self.sh_ok("cat /etc/hosts; echo ---; cat /etc/resolv.conf",
                         "--add-host", "db.local:10.1.2.3", "--dns",
                         "192.0.2.53", name="initl")
        hosts, resolv = out.split("---\n")
        self.assertIn("10.1.2.3\tdb.local", hosts)
        self.assertIn("127.0.0.1\tlocalhost", hosts)
        # The init layer hides the image's own /etc/hosts.
        self.assertNotIn("image-host-file", hosts)
        self.assertIn("nameserver 192.0.2.53", resolv)
        upper = self.container_dir("initl", "upper")
        self.assertFalse(os.path.exists(os.path.join(upper, "etc")),
                         os.listdir(upper))

    def test_mount_points_where_the_image_lacks_them(self):
        # The top layer hides /proc (a whiteout) and makes /sys a file,
        # above a root that has both: the init layer supplies those two
        # mount points, and not /dev, which the image shows.
        base = self.user_dir("mp-base")
        lu.write_rootfs(base, self.busybox)
        top = self.user_dir("mp-top")
        open(os.path.join(top, ".wh.proc"), "w").close()
        with open(os.path.join(top, "sys"), "w") as f:
            f.write("not a directory\n")
        for p in (base, top):
            subprocess.run(["chown", "-R", "%d:%d" % (self.uid, self.gid),
                            p], check=True)
        out = self.run_ok(["run", "--name", "mp", "--lower",
                           top + ":" + base, "/bin/sh", "-c",
                           "cat /proc/self/comm; ls /sys/kernel >/dev/null "
                           "&& echo sys; ls -d /dev/null"])
        self.assertEqual(out.split(), ["cat", "sys", "/dev/null"])
        init = self.container_dir("mp", "init")
        self.assertEqual(sorted(os.listdir(init)), ["etc", "proc", "sys"])

    def test_fresh_upper_is_a_root_every_user_can_enter(self):
        # A --upper layerrun makes (mode 0700) is the container's "/": it
        # gets the image's root mode, or users other than root could not
        # reach anything (su to one failed with EACCES).
        want = oct(os.stat(self.image_layers()[0]).st_mode & 0o7777)[2:]
        upper = os.path.join(self.user_dir("fresh"), "upper")
        out = self.sh_ok("stat -c %a /; ls / | grep -c etc", "--upper",
                         upper, "-u", "1000")
        self.assertEqual(out.split(), [want, "1"])
        # One that was there keeps its own mode.
        kept = os.path.join(self.user_dir("kept"), "upper")
        os.mkdir(kept)
        os.chmod(kept, 0o711)
        if self.user:
            os.chown(kept, self.uid, self.gid)
        out = self.sh_ok("stat -c %a /", "--upper", kept)
        self.assertEqual(out.split(), ["711"])

    def test_writes_in_upper_whiteouts_lower_unchanged(self):
        layers = self.image_layers()
        before = [lfstest.snapshot(l) for l in layers]
        self.sh_ok("echo new > /root/new.txt && echo more >> /etc/motd && "
                   "rm /etc/passwd && mkdir -p /var/cache/x",
                   name="w")
        upper = self.container_dir("w", "upper")
        with open(os.path.join(upper, "root", "new.txt")) as f:
            self.assertEqual(f.read(), "new\n")
        with open(os.path.join(upper, "etc", "motd")) as f:
            self.assertEqual(f.read(), "from the image\nmore\n")
        self.assertTrue(os.path.exists(os.path.join(upper, "etc",
                                                    ".wh.passwd")))
        self.assertTrue(os.path.isdir(os.path.join(upper, "var", "cache",
                                                   "x")))
        self.assertEqual([lfstest.snapshot(l) for l in layers], before)
        # A second run on the same --upper sees the changes.
        out = self.sh_ok("cat /root/new.txt; ls /etc", "--upper", upper)
        self.assertIn("new", out)
        self.assertNotIn("passwd", out)
        # layerfs wrote its statistics for the container.
        with open(self.container_dir("w", "stats.json")) as f:
            stats = json.load(f)
        self.assertGreaterEqual(
            json.dumps(stats).count("copyup"), 1, stats)
        # Root's containers map every id to itself, and their layerfs runs
        # in our user namespace, where it may register backing files: the
        # container's programs ran from the layers by passthrough (where
        # the kernel has it).  A rootless container's layerfs runs in the
        # container's namespace, which cannot: the writeback cache then.
        expect = not self.ROOTLESS and kernel_has_passthrough() is None
        self.assertEqual(stats["passthrough"], expect, stats)
        if expect:
            self.assertGreaterEqual(stats["passthrough_opens"], 1, stats)

    # -- exit status and signals ------------------------------------------

    def test_exit_codes(self):
        cases = [(["lrpayload", "exit", "7"], 7),
                 (["lrpayload", "selfkill", "9"], 137),
                 (["lrpayload", "selfkill", "15"], 143),
                 (["/no/such/program"], 127),
                 (["no-such-program"], 127),
                 (["/etc/motd"], 126),
                 ([""], 127)]
        for cmd, want in cases:
            with self.subTest(cmd=cmd):
                r = self.lr.run(["run", "--rm", self.image] + cmd)
                self.assertEqual(r.returncode, want, r.stderr)
        r = self.lr.run(["run", "--rm", "--no-such-option", self.image])
        self.assertEqual(r.returncode, 125)
        self.assertEqual(len(r.stderr.decode().splitlines()), 1, r.stderr)
        # Started with SIGCHLD ignored (a disposition exec keeps): the
        # command was reaped by itself and its status lost (255).
        r = self.lr.run(["run", "--rm", self.image, "lrpayload", "exit", "7"],
                        preexec_fn=lambda: signal.signal(signal.SIGCHLD,
                                                         signal.SIG_IGN))
        self.assertEqual(r.returncode, 7, r.stderr)

    def test_signals_forwarded_by_launcher_and_init(self):
        p = self.lr.popen(["run", "--rm", "--name", "sig", self.image,
                           "lrpayload", "signals"])
        try:
            self.assertEqual(p.stdout.readline(), b"ready\n")
            # The launcher forwards to init, init to the command.
            pid = p.pid
            if self.user:
                # runuser's child is layerrun: signal it, not runuser.  The
                # command may print before the launcher records its pid.
                pid = lu.wait_for(lambda: self.lr.state_pids("sig").get(
                    "monitor_pid", 0))
            self.assertGreater(pid, 0)  # never kill(0): our own group
            # Every signal but the launcher's own (faults, job control):
            # one left at its default action (ALRM, PWR) would end the
            # launcher and leave the container running.
            for sig in ("HUP", "INT", "QUIT", "USR1", "USR2", "WINCH",
                        "ALRM", "PWR", "URG", "PIPE", "RTMIN+3"):
                num = signal.SIGRTMIN + 3 if sig == "RTMIN+3" else \
                    getattr(signal, "SIG" + sig)
                os.kill(pid, num)
                self.assertEqual(p.stdout.readline().decode(),
                                 "got %s\n" % sig)
            os.kill(pid, signal.SIGTERM)
            self.assertEqual(p.stdout.readline(), b"got TERM\n")
            self.assertEqual(p.wait(timeout=30), 42)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def test_terminal_relayed_to_a_closed_pipe(self):
        # `run -t ... | head`: the launcher's relay of the terminal meets
        # a pipe with no reader.  The command gets the SIGPIPE it would
        # have had writing there itself, and run returns its 141, as a
        # pipeline would; the launcher once died of it instead, and
        # left the container behind.
        def status_after_ten_bytes(name, script):
            p = self.lr.popen(["run", "--rm", "--name", name, "-t",
                               self.image, "sh", "-c", script])
            try:
                self.assertEqual(len(p.stdout.read(10)), 10)
                p.stdout.close()
                return p.wait(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stderr.close()

        self.assertEqual(status_after_ten_bytes("piped", "yes"),
                         128 + signal.SIGPIPE)
        self.assertNotIn("piped", self.run_ok(["ps", "-q"]).split())
        # A command that ignores SIGPIPE is hung up on (129) soon after,
        # rather than left filling a terminal nobody reads, which held
        # the launcher for ever.
        self.assertEqual(status_after_ten_bytes("piped2",
                                                "trap '' PIPE; yes"),
                         128 + signal.SIGHUP)
        # The launcher's own broken pipe is not the container's: run -d
        # printing the name to a pipe nobody reads ended the container
        # with the SIGPIPE that write earned the launcher.
        r, w = os.pipe()
        os.close(r)
        try:
            d = self.lr.run(["run", "-d", "--name", "quiet", self.image,
                             "sleep", "600"], stdout=w, capture_output=False,
                            stderr=subprocess.PIPE)
        finally:
            os.close(w)
        self.assertEqual(d.returncode, 0, d.stderr)
        time.sleep(1)
        self.assertRegex(self.run_ok(["ps"]), r"\nquiet +running ")
        self.run_ok(["rm", "-f", "quiet"])

    def test_kill_delivers_any_signal(self):
        # layerrun kill signals the init, "which forwards it to the
        # command": every signal the command could take, as podman's
        # kill (and an init such as catatonit or tini) delivers it, not
        # only the few the launcher forwards.  Status 0 for a signal
        # dropped on the way would hide it.
        sigs = ["USR1", "PWR", "URG", "TSTP", "WINCH", "40"]
        traps = "".join("trap 'echo got-%s' %s; " % (s, s) for s in sigs)
        self.detach("sigs", "sh", "-c", traps + "echo ready; "
                    "while :; do sleep 0.05; done")
        self.assertTrue(lu.wait_for(
            lambda: "ready" in self.run_ok(["logs", "sigs"])))
        for s in sigs:
            with self.subTest(sig=s):
                self.run_ok(["kill", "sigs", s])
                self.assertTrue(lu.wait_for(
                    lambda: "got-%s\n" % s in self.run_ok(["logs", "sigs"]),
                    timeout=10), self.run_ok(["logs", "sigs"]))
        # Real-time signals by name, as kill(1) spells them (40 is
        # glibc's SIGRTMIN + 6 and SIGRTMAX - 24).
        for n, name in enumerate(("SIGRTMIN+6", "rtmax-24"), start=2):
            self.run_ok(["kill", "sigs", name])
            self.assertTrue(lu.wait_for(
                lambda: self.run_ok(["logs", "sigs"]).count("got-40\n")
                == n, timeout=10), self.run_ok(["logs", "sigs"]))
        for bad in ("RTMIN+99", "RTMIN-1", "RTMAX+1", "RTMIN+"):
            r = self.lr.run(["kill", "sigs", bad])
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(b"unknown signal", r.stderr)
        self.run_ok(["rm", "-f", "sigs"])

    def test_detached_kill_logs_ps_rm(self):
        pids = self.detach("bg", "lrpayload", "signals")
        self.assertTrue(lu.pid_alive(pids["pid"]))
        ps = self.run_ok(["ps"])
        self.assertRegex(ps, r"\nbg +running ")
        self.assertEqual(self.run_ok(["ps", "-q"]).split(), ["bg"])
        self.run_ok(["kill", "bg", "USR1"])
        self.assertTrue(lu.wait_for(
            lambda: "got USR1" in self.run_ok(["logs", "bg"])))
        r = self.lr.run(["rm", "bg"])
        self.assertNotEqual(r.returncode, 0, "rm of a running container")
        self.run_ok(["kill", "bg"])  # TERM: the payload exits 42
        self.assertTrue(lu.wait_for(
            lambda: "exited(42)" in self.run_ok(["ps"])), self.run_ok(["ps"]))
        self.assertFalse(lu.pid_alive(pids["pid"]))
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(
            pids["daemon_pid"])), "layerfs outlived its container")
        self.assertIn("got TERM", self.run_ok(["logs", "bg"]))
        self.run_ok(["rm", "bg"])
        self.assertFalse(os.path.exists(self.container_dir("bg")))
        self.assertEqual(self.run_ok(["ps", "-q"]).split(), [])

    def test_container_whose_layerfs_was_killed(self):
        # A killed layerfs leaves its container running on a root that
        # answers ENOTCONN.  ps listed it as running, exec failed in the
        # command's own way and commit warned of a failed flush.  Now ps
        # says "broken", exec refuses it in one line, commit commits
        # what reached the upper layer with one warning, and a
        # foreground run says so once, while its command runs.
        pids = self.detach("lost", "sh", "-c",
                           "echo kept > /root/k; sleep 600")
        self.assertTrue(lu.wait_for(lambda: self.lr.run(
            ["exec", "lost", "cat", "/root/k"]).stdout == b"kept\n"))
        os.kill(pids["daemon_pid"], signal.SIGKILL)
        self.assertTrue(lu.wait_for(
            lambda: proc_state(pids["daemon_pid"]) in (None, "Z")))
        self.assertTrue(lu.wait_for(
            lambda: re.search(r"\nlost +broken ", self.run_ok(["ps"]))),
            self.run_ok(["ps"]))
        r = self.lr.run(["exec", "lost", "cat", "/root/k"])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertEqual(r.stderr.decode().splitlines(), [
            "layerrun: container lost has lost its files: its layerfs "
            "(pid %d) has ended; remove it with layerrun rm -f"
            % pids["daemon_pid"]])
        out_dir = os.path.join(self.user_dir("committed-lost"), "img")
        r = self.lr.run(["commit", "lost", out_dir])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn(b"has ended: what it wrote to the upper layer is "
                      b"committed", r.stderr)
        import layertool_util
        top = layertool_util.image_layers(out_dir)[0]
        with open(os.path.join(top, "root", "k")) as f:
            self.assertEqual(f.read(), "kept\n")
        self.run_ok(["rm", "-f", "lost"])
        self.assertFalse(os.path.exists(self.container_dir("lost")))

        p = self.lr.popen(["run", "--rm", "--name", "fg", self.image,
                           "lrpayload", "signals"])
        try:
            self.assertTrue(lu.wait_for(lambda: os.path.exists(
                self.container_dir("fg", "state")) and
                self.lr.state_pids("fg").get("pid", 0) > 0))
            daemon = self.lr.state_pids("fg")["daemon_pid"]
            os.kill(daemon, signal.SIGKILL)
            # Told while the command runs, after the grace the monitor
            # gives an init that is ending anyway.
            time.sleep(1.5)
            self.run_ok(["kill", "fg"])  # TERM: the payload exits 42
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 42, err)
        self.assertEqual(err.decode().count("layerfs (pid %d) was killed "
                                            "by signal 9 while the "
                                            "container runs" % daemon), 1,
                         err)

    def test_rm_keep_holds_the_upper_layer_out_of_reach(self):
        # `rm --keep` moves the upper layer out of the state directory,
        # which no other user may enter, to where they could have
        # entered (ROOT/NAME.upper, its root with the mode of the
        # container's "/"): a set-user-id file a root container made
        # was there for any host user to run.  It goes into a directory
        # only its owner enters.
        rc, _, err = self.sh("echo made > /made; chmod 4755 /made",
                             name="kept")
        self.assertEqual(rc, 0, err)
        out = self.run_ok(["rm", "--keep", "kept"]).strip()
        self.assertEqual(out, os.path.join(self.lr.root_dir, "kept.kept",
                                           "upper"))
        self.assertEqual(open(os.path.join(out, "made")).read(), "made\n")
        st = os.stat(os.path.dirname(out))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertFalse(os.path.exists(self.container_dir("kept")))
        self.assertEqual(self.run_ok(["ps", "-q"]).split(), [])

    def test_no_container_takes_the_name_of_a_kept_layer(self):
        # A container named a.kept had its upper layer replaced by a's
        # kept one at `rm --keep a`, and its rm then removed that.
        r = self.lr.run(["run", "--name", "a.kept", self.image, "true"])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn(b"'.kept'", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertFalse(os.path.exists(self.container_dir("a.kept")))
        # One an older layerrun let take it is not overwritten.
        self.sh_ok("echo mine > /data", name="b")
        self.sh_ok("echo precious > /data", name="c")
        os.rename(self.container_dir("b"), self.container_dir("c.kept"))
        r = self.lr.run(["rm", "--keep", "c"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"c.kept's directory", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        # Refused before anything was done: c is as it was.
        self.assertIn("c", self.run_ok(["ps", "-q"]).split())
        self.assertEqual(open(os.path.join(self.container_dir("c"),
                                           "upper", "data")).read(),
                         "precious\n")
        self.assertEqual(open(os.path.join(self.container_dir("c.kept"),
                                           "upper", "data")).read(),
                         "mine\n")

    def test_rm_of_a_deep_locked_upper_layer(self):
        # What a container leaves in its upper layer is removed whatever
        # its depth or modes: one directory open at a time (a tree as
        # deep as the launcher's descriptor limit made rm fail).
        import resource
        deep = "/deep/" + "d/" * 600
        self.sh_ok("mkdir -p %s && echo x > %sf && chmod 0500 /deep/d/d "
                   "&& chmod 0 %s" % (deep, deep, deep[:len(deep) // 2]),
                   name="deep")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        low = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
        r = self.lr.run(["rm", "deep"], preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (low, hard)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.container_dir("deep")))

    def test_rm_force_of_a_running_rm_container(self):
        # Killed by rm -f, an --rm container is removed by its own
        # monitor: rm finds nothing left to do, and says nothing.
        self.detach("gone", "sleep", "600", opts=["--rm"])
        r = self.lr.run(["rm", "-f", "gone"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.decode(), "")
        self.assertFalse(os.path.exists(self.container_dir("gone")))
        self.assertEqual(self.run_ok(["ps", "-q"]).split(), [])

    def kill_launcher_when(self, argv, name, ready, what):
        """Starts layerrun (ARGV, a full command line), waits until
        ready(state pids of container NAME) holds, SIGKILLs the launcher
        (the state's monitor) and gives those pids; fails saying WHAT
        never came."""
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            pids = lu.wait_for(lambda: os.path.exists(
                self.container_dir(name, "state")) and
                ready(self.lr.state_pids(name)) and
                self.lr.state_pids(name))
            self.assertTrue(pids, what)
            lu.kill_quietly(pids["monitor_pid"])
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        return pids

    def orphan_rm_container(self, name):
        """Starts `run --rm --name NAME IMAGE sleep 600` and SIGKILLs the
        launcher once the container runs; the state's pids."""
        pids = self.kill_launcher_when(
            self.lr.argv(["run", "--rm", "--name", name, self.image,
                          "sleep", "600"]), name,
            lambda pids: pids.get("pid"), "the container never ran")
        self.assertTrue(lu.pid_alive(pids["pid"]))
        return pids

    def test_rm_container_whose_launcher_was_killed(self):
        # With podman, conmon removes an --rm container whatever became
        # of the client.  Here the launcher is the monitor: SIGKILLed, it
        # leaves the container running, and whichever layerrun command
        # next finds it ended removes it, so that its name is free again.
        pids = self.orphan_rm_container("orphan")
        # Still running: kept, and shown as such.
        self.assertRegex(self.run_ok(["ps"]), r"\norphan +running ")
        self.run_ok(["kill", "orphan", "KILL"])
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(pids["pid"])))
        self.assertEqual(self.run_ok(["ps", "-q"]).split(), [])
        self.assertFalse(os.path.exists(self.container_dir("orphan")))
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(
            pids["daemon_pid"])), "layerfs outlived its container")
        self.run_ok(["run", "--rm", "--name", "orphan", self.image, "true"])
        # A name held by such a container is freed by run itself.
        pids = self.orphan_rm_container("orphan2")
        lu.kill_quietly(pids["pid"])
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(pids["pid"])))
        out = self.run_ok(["run", "--rm", "--name", "orphan2", self.image,
                           "echo", "again"])
        self.assertEqual(out, "again\n")
        self.assertEqual(self.run_ok(["ps", "-q"]).split(), [])

    def test_stale_state_detected_and_cleaned(self):
        pids = self.detach("stale", "sleep", "600")
        # The monitor and the container die unseen (a host crash, an OOM
        # kill): nobody records the exit.
        lu.kill_quietly(pids["monitor_pid"])
        lu.kill_quietly(pids["pid"])
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(pids["pid"])))
        self.assertTrue(lu.wait_for(
            lambda: "exited(?)" in self.run_ok(["ps"])), self.run_ok(["ps"]))
        with open(self.container_dir("stale", "state")) as f:
            self.assertIn("status=exited", f.read())
        self.run_ok(["rm", "stale"])
        self.assertFalse(os.path.exists(self.container_dir("stale")))
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(
            pids["daemon_pid"])), "layerfs outlived its container")

    @staticmethod
    def pids_running(*argv):
        """Host pids of the processes whose command line is ARGV."""
        want = b"\0".join(a.encode() for a in argv) + b"\0"
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if f.read() == want:
                        found.append(int(pid))
        return found

    def test_processes_of_a_host_pid_container_end_with_it(self):
        # With --pid host no pid namespace ends with the init: its
        # command's children, and the command itself when the init was
        # killed (rm -f), kept running, holding the container's mount
        # and its layerfs daemon.  They end with the container now,
        # from its cgroup or as the launcher's adopted children.
        for k, how in enumerate(("rm -f", "init killed")):
            with self.subTest(how=how):
                name = "host" + how.split()[0]
                # Numbers of this run alone, to find its processes.
                a, b = ("%d" % (7000000 + 4 * os.getpid() + 2 * k + i)
                        for i in (0, 1))
                pids = self.detach(name, "sh", "-c",
                                   "sleep %s & exec sleep %s" % (a, b),
                                   opts=("--pid", "host"))
                def both():
                    # The background sleep may run before the shell has
                    # become the other.
                    found = [self.pids_running("sleep", n) for n in (a, b)]
                    return found[0] + found[1] if all(found) else None
                left = lu.wait_for(both)
                self.assertTrue(left, "the container's sleeps never ran")
                self.assertEqual(len(left), 2, left)
                if how == "rm -f":
                    self.run_ok(["rm", "-f", name])
                else:
                    lu.kill_quietly(pids["pid"])
                self.assertTrue(lu.wait_for(lambda: not any(
                    lu.pid_alive(p) for p in left)),
                    "left running: %s" % left)
                self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(
                    pids["daemon_pid"])), "layerfs outlived its container")
                if how != "rm -f":
                    self.assertTrue(lu.wait_for(
                        lambda: "exited(137)" in self.run_ok(["ps"])),
                        self.run_ok(["ps"]))
                    self.run_ok(["rm", name])

    def test_detached_monitor_holds_none_of_the_callers_descriptors(self):
        # `layerrun run -d ... | cat`, or a pipe a script reads to its
        # end: the monitor held the caller's descriptors past stdio for
        # the container's whole life, so the reader waited for it.
        r, w = os.pipe()
        try:
            p = self.lr.popen(["run", "-d", "--name", "fds", self.image,
                               "sleep", "600"], pass_fds=(w,))
            os.close(w)
            w = -1
            self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())
            p.stdout.close()
            p.stderr.close()
            ready, _, _ = select.select([r], [], [], 30)
            self.assertTrue(ready, "the pipe stayed open")
            self.assertEqual(os.read(r, 1), b"")
            self.assertRegex(self.run_ok(["ps"]), r"\nfds +running ")
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)

    def test_launcher_killed_while_it_prepares(self):
        # Killed between the container's directory and its first state
        # (here while it reads a seccomp profile from a FIFO), the
        # launcher left a directory that held the name for good: ps did
        # not list it, rm did not know it, run said it existed.
        fifo = os.path.join(self.user_dir("fifo"), "profile")
        os.mkfifo(fifo)
        os.chown(fifo, self.uid, self.gid)
        self.kill_launcher_when(
            self.lr.argv(["run", "--name", "prep", "--security-opt",
                          "seccomp=" + fifo, self.image, "true"]), "prep",
            lambda pids: pids.get("monitor_pid"), "no state recorded")
        self.assertRegex(self.run_ok(["ps"]), r"\nprep +exited\(\?\)")
        self.run_ok(["rm", "prep"])
        self.assertFalse(os.path.exists(self.container_dir("prep")))
        self.run_ok(["run", "--rm", "--name", "prep", self.image, "true"])

    def test_rm_of_a_container_still_starting(self):
        # Its launcher alive, a container without a command yet is not
        # removed from under it by a plain rm; rm -f ends the launcher
        # and removes what it left.
        fifo = os.path.join(self.user_dir("fifo"), "profile")
        os.mkfifo(fifo)
        os.chown(fifo, self.uid, self.gid)
        with lu.reaped(self.lr.popen(["run", "--name", "slow",
                                      "--security-opt", "seccomp=" + fifo,
                                      self.image, "true"])) as p:
            launcher = lu.wait_for(lambda: os.path.exists(
                self.container_dir("slow", "state")) and
                self.lr.state_pids("slow").get("monitor_pid"))
            self.assertTrue(launcher, "no state recorded")
            r = self.lr.run(["rm", "slow"])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"container slow is starting", r.stderr)
            self.assertIsNone(p.poll())
            self.run_ok(["rm", "-f", "slow"])
            p.wait(timeout=30)
            self.assertFalse(os.path.exists(self.container_dir("slow")))

    def test_launchers_own_children_are_not_the_containers(self):
        # A shell's background job that `exec layerrun` made the
        # launcher's child is no leftover of a --pid host container.
        mark = "%d" % (8000000 + os.getpid())
        r = subprocess.run(
            ["sh", "-c", "sleep %s >/dev/null 2>&1 & exec \"$@\"" % mark,
             "sh"] +
            self.lr.argv(["run", "--rm", "--pid", "host", self.image,
                          "true"]),
            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        left = self.pids_running("sleep", mark)
        self.assertEqual(len(left), 1, "the caller's job was killed")
        for pid in left:
            lu.kill_quietly(pid)

    def test_daemon_of_a_start_whose_launcher_was_killed(self):
        # The launcher killed while its layerfs starts (stopped here by
        # a test hook): the daemon is in the state at once, and rm ends
        # it.  A rootless one, which holds its mount itself, served it
        # for ever before, with no state naming it.
        argv = self.lr.argv(["run", "--name", "half", self.image, "true"])
        at = argv.index(lu.LAYERRUN)
        argv[at:at] = ["env", "LAYERRUN_TEST_DAEMON_SIGNAL=%d"
                       % signal.SIGSTOP]
        daemon = self.kill_launcher_when(
            argv, "half",
            lambda pids: proc_state(pids.get("daemon_pid", 0)) == "T",
            "the daemon is not in the state")["daemon_pid"]
        self.assertTrue(lu.pid_alive(daemon))
        self.run_ok(["rm", "-f", "half"])
        self.assertTrue(lu.wait_for(
            lambda: proc_state(daemon) in (None, "Z")), "layerfs outlived rm")
        self.assertFalse(os.path.exists(self.container_dir("half")))

    def test_fresh_upper_removed_when_the_start_fails(self):
        # An --upper DIR the failed start made itself goes with it; one
        # that was there stays.
        fresh = os.path.join(self.user_dir("uppers"), "fresh")
        kept = self.user_dir("kept-upper")
        for upper in (fresh, kept):
            r = self.lr.run(["run", "--rm", "--upper", upper, "-u",
                             "nosuchuser", self.image, "true"])
            self.assertEqual(r.returncode, 125, r.stderr)
        self.assertFalse(os.path.exists(fresh))
        self.assertTrue(os.path.isdir(kept))
        # A command's own 125 is no failed start: its layer stays.
        made = os.path.join(self.user_dir("uppers"), "made")
        r = self.lr.run(["run", "--rm", "--upper", made, self.image, "sh",
                         "-c", "exit 125"])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertTrue(os.path.isdir(made))
        # A failure of the command's own setup, inside the container
        # before its exec, is a failed start too (it was taken for the
        # command's 125, and the directory stayed).
        late = os.path.join(self.user_dir("uppers"), "late")
        r = self.lr.run(["run", "--rm", "--upper", late, "-w", "/etc/motd",
                         self.image, "true"])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertEqual(r.stderr.decode().splitlines(), [
            "layerrun: cannot enter the working directory '/etc/motd': "
            "Not a directory"])
        self.assertFalse(os.path.exists(late))

    def test_detached_start_that_fails_before_the_exec(self):
        # run -d said the name and exit 0, and the reason went to the
        # container's log, which ps listed as exited(125).  Now the
        # start fails as a start: the one line on the caller's stderr,
        # the status of the failure, no container left.
        for opts, cmd, want, line in (
                (["-w", "/etc/motd"], ["true"], 125,
                 "layerrun: cannot enter the working directory "
                 "'/etc/motd': Not a directory"),
                ([], ["no-such-program"], 127,
                 "layerrun: 'no-such-program' was not found in the "
                 "container's PATH"),
                ([], ["/etc/motd"], 126,
                 "layerrun: cannot run '/etc/motd': Permission denied")):
            with self.subTest(cmd=cmd):
                r = self.lr.run(["run", "-d", "--name", "early"] + opts +
                                [self.image] + cmd)
                self.assertEqual(r.returncode, want, r.stderr)
                self.assertEqual(r.stdout, b"")
                self.assertEqual(r.stderr.decode().splitlines(), [line])
                self.assertEqual(self.run_ok(["ps", "-q"]).split(), [])
                self.assertFalse(os.path.exists(self.container_dir("early")))
        # Once the command runs, its status is its own, in ps.
        self.detach("ran", "sh", "-c", "echo said; exit 125")
        self.assertTrue(lu.wait_for(
            lambda: re.search(r"\nran +exited\(125\) ",
                              self.run_ok(["ps"]))), self.run_ok(["ps"]))
        self.assertEqual(self.run_ok(["logs", "ran"]), "said\n")
        self.run_ok(["rm", "ran"])

    def test_layerfs_ending_before_it_serves(self):
        # A layerfs that fails (with its own line) or is killed before it
        # serves the root: one clear line, status 125, nothing left, on
        # either way of starting it (daemon.h).  It fails by itself on an
        # upper layer that is also a lower one (which only layerfs
        # checks); a test hook of the launcher's kills it.
        both = self.user_dir("both")
        refused = self.lr.argv(["run", "--rm", "--upper", both, "--lower",
                                both, "/bin/true"])
        killed = self.lr.argv(["run", "--rm", self.image, "/bin/true"])
        at = killed.index(lu.LAYERRUN)
        killed[at:at] = ["env", "LAYERRUN_TEST_DAEMON_SIGNAL=%d"
                         % signal.SIGKILL]
        for argv, line in (
                (refused, "layerfs: upperdir '%s' is also a lower layer"
                 % both),
                (killed, "layerfs was killed (signal 9) before it "
                 "served the container's root")):
            r = subprocess.run(argv, capture_output=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            err = r.stderr.decode()
            self.assertEqual(r.returncode, 125, err)
            self.assertIn(line, err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertEqual([n for n in os.listdir(self.lr.root_dir)
                              if not n.startswith(".")], [])
        self.assertTrue(os.path.isdir(both), "the user's --upper was "
                        "removed")

    # -- exec and shared namespaces ---------------------------------------

    def test_exec_sees_same_processes_and_files(self):
        pids = self.detach("ex", "sh", "-c",
                           "echo from-run > /tmp/mark; exec sleep 600",
                           opts=["-e", "FROM_RUN=yes", "-w", "/tmp"])
        self.assertTrue(lu.wait_for(lambda: os.path.exists(
            self.container_dir("ex", "upper", "tmp", "mark"))))
        out = self.run_ok(["exec", "ex", "sh", "-c",
                           "ps -o pid,args; cat /tmp/mark; pwd; "
                           "echo $FROM_RUN; hostname; "
                           "echo from-exec > /tmp/mark2"])
        self.assertRegex(out, r"\n +1 .*layerrun-init")
        self.assertRegex(out, r"\n +2 sleep 600")
        self.assertIn("from-run\n/tmp\nyes\nex\n", out)
        with open(self.container_dir("ex", "upper", "tmp", "mark2")) as f:
            self.assertEqual(f.read(), "from-exec\n")
        r = self.lr.run(["exec", "ex", "lrpayload", "exit", "9"])
        self.assertEqual(r.returncode, 9)
        self.assertEqual(self.run_ok(["exec", "-u", "1000", "ex", "id",
                                      "-u"]).strip(), "1000")
        # The same pid namespace as the init.
        ns = os.readlink("/proc/%d/ns/pid" % pids["pid"])
        out = self.run_ok(["exec", "ex", "readlink", "/proc/self/ns/pid"])
        self.assertEqual(out.strip(), ns)
        self.run_ok(["rm", "-f", "ex"])

    def test_net_container_joins_namespace(self):
        pids = self.detach("netowner", "sleep", "600")
        out = self.sh_ok("readlink /proc/self/ns/net; "
                         "readlink /proc/self/ns/uts; "
                         "cat /sys/class/net/lo/operstate",
                         "--net", "container:netowner")
        want = os.readlink("/proc/%d/ns/net" % pids["pid"])
        lines = out.split()
        self.assertEqual(lines[0], want)
        self.assertNotEqual(lines[1], os.readlink(
            "/proc/%d/ns/uts" % pids["pid"]))
        self.assertIn(lines[2], ("unknown", "up"))
        # A new network namespace by default, loopback up.
        out = self.sh_ok("readlink /proc/self/ns/net; ls /sys/class/net")
        self.assertNotEqual(out.split()[0], want)
        self.assertEqual(out.split()[1:], ["lo"])
        r = self.lr.run(["run", "--rm", "--net", "container:nobody-here",
                         self.image, "true"])
        self.assertEqual(r.returncode, 125)
        self.assertIn("no such container", r.stderr.decode())

    # -- volumes -----------------------------------------------------------

    def test_volumes_rw_ro_and_upper(self):
        data = self.user_dir("vol-data")
        with open(os.path.join(data, "in.txt"), "w") as f:
            f.write("host data\n")
        os.chown(os.path.join(data, "in.txt"), self.uid, self.gid)
        ro = self.user_dir("vol-ro")
        single = os.path.join(self.user_dir("vol-file"), "cfg")
        with open(single, "w") as f:
            f.write("one file\n")
        out = self.sh_ok(
            "cat /data/in.txt; echo written > /data/out.txt; "
            "echo x > /ro/denied 2>&1 || echo RO-REFUSED; cat /etc/app/cfg",
            "-v", data + ":/data", "-v", ro + ":/ro:ro",
            "-v", single + ":/etc/app/cfg:ro", name="vol")
        self.assertEqual(out.splitlines()[0], "host data")
        self.assertIn("RO-REFUSED", out)
        self.assertIn("one file", out)
        with open(os.path.join(data, "out.txt")) as f:
            self.assertEqual(f.read(), "written\n")
        self.assertEqual(os.listdir(ro), [])
        # The mount points are in the upper layer, the contents are not.
        upper = self.container_dir("vol", "upper")
        self.assertEqual(os.listdir(os.path.join(upper, "data")), [])
        self.assertTrue(os.path.isdir(os.path.join(upper, "ro")))
        self.assertTrue(os.path.exists(os.path.join(upper, "etc", "app",
                                                    "cfg")))
        r = self.lr.run(["run", "--rm", "-v", data + ":/x/../etc",
                         self.image, "true"])
        self.assertEqual(r.returncode, 125)
        self.assertIn("..", r.stderr.decode())

    def mount_line(self, out, target):
        """(options, type, id, parent id) of the mount at TARGET in a
        /proc/self/mountinfo dump."""
        for line in out.splitlines():
            f = line.split()
            if len(f) > 4 and f[4] == target:
                return f[5], f[f.index("-") + 1], f[0], f[1]
        self.fail("%s is not mounted: %s" % (target, out))

    def test_tmpfs_mounts(self):
        data = self.user_dir("tmpfs-vol")
        out = self.sh_ok(
            "cat /proc/self/mountinfo; echo ==; cat /etc/motd; "
            "echo new > /etc/new; ls /empty; echo ==; "
            "touch /scratch/f /data/cache/f && echo WROTE; "
            "head -c 100000 /dev/zero > /small/f || echo FULL; "
            "stat -c %a /small",
            "--tmpfs", "/scratch", "--tmpfs", "/etc",
            "--tmpfs", "/empty:notmpcopyup",
            "--tmpfs", "/data/cache:exec", "-v", data + ":/data",
            "--tmpfs", "/small:size=64k,mode=700,ro,suid,exec,rw",
            name="tmp")
        mounts, copied, written = out.split("==\n")
        opts, fstype = self.mount_line(mounts, "/scratch")[:2]
        self.assertEqual(fstype, "tmpfs")
        self.assertEqual(set(opts.split(",")) & {"rw", "nosuid", "nodev",
                                                 "noexec"},
                         {"rw", "nosuid", "nodev", "noexec"})
        # Given after the tmpfs inside it, the volume is mounted first:
        # the tmpfs sits on it, not under it.
        self.assertEqual(self.mount_line(mounts, "/data/cache")[3],
                         self.mount_line(mounts, "/data")[2])
        self.assertNotIn("noexec", self.mount_line(mounts, "/data/cache")[0])
        small = self.mount_line(mounts, "/small")[0].split(",")
        self.assertIn("rw", small)
        self.assertNotIn("nosuid", small)
        # tmpcopyup: the image's /etc is in its tmpfs; notmpcopyup: empty.
        self.assertEqual(copied, "from the image\n")
        self.assertIn("WROTE", written)
        self.assertIn("FULL", written)
        self.assertEqual(written.split()[-1], "700")
        self.assertTrue(os.path.isdir(os.path.join(data, "cache")))
        self.assertEqual(os.listdir(os.path.join(data, "cache")), [])
        # Nothing written to a tmpfs reaches the upper layer.
        upper = self.container_dir("tmp", "upper")
        self.assertEqual(os.listdir(os.path.join(upper, "scratch")), [])
        self.assertFalse(os.path.exists(os.path.join(upper, "etc", "new")))
        for bad in ("/x:size=1m,bogus", "/x:uid", "relative", "/proc/x",
                    "/x:size=lots"):
            with self.subTest(tmpfs=bad):
                r = self.lr.run(["run", "--rm", "--tmpfs", bad, self.image,
                                 "true"])
                self.assertEqual(r.returncode, 125)
                err = r.stderr.decode()
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("tmpfs", err)

    def test_read_only_root(self):
        data = self.user_dir("ro-vol")
        script = ("touch /x 2>/dev/null || echo ROOT-RO; "
                  "touch /tmp/a /var/tmp/b /run/c /data/d && echo TMP-RW; "
                  "stat -c %a /tmp /var/tmp; pwd")
        out = self.sh_ok(script, "--read-only", "-v", data + ":/data",
                         "-w", "/made/here", name="ro")
        lines = out.split()
        self.assertEqual(lines[:2], ["ROOT-RO", "TMP-RW"])
        self.assertEqual(lines[2:4], ["1777", "1777"])
        self.assertEqual(lines[4], "/made/here")
        self.assertTrue(os.path.exists(os.path.join(data, "d")))
        upper = self.container_dir("ro", "upper")
        self.assertFalse(os.path.exists(os.path.join(upper, "x")))
        self.assertFalse(os.path.exists(os.path.join(upper, "tmp", "a")))
        # The tmpfs can be left out, or one replaced by the caller's.
        out = self.sh_ok("touch /tmp/a 2>/dev/null || echo TMP-RO; "
                         "touch /run/a 2>/dev/null || echo RUN-RO",
                         "--read-only", "--read-only-tmpfs=false")
        self.assertEqual(out.split(), ["TMP-RO", "RUN-RO"])
        out = self.sh_ok("grep ' /tmp ' /proc/self/mountinfo",
                         "--read-only", "--tmpfs", "/tmp:size=128k")
        self.assertIn("size=128k", out)
        # exec'd processes see the same read-only root.
        self.detach("rox", "sleep", "600", opts=("--read-only",))
        out = self.run_ok(["exec", "rox", "sh", "-c",
                           "touch /y 2>/dev/null || echo ROOT-RO; "
                           "touch /tmp/y && echo TMP-RW"])
        self.assertEqual(out.split(), ["ROOT-RO", "TMP-RW"])

    def test_env_file_and_mount(self):
        envf = os.path.join(self.user_dir("envf"), "env")
        with open(envf, "w") as f:
            f.write("# set by the file\n\nA=from file\nB=\"kept\"\n"
                    "C=file\n")
        os.chown(envf, self.uid, self.gid)
        data = self.user_dir("mnt-data")
        with open(os.path.join(data, "f"), "w") as f:
            f.write("host\n")
        script = ('echo "$A|$B|$C"; cat /h/f; touch /h/x 2>/dev/null || '
                  'echo RO; grep " /t " /proc/self/mountinfo')
        out = self.sh_ok(script, "-e", "C=flag", "--env-file", envf,
                         "--mount", "type=bind,source=%s,target=/h,"
                         "readonly" % data,
                         "--mount", "type=tmpfs,dst=/t,tmpfs-size=64k",
                         name="em")
        lines = out.splitlines()
        self.assertEqual(lines[:3], ['from file|"kept"|flag', "host", "RO"])
        self.assertIn("size=64k", lines[3])
        self.assertIn("noexec", lines[3])
        self.detach("emx", "sleep", "600")
        out = self.run_ok(["exec", "--env-file", envf, "-e", "A=flag",
                           "emx", "sh", "-c", 'echo "$A|$C"'])
        self.assertEqual(out.strip(), "flag|file")
        for args in (["--env-file", envf + ".missing"],
                     ["--mount", "type=volume,target=/v"]):
            with self.subTest(args=args):
                r = self.lr.run(["run", "--rm"] + args + [self.image,
                                                          "true"])
                self.assertEqual(r.returncode, 125)
                self.assertEqual(len(r.stderr.decode().splitlines()), 1)

    def test_shm_size_and_ulimits(self):
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < 1024:
            self.skipTest("the hard open-files limit here is below 1024")
        out = self.sh_ok("grep ' /dev/shm ' /proc/self/mountinfo; "
                         "ulimit -n; ulimit -Hn; ulimit -c",
                         "--shm-size", "8m", "--ulimit", "nofile=300:1000",
                         "--ulimit", "core=0", name="lim")
        lines = out.splitlines()
        self.assertIn("size=8192k", lines[0])
        self.assertEqual(lines[1:], ["300", "1000", "0"])
        # exec'd commands get them too; the default /dev/shm is 64m.
        self.detach("limx", "sleep", "600", opts=("--ulimit", "nofile=200"))
        out = self.run_ok(["exec", "limx", "sh", "-c",
                           "ulimit -n; grep ' /dev/shm ' /proc/self/mountinfo"])
        self.assertEqual(out.splitlines()[0], "200")
        self.assertIn("size=65536k", out)
        # Above the launcher's hard limit: one line, no container.
        if hard != resource.RLIM_INFINITY:
            r = self.lr.run(["run", "--rm", "--ulimit",
                             "nofile=%d" % (hard + 1), self.image, "true"])
            self.assertEqual(r.returncode, 125)
            self.assertIn("hard limit", r.stderr.decode())
        # nofile=0 is the command's limit, not the launcher's: set once
        # its descriptors are in place, and a static program still runs.
        out = self.sh_ok("ulimit -n; ulimit -Hn", "--ulimit", "nofile=0",
                         name="lim0")
        self.assertEqual(out.splitlines(), ["0", "0"])
        for bad in ("nofile=2:1", "files=1", "nofile=x"):
            r = self.lr.run(["run", "--rm", "--ulimit", bad, self.image,
                             "true"])
            self.assertEqual(r.returncode, 125)
            self.assertEqual(len(r.stderr.decode().splitlines()), 1)

    # -- commit ------------------------------------------------------------

    def test_commit_contents(self):
        self.sh_ok("echo committed > /root/c.txt; rm /etc/motd",
                   "--add-host", "h:10.0.0.1", "-v",
                   self.user_dir("cvol") + ":/vol", name="cm")
        out_dir = os.path.join(self.user_dir("committed"), "img2")
        self.run_ok(["commit", "-m", "test commit", "cm", out_dir])
        import layertool_util
        layers = layertool_util.image_layers(out_dir)
        self.assertEqual(len(layers), len(self.image_layers()) + 1)
        top = layers[0]
        names = set()
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                names.add(os.path.relpath(os.path.join(d, n), top))
        self.assertIn("root/c.txt", names)
        self.assertIn("etc/.wh.motd", names)
        for absent in ("etc/hosts", "etc/hostname", "etc/resolv.conf"):
            self.assertNotIn(absent, names)
        # A container of the new image sees the change.
        r = self.lr.run(["run", "--rm", out_dir, "/bin/sh", "-c",
                         "cat /root/c.txt; ls /etc"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"committed", r.stdout)
        self.assertNotIn(b"motd", r.stdout)

    def test_commit_of_a_running_container(self):
        # Its writes are flushed into the upper layer first, rootless
        # too: the flush opened the container's root from outside its
        # user namespace, which a FUSE mount refuses, and every rootless
        # commit of a running container warned that it could not.
        self.detach("live", "sh", "-c",
                    "head -c 3000000 /dev/zero > /root/live.bin; "
                    "echo done > /root/ready; sleep 600")
        self.assertTrue(lu.wait_for(lambda: self.lr.run(
            ["exec", "live", "cat", "/root/ready"]).stdout == b"done\n"),
            "the container did not write its file")
        out_dir = os.path.join(self.user_dir("committed-live"), "img")
        r = self.lr.run(["commit", "live", out_dir])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        import layertool_util
        top = layertool_util.image_layers(out_dir)[0]
        self.assertEqual(os.path.getsize(os.path.join(top, "root",
                                                      "live.bin")),
                         3000000)

    def test_commit_keeps_hard_links(self):
        # One name of the image's hard link changed, the other never
        # touched: the container shows both changed, and so does the
        # committed image (the mount's hard-link index goes to export).
        out = self.sh_ok("echo changed >> /etc/linked; cat /home/linked",
                         name="hl")
        self.assertEqual(out, "one file, two names\nchanged\n")
        out_dir = os.path.join(self.user_dir("committed"), "img-hl")
        self.run_ok(["commit", "hl", out_dir])
        r = self.lr.run(["run", "--rm", out_dir, "/bin/sh", "-c",
                         "cat /home/linked; stat -c '%i %h' /etc/linked "
                         "/home/linked"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[:2], ["one file, two names", "changed"])
        self.assertEqual(lines[2], lines[3])
        self.assertTrue(lines[2].endswith(" 2"), lines)

    # -- limits ------------------------------------------------------------

    def test_memory_limit_stops_a_hog(self):
        own = self.layerrun_dirs_in_my_own_cgroups()
        for d in own:
            with contextlib.suppress(OSError):
                os.rmdir(d)  # an older layerrun's, empty
        r = self.lr.run(["run", "--rm", "--memory", "32m", self.image,
                         "lrpayload", "memhog", "256"])
        err = r.stderr.decode()
        if r.returncode == 125 and "cgroup" in err:
            # Refused with the reason, never ignored: the rootless case on
            # a cgroup v1 host, or no delegation.
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.skipTest("memory limit not applicable here: " +
                          err.strip())
        self.assertNotIn(b"done", r.stdout)
        self.assertIn(r.returncode, (137, 1), err)
        # Root's container cgroups go at the top of each hierarchy: a
        # v1 one made in the caller's own cgroup (a login session's)
        # left a layerrun/ directory that kept the session's cgroup from
        # going when it ended.
        if not self.user:
            self.assertEqual([d for d in own if os.path.exists(d)], [])
        # Without the limit the same hog finishes.
        r = self.lr.run(["run", "--rm", self.image, "lrpayload", "memhog",
                         "64"])
        self.assertEqual(r.stdout, b"done\n")

    @staticmethod
    def layerrun_dirs_in_my_own_cgroups():
        """ROOT/OWN/layerrun of each v1 hierarchy where this process is
        not at the top."""
        out = []
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if path == "/" or not ctrls or ctrls.startswith("name="):
                    continue
                out += [os.path.join("/sys/fs/cgroup", c, path.lstrip("/"),
                                     "layerrun") for c in ctrls.split(",")]
        return out

    def test_pids_limit(self):
        r = self.lr.run(["run", "--rm", "--pids-limit", "5", self.image,
                         "sh", "-c",
                         "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; "
                         "kill $(jobs -p); echo end"])
        if r.returncode == 125 and b"cgroup" in r.stderr:
            self.skipTest("pids limit not applicable here: " +
                          r.stderr.decode().strip())
        self.assertIn(b"can't fork", r.stderr + r.stdout)


class RootTests(Behaviour, LayerrunCase):
    ROOTLESS = False


class RootlessTests(Behaviour, LayerrunCase):
    ROOTLESS = True

    def test_subid_range_maps_many_ids(self):
        if not lu.has_subid_range(self.user or
                                  subprocess.getoutput("id -un")):
            self.skipTest("no /etc/subuid range for the test user")
        out = self.sh_ok("cat /proc/self/uid_map; touch /tmp/f; "
                         "chown 1000:1000 /tmp/f; stat -c %u:%g /tmp/f",
                         "--userns", "subid")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["0", str(self.uid), "1"])
        self.assertEqual(len(lines[1].split()), 3)
        self.assertEqual(lines[-1], "1000:1000")

    def need_subid_range(self):
        if not lu.has_subid_range(self.user or
                                  subprocess.getoutput("id -un")):
            self.skipTest("no /etc/subuid range for the test user")

    def test_shared_userns_is_kept_and_joined(self):
        # auto with a range: the first start maps a namespace with the
        # helpers and leaves a keeper in it; the next start joins it.
        # subid still makes one of its own.
        self.need_subid_range()
        script = "readlink /proc/self/ns/user; cat /proc/self/uid_map"
        first = self.sh_ok(script).split("\n")
        keeper = self.lr.userns_keeper()
        self.assertIsNotNone(keeper, "no keeper recorded after the start")
        self.assertEqual(os.readlink("/proc/%d/ns/user" % keeper),
                         first[0])
        second = self.sh_ok(script).split("\n")
        self.assertEqual(second[0], first[0])
        self.assertEqual(self.lr.userns_keeper(), keeper)
        maps = [l.split() for l in second[1:] if l.strip()]
        self.assertEqual(maps[0], ["0", str(self.uid), "1"])
        self.assertEqual(len(maps), 2, second)
        own = self.sh_ok(script, "--userns", "subid").split("\n")
        self.assertNotEqual(own[0], first[0])
        self.assertEqual(own[1:], second[1:])
        # It holds nothing of the launcher's: its stdio is /dev/null
        # (else a caller reading layerrun's output would wait for it)
        # and its only other descriptor is the state root.
        fds = {int(n): os.readlink("/proc/%d/fd/%s" % (keeper, n))
               for n in os.listdir("/proc/%d/fd" % keeper)}
        self.assertEqual(fds.pop(0), "/dev/null")
        self.assertEqual(fds.pop(1), "/dev/null")
        self.assertEqual(fds.pop(2), "/dev/null")
        self.assertEqual(list(fds.values()),
                         [os.path.realpath(self.lr.root_dir)])
        # Its own session: a terminal's Ctrl-C is not for it.
        self.assertEqual(os.getsid(keeper), keeper)

    def test_killed_keeper_is_replaced(self):
        self.need_subid_range()
        self.sh_ok("true")
        keeper = self.lr.userns_keeper()
        self.assertIsNotNone(keeper)
        os.kill(keeper, signal.SIGKILL)
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(keeper)))
        out = self.sh_ok("readlink /proc/self/ns/user").strip()
        again = self.lr.userns_keeper()
        self.assertIsNotNone(again)
        self.assertNotEqual(again, keeper)
        self.assertEqual(os.readlink("/proc/%d/ns/user" % again), out)

    def test_keeper_ends_with_its_state_root(self):
        self.need_subid_range()
        root = self.user_dir("other-root")
        lr = lu.Launcher(root, self.user)
        r = lr.run(["run", "--rm", self.image, "true"])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        keeper = lr.userns_keeper()
        self.assertIsNotNone(keeper)
        shutil.rmtree(root)
        # It looks every few seconds whether it is still wanted.
        self.assertTrue(lu.wait_for(lambda: not lu.pid_alive(keeper),
                                    timeout=20),
                        "the keeper outlived its state root")

    def test_rm_uses_the_kept_namespace(self):
        # Files only the container's other ids may remove go from the
        # kept namespace, with no helper: rm works with a newgidmap
        # that refuses.
        self.need_subid_range()
        base = self.user_dir("kept-base")
        lu.write_rootfs(base, self.busybox)
        subprocess.run(["chown", "-R", "%d:%d" % (self.uid, self.gid),
                        base], check=True)
        self.run_ok(["run", "--name", "priv", "--lower", base, "/bin/sh",
                     "-c", "mkdir -p /srv/priv && echo x > /srv/priv/f && "
                     "chown -R 1000:1000 /srv/priv && chmod 700 /srv/priv"])
        self.assertIsNotNone(self.lr.userns_keeper())
        fake = self.refusing_newgidmap("refusing-rm")
        argv = self.lr.argv(["rm", "priv"])
        argv[argv.index(lu.LAYERRUN):argv.index(lu.LAYERRUN)] = [
            "env", "PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin" % fake]
        r = subprocess.run(argv, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertFalse(os.path.exists(self.container_dir("priv")))

    def refusing_newgidmap(self, name):
        """A directory for PATH's front whose newuidmap is the real one
        and whose newgidmap refuses."""
        real = shutil.which("newuidmap") or "/usr/bin/newuidmap"
        fake = self.user_dir(name)
        os.symlink(real, os.path.join(fake, "newuidmap"))
        with open(os.path.join(fake, "newgidmap"), "w") as f:
            f.write("#!/bin/sh\necho 'newgidmap: refused' >&2\nexit 1\n")
        os.chmod(os.path.join(fake, "newgidmap"), 0o755)
        return fake

    def test_refused_map_ends_the_run_with_nothing_left(self):
        # A map helper that refuses ends the run before its command
        # runs, with the helper's reason and ours, and leaves no
        # container behind.
        if not lu.has_subid_range(self.user or
                                  subprocess.getoutput("id -un")):
            self.skipTest("no /etc/subuid range for the test user")
        fake = self.refusing_newgidmap("refusing")
        argv = self.lr.argv(["run", "--name", "refused", "--userns",
                             "subid", self.image, "true"])
        argv[argv.index(lu.LAYERRUN):argv.index(lu.LAYERRUN)] = [
            "env", "PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin" % fake]
        r = subprocess.run(argv, capture_output=True, timeout=60)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 125, err)
        self.assertIn("newgidmap: refused", err)
        self.assertIn("layerrun: newgidmap failed", err)
        self.assertFalse(os.path.exists(self.container_dir("refused")))
        # The same run with the real helpers.
        self.run_ok(["run", "--rm", "--userns", "subid", self.image,
                     "true"])

    def test_removal_stopped_halfway_keeps_the_state(self):
        # Files only the container's other ids may remove (a private
        # directory of uid 1000) go from a user namespace like its own,
        # once removing as ourselves failed; when that namespace cannot
        # be made (a helper refusing), rm fails with the reason and keeps
        # the state file, and a later rm finishes.
        if not lu.has_subid_range(self.user or
                                  subprocess.getoutput("id -un")):
            self.skipTest("no /etc/subuid range for the test user")
        fake = self.refusing_newgidmap("fakehelpers")
        # A plain layer, not the imported image: owners are then real
        # (an imported rootless image keeps them in xattrs instead).
        base = self.user_dir("half-base")
        lu.write_rootfs(base, self.busybox)
        subprocess.run(["chown", "-R", "%d:%d" % (self.uid, self.gid),
                        base], check=True)
        self.run_ok(["run", "--name", "half", "--userns", "subid",
                     "--lower", base, "/bin/sh", "-c",
                     "mkdir -p /srv/priv && echo x > /srv/priv/f && "
                     "chown -R 1000:1000 /srv/priv && chmod 700 /srv/priv"])
        argv = self.lr.argv(["rm", "half"])
        argv[argv.index(lu.LAYERRUN):argv.index(lu.LAYERRUN)] = [
            "env", "PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin" % fake]
        r = subprocess.run(argv, capture_output=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("newgidmap failed", r.stderr.decode())
        self.assertTrue(os.path.exists(self.container_dir("half",
                                                          "state")))
        self.run_ok(["rm", "half"])
        self.assertFalse(os.path.exists(self.container_dir("half")))

    def test_fuse_not_accessible_names_the_fix(self):
        if not lfstest.is_root():
            self.skipTest("needs root to change the mode of /dev/fuse")
        with lu.fuse_mode(0o600):
            r = self.lr.run(["run", "--rm", self.image, "true"])
        err = r.stderr.decode().strip()
        self.assertEqual(r.returncode, 125)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("/dev/fuse", err)
        self.assertIn("chmod 0666 /dev/fuse", err)

    def test_user_namespaces_disabled_names_the_fix(self):
        if not lfstest.is_root():
            self.skipTest("needs root to change user.max_user_namespaces")
        knob = "/proc/sys/user/max_user_namespaces"
        with open(knob) as f:
            old = f.read().strip()
        try:
            with open(knob, "w") as f:
                f.write("0\n")
        except OSError as e:
            self.skipTest("cannot change %s here: %s" % (knob, e))
        try:
            r = self.lr.run(["run", "--rm", self.image, "true"])
        finally:
            with open(knob, "w") as f:
                f.write(old + "\n")
        err = r.stderr.decode().strip()
        self.assertEqual(r.returncode, 125, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("user.max_user_namespaces=0", err)
        self.assertIn("sysctl -w user.max_user_namespaces=", err)

    def test_no_subid_range_names_the_fix(self):
        if not lfstest.is_root():
            self.skipTest("needs root to run as a user without ranges")
        if lu.has_subid_range("nobody"):
            self.skipTest("nobody has a subuid range here")
        nobody = pwd.getpwnam("nobody")
        root = os.path.join(self.user_dir("nobody"), "state")
        os.makedirs(root)
        os.chmod(os.path.dirname(root), 0o755)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        os.chmod(root, 0o700)
        # The image's layer store is its importer's alone (0700): opened
        # to nobody for this run.
        store = os.path.dirname(self.image_layers()[0])
        mode = os.stat(store).st_mode
        os.chmod(store, 0o755)
        try:
            r = subprocess.run(["runuser", "-u", "nobody", "--",
                                lu.LAYERRUN, "--root", root, "run", "--rm",
                                "--userns", "subid", self.image, "true"],
                               capture_output=True, timeout=60)
        finally:
            os.chmod(store, mode)
        err = r.stderr.decode().strip()
        self.assertEqual(r.returncode, 125, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("no subordinate uid range for nobody", err)
        self.assertIn("usermod --add-subuids", err)

    def test_root_writable_by_others_refused(self):
        # Others could plant a symlink where a container's mountpoint or
        # state goes (found by review): one line, nothing made.
        root = self.user_dir("shared-root")
        os.chmod(root, 0o777)
        r = subprocess.run(self.lr.as_user([lu.LAYERRUN, "--root", root,
                                            "run", "--rm", self.image,
                                            "true"]),
                           capture_output=True, timeout=60)
        err = r.stderr.decode().strip()
        self.assertEqual(r.returncode, 125, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("may be written by other users (mode 777)", err)
        self.assertEqual(os.listdir(root), [])

    def test_state_dir_private_without_xdg_runtime_dir(self):
        env = dict(os.environ)
        env.pop("XDG_RUNTIME_DIR", None)
        tmp = self.user_dir("tmpdir")
        env["TMPDIR"] = tmp
        argv = [lu.LAYERRUN, "run", "--rm", self.image, "true"]
        if self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        r = subprocess.run(argv, env=env, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = os.path.join(tmp, "layerrun-%d" % self.uid)
        st = os.stat(d)
        self.assertEqual(st.st_uid, self.uid)
        self.assertEqual(st.st_mode & 0o777, 0o700)


if __name__ == "__main__":
    lfstest.main()

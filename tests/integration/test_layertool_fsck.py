"""layertool fsck: the work directory of a real layerfs mount, left by
a clean unmount, by a crash at a chosen instruction (LFS_FAULT) or by
changes the mount never sees the end of, checked against its layers and
repaired; the mount after the repair shows what it showed before, with
the right link counts."""

import json
import os
import signal
import subprocess
import sys

import lfstest
import layertool_util as lt

LOWER = {
    "a/f": "shared data\n",
    "a/g": ("hardlink", "a/f"),
    "b/h": ("hardlink", "a/f"),
    "moved/i": ("hardlink", "a/f"),
    "c/x": "x data\n",
    "c/y": ("hardlink", "c/x"),
    "c/z": ("hardlink", "c/x"),
    "s/l": ("symlink", "target"),
    "s/m": ("hardlink", "s/l"),
    "s/n": ("hardlink", "s/l"),
}
# A layer above that hides one name of each of the last two files: the
# count the mount keeps for them (the lower inode's) stays above their
# names, so the mount never finds their entries unused.
TOP = {
    "c/.wh.z": "",
    "s/.wh.n": "",
}


# A work directory after a clean unmount: its index counts marked
# checked (lib/workdir.h), but by a udba=reval mount (LFS_EXTRA_OPTS).
CHECKED_WORKDIR = (["index", "layers", "work"]
                   if "udba=reval" in lfstest.EXTRA_OPTS
                   else ["index", "index-checked", "layers", "work"])


class FsckTestBase(lfstest.LayerfsTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(lt.LAYERTOOL):
            self.fail("%s is missing: run make first" % lt.LAYERTOOL)
        self.require_root()  # the index wants user.* xattrs kept by root

    def fsck(self, m, layers, code, repair=False):
        """fsck of mount m's work directory: the problems by (code,
        path), each with whether it was repaired."""
        args = ["fsck", "--json", "--work", m.work, m.upper] + list(layers)
        if repair:
            args.insert(1, "--repair")
        r = lt.run_layertool(args)
        self.assertEqual(r.returncode, code,
                         r.stdout.decode() + r.stderr.decode())
        self.assertEqual(r.stderr, b"")
        doc = json.loads(r.stdout)
        self.assertEqual(doc["found"], len(doc["problems"]))
        return {(p["code"], p["path"]): p["repaired"]
                for p in doc["problems"]}

    def entry_key(self, m, lower_path):
        st = os.lstat(lower_path)
        return "%x-%x" % (st.st_dev, st.st_ino)

    def stack(self):
        """The layers LOWER and TOP, top first."""
        return [self.layer("top", TOP), self.layer("low", LOWER)]

    def mount_with_orphan(self):
        """The layers, and a mount of them where c/x was copied up
        (metadata only) and both names it shows then removed: its entry
        is an orphan, which the mount cannot tell (its count still holds
        the hidden c/z)."""
        layers = self.stack()
        m = self.mount_rw(layers)
        os.chmod(os.path.join(m.path, "c/x"), 0o600)
        for n in ("c/x", "c/y"):
            os.unlink(os.path.join(m.path, n))
        return layers, m

    def remount(self, m, layers):
        m2 = self.mount(layers, m.upper, m.work)
        m2.upper, m2.work = m.upper, m.work
        return m2


class TestFsck(FsckTestBase):

    def test_a_clean_unmount_leaves_nothing_to_report(self):
        # Copies of hard links (data, metadata only, a symlink), a name
        # under a renamed directory (counted through the redirect), and
        # a lower name a higher lower layer hides (the count the mount
        # keeps is the lower file's, above the names: no fault).
        low = self.layer("low", dict(LOWER, **{"d/p": "p\n",
                                               "d/q": ("hardlink", "d/p")}))
        top = self.layer("top", {"d/.wh.q": ""})
        m = self.mount_rw([top, low])
        with open(os.path.join(m.path, "a/f"), "a") as f:
            f.write("more\n")
        os.chmod(os.path.join(m.path, "c/x"), 0o600)
        os.lchown(os.path.join(m.path, "s/m"), 7, 7)
        os.rename(os.path.join(m.path, "moved"),
                  os.path.join(m.path, "renamed"))
        os.chmod(os.path.join(m.path, "d/p"), 0o640)
        m.unmount()
        # (Made with an empty index, the counts are known right; not
        # where lower layers may change.)
        self.assertEqual(sorted(os.listdir(m.work)), CHECKED_WORKDIR)
        self.assertEqual(len(os.listdir(os.path.join(m.work, "index"))), 5)
        self.assertEqual(self.fsck(m, [top, low], code=0), {})
        r = lt.run_layertool(["fsck", "--work", m.work, m.upper, top, low])
        self.assertEqual(r.stdout.decode(), "0 problems, 0 repaired\n")

    def test_orphan_entries_are_removed(self):
        # Every name a copied file shows removed through the mount; a
        # third, hidden by the top layer, keeps the count above none: the
        # entry stays in the index, where nothing reaches it.
        layers = self.stack()
        low = layers[-1]
        m = self.mount_rw(layers)
        os.chmod(os.path.join(m.path, "c/x"), 0o600)
        os.lchown(os.path.join(m.path, "s/l"), 7, 7)
        for n in ("c/x", "c/y", "s/l", "s/m"):
            os.unlink(os.path.join(m.path, n))
        with open(os.path.join(m.path, "a/f"), "a") as f:
            f.write("kept\n")
        want = lfstest.snapshot(m.path, inodes=True)
        m.unmount()
        index = os.path.join(m.work, "index")
        cx = self.entry_key(m, os.path.join(low, "c/x"))
        sl = self.entry_key(m, os.path.join(low, "s/l"))
        self.assertIn(cx, os.listdir(index))
        self.assertIn(sl + ".nlink", os.listdir(index))
        orphans = {("index-orphan", "index/" + cx): False,
                   ("index-orphan", "index/" + sl): False}
        self.assertEqual(self.fsck(m, layers, code=4), orphans)
        self.assertEqual(self.fsck(m, layers, code=0, repair=True),
                         {k: True for k in orphans})
        self.assertEqual(sorted(os.listdir(index)),
                         [self.entry_key(m, os.path.join(low, "a/f"))])
        self.assertEqual(self.fsck(m, layers, code=0), {})
        m2 = self.remount(m, layers)
        self.assertEqual(lfstest.snapshot(m2.path, inodes=True), want)

    def test_a_link_in_work_is_no_upper_name(self):
        # A crash can leave a link of an entry in work/ (a copy-up's
        # staged name): it is a leftover, and no name of the view.
        layers, m = self.mount_with_orphan()
        low = layers[-1]
        m.unmount()
        cx = self.entry_key(m, os.path.join(low, "c/x"))
        os.link(os.path.join(m.work, "index", cx),
                os.path.join(m.work, "work", "#1f-2"))
        want = {("work-leftover", "work/#1f-2"): False,
                ("index-orphan", "index/" + cx): False}
        self.assertEqual(self.fsck(m, layers, code=4), want)
        self.assertEqual(self.fsck(m, layers, code=0, repair=True),
                         {k: True for k in want})
        self.assertEqual(os.listdir(os.path.join(m.work, "index")), [])
        self.assertNotIn("#1f-2", os.listdir(os.path.join(m.work, "work")))

    def test_missing_count_file_of_a_symlink_is_made_again(self):
        # A symlink's or a device's count is in a file beside its entry,
        # index/KEY.nlink.  With that file gone, --repair set the count
        # on a file that was not there, and failed (exit status 3) on
        # every run; it makes the file as the mount does, then the count.
        low = self.layer("low", LOWER)
        m = self.mount_rw([low])
        os.lchown(os.path.join(m.path, "s/l"), 7, 7)
        want = lfstest.snapshot(m.path, inodes=True)
        m.unmount()
        sl = self.entry_key(m, os.path.join(low, "s/l"))
        holder = os.path.join(m.work, "index", sl + ".nlink")
        made = os.lstat(holder)
        os.unlink(holder)
        key = ("index-count", "index/" + sl)
        self.assertEqual(self.fsck(m, [low], code=4), {key: False})
        self.assertEqual(self.fsck(m, [low], code=0, repair=True),
                         {key: True})
        st = os.lstat(holder)
        self.assertEqual((st.st_mode, st.st_uid, st.st_gid, st.st_size),
                         (made.st_mode, made.st_uid, made.st_gid, 0))
        # s/l upper, s/m and s/n lower.
        self.assertEqual(os.getxattr(holder, "user.layerfs.nlink"), b"3")
        self.assertEqual(self.fsck(m, [low], code=0), {})
        m2 = self.remount(m, [low])
        self.assertEqual(lfstest.snapshot(m2.path, inodes=True), want)

    def test_in_use_is_refused(self):
        layers, m = self.mount_with_orphan()
        low = layers[-1]
        before = sorted(os.listdir(os.path.join(m.work, "index")))
        r = lt.run_layertool(["fsck", "--repair", "--work", m.work, m.upper]
                             + layers)
        self.assertEqual(r.returncode, 2)
        err = r.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("in use", err)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(sorted(os.listdir(os.path.join(m.work, "index"))),
                         before)
        m.unmount()
        self.assertEqual(len(self.fsck(m, layers, code=4)), 1)

    def test_layers_not_the_mounts_are_never_repaired(self):
        # An entry of a lower file on a filesystem none of the layers
        # given is on: the wrong layers were given; removing it on their
        # word could lose the copy that names elsewhere still show.
        low = self.layer("low", LOWER)
        m = self.mount_rw([low])
        os.chmod(os.path.join(m.path, "c/x"), 0o600)
        m.unmount()
        index = os.path.join(m.work, "index")
        cx = self.entry_key(m, os.path.join(low, "c/x"))
        foreign = "ffff-" + cx.split("-")[1]
        os.rename(os.path.join(index, cx), os.path.join(index, foreign))
        want = {("index-foreign", "index/" + foreign): False}
        self.assertEqual(self.fsck(m, [low], code=4, repair=True), want)
        self.assertIn(foreign, os.listdir(index))

    def test_strays(self):
        low = self.layer("low", LOWER)
        m = self.mount_rw([low])
        m.unmount()
        index = os.path.join(m.work, "index")
        # A count file without its entry (a crash while a stale entry
        # was taken out), and a file layerfs never makes.
        for n in ("1-2.nlink", "notes.txt"):
            with open(os.path.join(index, n), "w"):
                pass
        want = {("index-stray", "index/1-2.nlink"): True,
                ("index-stray", "index/notes.txt"): False}
        self.assertEqual(self.fsck(m, [low], code=4, repair=True), want)
        self.assertEqual(os.listdir(index), ["notes.txt"])

    def test_counts_unchecked_after_a_udba_mount(self):
        # Lower layers may gain links behind a udba=reval mount: the
        # counts it leaves are not known right, until fsck checks them.
        self.require_unchanging_layers("marks no count checked")
        layers = self.stack()
        m = self.mount_rw(layers)
        os.chmod(os.path.join(m.path, "c/x"), 0o600)
        m.unmount()
        self.assertIn("index-checked", os.listdir(m.work))
        for opts, warns in ((("udba=reval",), False), ((), True),
                            ((), True)):
            m2 = self.mount(layers, m.upper, m.work, opts=opts)
            m2.unmount()
            self.assertEqual("'layertool fsck" in m2.stderr(), warns, opts)
            self.assertNotIn("index-checked", os.listdir(m.work))
        self.assertEqual(self.fsck(m, layers, code=0), {})
        self.assertIn("index-checked", os.listdir(m.work))
        m3 = self.mount(layers, m.upper, m.work)
        m3.unmount()
        self.assertNotIn("'layertool fsck", m3.stderr())

    def test_checks_against_the_layers_the_mount_recorded(self):
        # The mount records its stack, init layer included: fsck given
        # no layers checks against those, and refuses others.
        layers = self.stack()
        init = self.layer("init", {"etc/hostname": "box\n"})
        m = self.mount_rw(layers, opts=("initdir=" + init,))
        os.chmod(os.path.join(m.path, "c/x"), 0o600)
        for n in ("c/x", "c/y"):
            os.unlink(os.path.join(m.path, n))
        m.unmount()
        with open(os.path.join(m.work, "layers"), "rb") as f:
            rec = f.read().split(b"\0")
        self.assertEqual(rec[-1], b"")
        self.assertEqual([(r[:1], r.split(b" ", 3)[3]) for r in rec[:-1]],
                         [(b"u", os.path.realpath(m.upper).encode()),
                          (b"i", os.path.realpath(init).encode())]
                         + [(b"l", os.path.realpath(p).encode())
                            for p in layers])
        stack = [m.upper, init] + layers
        cx = "index/" + self.entry_key(m, os.path.join(layers[-1], "c/x"))
        r = lt.run_layertool(["fsck", "--json", "--work", m.work])
        self.assertEqual(r.returncode, 4, r.stderr.decode())
        doc = json.loads(r.stdout)
        self.assertEqual(doc["layers"], [os.path.realpath(p) for p in stack])
        self.assertEqual([(p["code"], p["path"]) for p in doc["problems"]],
                         [("index-orphan", cx)])
        # The same layers given: the same answer.
        r = lt.run_layertool(["fsck", "--work", m.work] + stack)
        self.assertEqual(r.returncode, 4, r.stderr.decode())
        # Without the init layer, or with another lower one: refused,
        # before anything is read or changed.
        other = self.layer("other", {})
        for wrong in ([m.upper] + layers, [m.upper, init, other, layers[1]]):
            r = lt.run_layertool(["fsck", "--repair", "--work", m.work]
                                 + wrong)
            self.assertEqual(r.returncode, 2, wrong)
            err = r.stderr.decode().strip().splitlines()
            self.assertEqual(len(err), 1, err)
            self.assertRegex(err[0], "give (no layers|none)")
            self.assertEqual(r.stdout, b"")
        self.assertIn(cx[len("index/"):],
                      os.listdir(os.path.join(m.work, "index")))
        # A mount of other layers records those.
        m2 = self.mount([layers[1]], m.upper, m.work)
        m2.unmount()
        with open(os.path.join(m.work, "layers"), "rb") as f:
            self.assertEqual(len(f.read().split(b"\0")), 3)

    def test_without_a_record(self):
        layers, m = self.mount_with_orphan()
        m.unmount()
        rec = os.path.join(m.work, "layers")
        # Malformed: refused without layers; with them, said and passed.
        with open(rec, "wb") as f:
            f.write(b"u 1 2 relative\0")
        r = lt.run_layertool(["fsck", "--work", m.work])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"malformed", r.stderr)
        r = lt.run_layertool(["fsck", "--work", m.work, m.upper] + layers)
        self.assertEqual(r.returncode, 4)
        self.assertEqual(len(r.stderr.decode().strip().splitlines()), 1)
        self.assertIn(b"index-orphan", r.stdout)
        # None (an older layerfs): the layers must be given.
        os.unlink(rec)
        r = lt.run_layertool(["fsck", "--work", m.work])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"give UPPER and LOWER", r.stderr)
        self.assertEqual(len(self.fsck(m, layers, code=4)), 1)

    def test_a_directory_that_is_no_work_directory_is_left_alone(self):
        # The wrong --work: a directory of the user's that happens to
        # hold work/.  --repair emptied it as a crash's leftovers.
        layers, m = self.mount_with_orphan()
        m.unmount()
        proj = self.mkdirs("proj")
        os.makedirs(os.path.join(proj, "work"))
        thesis = os.path.join(proj, "work", "thesis.txt")
        with open(thesis, "w") as f:
            f.write("years of work")
        r = lt.run_layertool(["fsck", "--repair", "--work", proj,
                              m.upper] + layers)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("not be a layerfs work directory", err)
        with open(thesis) as f:
            self.assertEqual(f.read(), "years of work")
        self.assertEqual(sorted(os.listdir(proj)), ["work"])

    def test_usage_errors(self):
        low = self.layer("low", LOWER)
        up, work = self.mkdirs("u", "w")
        cases = [
            (["fsck", up, low], 1),                        # no --work
            (["fsck", "--work", work, up], 1),             # no LOWER
            (["fsck", "--work", work], 1),                 # no record
            (["fsck", "--work", work, up, self.path("none")], 2),
            (["fsck", "--work", self.path("none"), up, low], 2),
            (["fsck", "--frobnicate", "--work", work, up, low], 1),
        ]
        for args, code in cases:
            r = lt.run_layertool(args)
            self.assertEqual(r.returncode, code, args)
            err = r.stderr.decode().strip().splitlines()
            if code == 1:
                # The reason, then the hint: getopt's own message named
                # the command without the program.
                self.assertEqual(len(err), 2, err)
                self.assertTrue(err[0].startswith("layertool: "), err)
                self.assertEqual(err[-1], "Try 'layertool fsck --help'.")
            else:
                self.assertEqual(len(err), 1, err)
                self.assertTrue(err[0].startswith("layertool: "), err)
            self.assertEqual(r.stdout, b"")


CRASH_SCRIPT = """
import os, sys
root = sys.argv[1]
with open(os.path.join(root, "a/f"), "a") as f:
    f.write("more\\n")
os.unlink(os.path.join(root, "a/g"))
"""


class TestCountAfterCrash(FsckTestBase):
    """A name of an indexed hard link removed, the daemon killed between
    lowering the entry's count and removing the name (LFS_FAULT
    index-uncounted): the names the view still has show one link too
    few, until fsck puts the count right.  Meanwhile each mount says so,
    and removes no entry on its count."""

    def test_count_left_low_is_put_right(self):
        self.require_unchanging_layers("trusts no index count")
        low = self.layer("low", LOWER)
        upper, work = self.mkdirs("u", "w")
        mnt = self.path("crash-m")
        os.makedirs(mnt)
        m = self.mount([low], upper, work, mnt=mnt,
                       env=dict(os.environ, LFS_FAULT="index-uncounted"))
        client = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT,
                                   m.path], stderr=subprocess.PIPE)
        try:
            m.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("the daemon did not stop at index-uncounted")
        finally:
            lfstest.force_unmount(m.path)
            client.wait(timeout=30)
        self._mounts.remove(m)
        self.assertEqual(m.proc.returncode, -signal.SIGKILL)
        m.upper, m.work = upper, work
        names = ("a/f", "a/g", "b/h", "moved/i")
        m2 = self.remount(m, [low])
        # The name survived the crash; the count did not.
        seen, groups = lfstest.names_view(m2.path, names)
        self.assertEqual(groups, [sorted(names)])
        self.assertEqual({n: v[1] for n, v in seen.items()},
                         {n: 3 for n in names})
        want = lfstest.snapshot(m2.path, inodes=True)
        m2.unmount()
        # The first mount after the crash found the mark of a mount
        # that never ended, and said what to run.
        self.assertIn("'layertool fsck --work %s" % work, m2.stderr())
        self.assertEqual(sorted(os.listdir(work)),
                         ["index", "layers", "work"])
        key = "index/" + self.entry_key(m, os.path.join(low, "a/f"))
        self.assertEqual(self.fsck(m, [low], code=4),
                         {("index-count", key): False})
        self.assertNotIn("index-checked", os.listdir(work))
        self.assertEqual(self.fsck(m, [low], code=0, repair=True),
                         {("index-count", key): True})
        self.assertEqual(sorted(os.listdir(work)),
                         ["index", "index-checked", "layers", "work"])
        m3 = self.remount(m, [low])
        self.assertIn("mounted", os.listdir(work))
        seen, groups = lfstest.names_view(m3.path, names)
        self.assertEqual(groups, [sorted(names)])
        self.assertEqual({n: v for n, v in seen.items()},
                         {n: (b"shared data\nmore\n", 4, seen[n][2])
                          for n in names})
        got = lfstest.snapshot(m3.path, inodes=True)
        for snap in (want, got):
            for e in snap.values():
                e.pop("nlink", None)
        self.assertEqual(got, want)
        # The counts are trusted again: the entry goes with the last
        # name.
        for n in names:
            os.unlink(os.path.join(m3.path, n))
        self.assertEqual(os.listdir(os.path.join(work, "index")), [])
        m3.unmount()
        self.assertNotIn("layertool fsck", m3.stderr())

    def immutable_entry(self):
        """A lower hard link made immutable through a mount: (the mount,
        its lower layer, the index entry's key, the entry's path)."""
        low = self.layer("low", LOWER)
        m = self.mount_rw([low])
        lfstest.change_inode_flags(os.path.join(m.path, "c/x"),
                                   add=lfstest.FS_IMMUTABLE_FL)
        m.unmount()
        cx = self.entry_key(m, os.path.join(low, "c/x"))
        return m, low, cx, os.path.join(m.work, "index", cx)

    @staticmethod
    def count_low(entry):
        """Sets the immutable entry's count to 1, below its names."""
        lfstest.change_inode_flags(entry, drop=lfstest.FS_IMMUTABLE_FL)
        os.setxattr(entry, "user.layerfs.nlink", b"1")
        lfstest.change_inode_flags(entry, add=lfstest.FS_IMMUTABLE_FL)

    def test_count_of_an_immutable_entry(self):
        # The flags a copy-up keeps on the entry refuse the count's
        # change: fsck lifts them for it and puts them back.
        self.require_inode_flags()
        m, low, cx, entry = self.immutable_entry()
        self.count_low(entry)
        self.assertEqual(self.fsck(m, [low], code=0, repair=True),
                         {("index-count", "index/" + cx): True})
        self.assertEqual(os.getxattr(entry, "user.layerfs.nlink"), b"3")
        self.assertTrue(lfstest.inode_flags(entry)
                        & lfstest.FS_IMMUTABLE_FL)

    def test_flags_survive_a_repair_stopped_with_them_lifted(self):
        """Between lifting an entry's immutable flag and putting it back,
        a signal or a kill lost the flag for good.  Catchable signals
        now wait until the flag is back; for a SIGKILL (or a crash) a
        record in WORKDIR/fsck-lifted, written before the lift, lets the
        next fsck put it back.  strace sends the signal as the count's
        xattr is set with the flag lifted: its second lsetxattr, the
        first having been refused by the flag."""
        self.require_inode_flags()
        self.require_strace()
        m, low, cx, entry = self.immutable_entry()
        record = os.path.join(m.work, "fsck-lifted")

        def repair_stopped_by(sig):
            subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null",
                            "-e", "trace=lsetxattr", "-e",
                            "inject=lsetxattr:signal=%s:when=2" % sig,
                            lt.LAYERTOOL, "fsck", "--repair", "--work",
                            m.work, m.upper, low],
                           capture_output=True, timeout=120)

        def immutable():
            return bool(lfstest.inode_flags(entry)
                        & lfstest.FS_IMMUTABLE_FL)

        # SIGTERM waits: the count set, the flag back, no record left.
        self.count_low(entry)
        repair_stopped_by("TERM")
        self.assertTrue(immutable())
        self.assertEqual(os.getxattr(entry, "user.layerfs.nlink"), b"3")
        self.assertFalse(os.path.exists(record))

        # SIGKILL cannot wait: the flag is off, and the record says so.
        self.count_low(entry)
        repair_stopped_by("KILL")
        self.assertFalse(immutable())
        self.assertTrue(os.path.exists(record))
        flags = ("index-flags", "index/" + cx)
        found = self.fsck(m, [low], code=4)
        self.assertIs(found.get(flags), False, found)
        self.assertFalse(immutable())
        found = self.fsck(m, [low], code=0, repair=True)
        self.assertIs(found.get(flags), True, found)
        self.assertTrue(immutable())
        self.assertEqual(os.getxattr(entry, "user.layerfs.nlink"), b"3")
        self.assertFalse(os.path.exists(record))
        self.assertEqual(self.fsck(m, [low], code=0), {})

        # A record cut short (written in full before any lift) lifted
        # nothing: --repair drops it, and puts no flag on.
        with open(record, "w") as f:
            f.write(cx + " 12")
        self.assertEqual(self.fsck(m, [low], code=0, repair=True),
                         {("index-flags", "fsck-lifted"): True})
        self.assertFalse(os.path.exists(record))


if __name__ == "__main__":
    lfstest.main()

"""`make install`: the three programs and their man pages land under
DESTDIR/PREFIX, the layerfs man page describes every option --help
lists, and the installed layerfs mounts through mount(8) as
`-t fuse.layerfs` and from an fstab line (mount.fuse3)."""

import os
import re
import shutil
import subprocess

import lfstest
from lfstest import LAYERFS, LayerfsTestCase, ROOT

PROGRAMS = ("layerfs", "layerrun", "layertool")


def man_text(path):
    """The man page source with groff escapes and fonts reduced to plain
    text, enough to look for option names."""
    with open(path) as f:
        s = f.read()
    s = s.replace("\\-", "-").replace("\\c", "").replace("\\e", "\\")
    s = re.sub(r"\\f[BIRP]", "", s)
    return s


def help_options(text):
    """Every option name `layerfs --help` documents."""
    names = set(re.findall(r"\b([a-z_]+\+?)=", text))
    # Lines of the form "  name   explanation" (options without a value).
    names |= set(re.findall(r"^  ([a-z_]+)(?: |$)", text, re.M))
    names |= set(re.findall(r"\b(squash_to_root)\b", text))
    # The two lists: passed to the kernel, and accepted without effect.
    for head in ("Generic mount options passed to the kernel:",
                 "Accepted for compatibility, without effect:"):
        para = text.split(head, 1)[1].split("\n\n", 1)[0]
        para = para.split(".\n", 1)[0]
        for item in para.replace("\n", " ").split(","):
            word = item.strip().split(" ")[0].rstrip(".").rstrip("=")
            if word:
                names.add(word)
    return names


def parser_options(source):
    """Every option name fs/options.c accepts: its option tables and the
    keys it compares."""
    names = set(re.findall(r'strcmp\(key, "([a-z_+]+)"\)', source))
    names |= set(re.findall(r'_OPT\("([a-z_]+)"', source))
    for table in ("fuse_passthrough", "fuse_passthrough_valued",
                  "compat_noop"):
        body = re.search(r"%s\[\] = \{(.*?)\};" % table, source, re.S)
        names |= {n.rstrip("=") for n in re.findall(r'"([^"]+)"',
                                                    body.group(1))}
    return names


class Install(LayerfsTestCase):
    def install(self, prefix):
        dest = self.path("dest")
        build = os.path.relpath(lfstest.BUILD, ROOT)
        # -o all: install what is built, never rebuild in the middle of a
        # test run.
        r = subprocess.run(["make", "-s", "-o", "all", "install",
                            "BUILD=" + build, "PREFIX=" + prefix,
                            "DESTDIR=" + dest], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return dest

    def test_programs_and_man_pages(self):
        self.require_tool("make")
        dest = self.install("/opt/lf")
        bindir = os.path.join(dest, "opt/lf/bin")
        mandir = os.path.join(dest, "opt/lf/share/man/man1")
        self.assertEqual(sorted(os.listdir(bindir)), sorted(PROGRAMS))
        self.assertEqual(sorted(os.listdir(mandir)),
                         sorted(p + ".1" for p in PROGRAMS))
        for p in PROGRAMS:
            self.assertTrue(os.access(os.path.join(bindir, p), os.X_OK))
        for src in self.man_sources():
            with open(src, "rb") as f:
                text = f.read()
            with open(os.path.join(mandir, os.path.basename(src)),
                      "rb") as f:
                self.assertEqual(f.read(), text, src)
        with open(os.path.join(mandir, "layerfs.1")) as f:
            self.assertRegex(f.read(), r"(?m)^\.TH LAYERFS 1 ")
        r = subprocess.run([os.path.join(bindir, "layerfs"), "-V"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("layerfs "))
        if shutil.which("groff"):
            for src in self.man_sources():
                if os.path.getsize(src) == 0:
                    continue  # not written yet: nothing to render
                r = subprocess.run(["groff", "-man", "-ww", "-z", src],
                                   capture_output=True, text=True,
                                   timeout=60)
                self.assertEqual((r.returncode, r.stderr), (0, ""), src)

    def man_sources(self):
        return [os.path.join(ROOT, d, p + ".1") for d, p in (
            ("fs", "layerfs"), ("mounter", "layerrun"),
            ("tools", "layertool"))]

    def test_man_page_describes_every_option(self):
        r = subprocess.run([LAYERFS, "--help"], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0)
        names = help_options(r.stdout)
        # The parser found the lists, not just a few words.
        for n in ("lowerdir", "uidmapping", "volatile", "squash_to_root",
                  "xino", "nodev", "x-*", "static_nlink", "noacl"):
            self.assertIn(n, names)
        with open(os.path.join(ROOT, "fs", "options.c")) as f:
            parsed = parser_options(f.read())
        for n in ("fsync", "auto_unmount", "clone_fd", "lowerdir+"):
            self.assertIn(n, parsed)
        names |= parsed
        page = man_text(os.path.join(ROOT, "fs", "layerfs.1"))
        missing = sorted(n for n in names if n not in page)
        self.assertEqual(missing, [])
        for section in ("EXIT STATUS", "STATISTICS", "EXAMPLES",
                        "fuse.layerfs", "/etc/fstab", "mount_program",
                        "overlay.mount_program"):
            self.assertIn(section, page)

    def test_mount_type_and_fstab_line(self):
        # mount(8) runs mount.fuse3 without PATH, so its shell finds
        # `layerfs` in the standard directories only: bind the installed
        # bin directory over /usr/local/bin in a private mount namespace.
        self.require_root()
        self.require_tool("make", "unshare", "mount")
        if not os.path.exists("/sbin/mount.fuse3") or not os.path.isdir(
                "/usr/local/bin"):
            self.skipTest("needs mount.fuse3 (fuse3) and /usr/local/bin")
        dest = self.install("/usr/local")
        low = self.layer("low", {"f": "lower", "d/g": "g"})
        up, wk, mnt = self.mkdirs("up", "wk", "mnt")
        fstab = self.path("fstab")
        with open(fstab, "w") as f:
            f.write("# a test fstab\n"
                    "fromfstab %s fuse.layerfs lowerdir=%s,upperdir=%s,"
                    "workdir=%s,nofail,noauto,_netdev,x-note=1 0 0\n"
                    % (mnt, low, up, wk))
        script = """
set -e
mount --bind {bindir} /usr/local/bin
mount -t fuse.layerfs fromcmd {mnt} -o lowerdir={low},nodev
findmnt -n -o SOURCE,FSTYPE -M {mnt}
cat {mnt}/f; echo
umount {mnt}
mount -T {fstab} {mnt}
findmnt -n -o SOURCE,FSTYPE -M {mnt}
echo upper > {mnt}/d/new
cat {mnt}/d/g; echo
umount {mnt}
""".format(bindir=os.path.join(dest, "usr/local/bin"), mnt=mnt, low=low,
           fstab=fstab)
        r = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "sh", "-c", script], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split("\n"), [
            "fromcmd fuse.layerfs", "lower",
            "fromfstab fuse.layerfs", "g", ""])
        with open(os.path.join(up, "d", "new")) as f:
            self.assertEqual(f.read(), "upper\n")


if __name__ == "__main__":
    lfstest.main()

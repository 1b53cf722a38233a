"""SIGKILL of the daemon in the middle of a copy-up: after a remount the
merged view shows the old content or the new, never a partial file, and
the staging leftovers are gone."""

import hashlib
import os
import random
import subprocess
import sys
import time

import lfstest
from lfstest import LayerfsTestCase

SIZE = 256 << 20


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


class Crash(LayerfsTestCase):
    def big_lower(self):
        low = self.mkdirs("low")
        with open(os.path.join(low, "big"), "wb") as f:
            block = os.urandom(1 << 20)
            for i in range(SIZE >> 20):
                f.write(block[i % 7:] + block[:i % 7])
        with open(os.path.join(low, "small"), "w") as f:
            f.write("small\n")
        return low

    def kill_during(self, low, writer_script, seed):
        rnd = random.Random(seed)
        upper, work = self.mkdirs("u%d" % seed, "w%d" % seed)
        m = self.mount([low], upper, work, mnt=self.path("m%d" % seed))
        writer = subprocess.Popen([sys.executable, "-c", writer_script,
                                   m.path], stderr=subprocess.DEVNULL)
        # Somewhere inside the copy of 256 MiB.
        time.sleep(rnd.uniform(0.05, 0.6))
        m.kill()
        writer.wait(timeout=30)
        self._mounts.remove(m)
        m2 = self.mount([low], upper, work, mnt=self.path("r%d" % seed))
        self.assertEqual(os.listdir(os.path.join(work, "work")), [],
                         "staging leftovers were not cleaned")
        return m2

    def test_kill_during_data_copy_up(self):
        low = self.big_lower()
        old = digest(os.path.join(low, "big"))
        script = ("import sys\n"
                  "with open(sys.argv[1] + '/big', 'ab') as f:\n"
                  "    f.write(b'tail')\n")
        outcomes = set()
        for seed in range(3):
            m = self.kill_during(low, script, seed)
            p = os.path.join(m.path, "big")
            size = os.stat(p).st_size
            self.assertIn(size, (SIZE, SIZE + 4), "partial file (seed %d)"
                          % seed)
            if size == SIZE:
                self.assertEqual(digest(p), old)
                outcomes.add("old")
            else:
                with open(p, "rb") as f:
                    f.seek(SIZE)
                    self.assertEqual(f.read(), b"tail")
                outcomes.add("new")
            self.assertEqual(open(os.path.join(m.path, "small")).read(),
                             "small\n")
        sys.stderr.write("outcomes: %s\n" % sorted(outcomes))

    def test_kill_during_in_place_data_fill(self):
        # chmod first: a metadata-only copy; the write then fills the data
        # in place and removes the mark last.
        low = self.big_lower()
        old = digest(os.path.join(low, "big"))
        script = ("import os, sys\n"
                  "p = sys.argv[1] + '/big'\n"
                  "os.chmod(p, 0o600)\n"
                  "with open(p, 'r+b') as f:\n"
                  "    f.write(b'HEAD')\n")
        for seed in range(10, 12):
            m = self.kill_during(low, script, seed)
            p = os.path.join(m.path, "big")
            self.assertEqual(os.stat(p).st_size, SIZE)
            with open(p, "rb") as f:
                head = f.read(4)
            if head == b"HEAD":
                continue  # the new content, complete (checked by size)
            self.assertEqual(digest(p), old, "partial data (seed %d)" % seed)


if __name__ == "__main__":
    lfstest.main()

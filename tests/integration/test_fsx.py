"""An fsx-style random-operation test: one file, starting in a lower layer
(so the first change copies it up), under writes, truncates that grow and
shrink it, hole punches, mmap reads, reads, fsyncs, reopens and remounts,
all checked against an in-memory model of its bytes.

The seed is printed; LFS_SEED replays it, LFS_FSX_OPS sets the length.
"""

import mmap
import os
import random
import sys
import time

import lfstest
from lfstest import LayerfsTestCase

OPS = int(os.environ.get("LFS_FSX_OPS", "3000"))
MAXLEN = 4 << 20
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2


class Fsx(LayerfsTestCase):
    def test_random_operations(self):
        seed = int(os.environ.get("LFS_SEED", str(int(time.time()))))
        rnd = random.Random(seed)
        sys.stderr.write("fsx seed %d ops %d (replay: LFS_SEED=%d)\n"
                         % (seed, OPS, seed))
        initial = os.urandom(300000)
        low = self.layer("low", {"file": initial})
        m = self.mount_rw([low])
        path = os.path.join(m.path, "file")
        model = bytearray(initial)
        fd = os.open(path, os.O_RDWR)
        log = []

        def check(where):
            with open(path, "rb") as f:
                got = f.read()
            if got != bytes(model):
                first = next((i for i in range(min(len(got), len(model)))
                              if got[i] != model[i]), min(len(got), len(model)))
                self.fail("seed %d: content differs after %s at byte %d "
                          "(size %d, expected %d); last ops: %s"
                          % (seed, where, first, len(got), len(model),
                             log[-8:]))

        for n in range(OPS):
            op = rnd.choices(["write", "read", "truncate", "punch", "mmap",
                              "fsync", "reopen", "remount", "check"],
                             [30, 20, 10, 8, 8, 5, 5, 1, 3])[0]
            log.append(op)
            if op == "write":
                off = rnd.randrange(0, MAXLEN - 70000)
                data = os.urandom(rnd.randint(1, 65536))
                os.pwrite(fd, data, off)
                if off > len(model):
                    model.extend(b"\0" * (off - len(model)))
                model[off:off + len(data)] = data
            elif op == "read" and model:
                off = rnd.randrange(0, len(model))
                size = rnd.randint(1, 100000)
                got = os.pread(fd, size, off)
                self.assertEqual(got, bytes(model[off:off + size]),
                                 "seed %d op %d read" % (seed, n))
            elif op == "truncate":
                size = rnd.randrange(0, MAXLEN)
                os.ftruncate(fd, size)
                if size < len(model):
                    del model[size:]
                else:
                    model.extend(b"\0" * (size - len(model)))
            elif op == "punch" and model:
                off = rnd.randrange(0, len(model))
                size = rnd.randint(1, 200000)
                try:
                    os.posix_fallocate  # the module has no punch: use libc
                    import ctypes
                    libc = ctypes.CDLL(None, use_errno=True)
                    r = libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE |
                                       FALLOC_FL_KEEP_SIZE,
                                       ctypes.c_long(off), ctypes.c_long(size))
                    if r != 0:
                        raise OSError(ctypes.get_errno(), "fallocate")
                except OSError as e:
                    self.fail("seed %d op %d: punch hole failed: %s"
                              % (seed, n, e))
                end = min(off + size, len(model))
                model[off:end] = b"\0" * (end - off)
            elif op == "mmap" and model:
                with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as mm:
                    off = rnd.randrange(0, len(model))
                    self.assertEqual(mm[off:off + 4096],
                                     bytes(model[off:off + 4096]),
                                     "seed %d op %d mmap" % (seed, n))
            elif op == "fsync":
                os.fsync(fd)
            elif op == "reopen":
                os.close(fd)
                fd = os.open(path, os.O_RDWR)
            elif op == "remount":
                os.close(fd)
                check("before remount")
                m.unmount()
                self._mounts.remove(m)
                upper, work = m.upper, m.work
                m = self.mount([low], upper, work,
                               mnt=self.path("m%d" % n))
                m.upper, m.work = upper, work
                path = os.path.join(m.path, "file")
                try:
                    fd = os.open(path, os.O_RDWR)
                except OSError as e:
                    self.fail("seed %d op %d: after remount: %s; mounted: "
                              "%s; listing: %s; upper: %s"
                              % (seed, n, e, lfstest.mounted_fstype(m.path),
                                 os.listdir(m.path), os.listdir(upper)))
            elif op == "check":
                check("op %d" % n)
        os.close(fd)
        check("the end")
        # The lower layer never changed.
        with open(os.path.join(low, "file"), "rb") as f:
            self.assertEqual(f.read(), initial)


if __name__ == "__main__":
    lfstest.main()

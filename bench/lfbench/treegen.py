"""Synthetic trees for the benchmark, deterministic for a given seed.

The system tree imitates the shape of a Debian minbase root file system:
a few thousand directories, about twenty thousand files from a few bytes
to several MB, text where a system has text (documentation, headers,
scripts, package lists) and incompressible data where it has binaries,
and symbolic links.  It stands in for a debootstrap tree when no Debian
mirror is reachable.
"""

import math
import os
import random

# The string grep looks for; planted in a few documentation files.
NEEDLE = "LFBENCH_NEEDLE_0x5eed"

_WORDS = (
    "the of and to in is for that with on as this be are by from at or an "
    "file system package version license copyright debian free software "
    "you may not use except in compliance with distributed under terms "
    "warranty merchantability fitness particular purpose see gnu general "
    "public library directory configuration option default value return "
    "static const struct int char void unsigned long define include if "
    "else endif while for break continue switch case function module "
    "import class def self none true false print error warning info debug "
    "usr lib share bin etc var local opt doc man locale zoneinfo python perl"
).split()

# (area, share of the files, files per directory, nesting depth, kind,
#  median size, size spread (sigma of the log), smallest, largest, suffix)
_AREAS = [
    ("etc", 0.03, 6, 2, "text", 600, 1.3, 20, 64 << 10, ".conf"),
    ("usr/bin", 0.04, 10 ** 9, 0, "bin", 20 << 10, 1.2, 2 << 10, 4 << 20,
     ""),
    ("usr/sbin", 0.01, 10 ** 9, 0, "bin", 30 << 10, 1.3, 2 << 10, 2 << 20,
     ""),
    ("usr/lib/x86_64-linux-gnu", 0.08, 60, 1, "bin", 24 << 10, 1.3,
     4 << 10, 6 << 20, ".so"),
    ("usr/lib/python3/dist-packages", 0.10, 6, 3, "text", 4 << 10, 1.2,
     100, 256 << 10, ".py"),
    ("usr/share/perl/5.36", 0.08, 6, 3, "text", 5 << 10, 1.2, 100,
     256 << 10, ".pm"),
    ("usr/include", 0.10, 7, 3, "text", 3 << 10, 1.3, 80, 200 << 10, ".h"),
    ("usr/share/doc", 0.10, 3, 1, "text", 2 << 10, 1.5, 60, 512 << 10, ""),
    ("usr/share/man", 0.08, 200, 2, "bin", 3 << 10, 0.9, 300, 64 << 10,
     ".gz"),
    ("usr/share/locale", 0.08, 12, 2, "bin", 8 << 10, 1.0, 500,
     400 << 10, ".mo"),
    ("usr/share/zoneinfo", 0.07, 40, 2, "bin", 1200, 0.7, 100, 8 << 10, ""),
    ("usr/share/i18n", 0.03, 50, 1, "text", 8 << 10, 1.2, 200, 1 << 20, ""),
    ("var/lib/dpkg/info", 0.12, 10 ** 9, 0, "text", 1500, 1.3, 30,
     200 << 10, ".list"),
    ("usr/share/misc", 0.08, 15, 2, "bin", 3 << 10, 1.5, 10, 4 << 20,
     ".dat"),
]

# Share of the entries of a binary area that are symbolic links.
_SYMLINK_SHARE = 0.06


class ContentSource:
    """Cheap deterministic file contents: slices of a pre-made text corpus
    and of a block of random bytes."""

    TEXT_SIZE = 1 << 20
    BIN_SIZE = 8 << 20

    def __init__(self, seed):
        rng = random.Random(seed)
        words = []
        n = 0
        while n < self.TEXT_SIZE:
            line = " ".join(rng.choices(_WORDS, k=rng.randint(3, 14)))
            words.append(line)
            n += len(line) + 1
        self.text = ("\n".join(words) + "\n").encode()
        self.binary = rng.randbytes(self.BIN_SIZE)
        self.rng = rng

    def _slices(self, pool, size):
        out = []
        while size > 0:
            off = self.rng.randrange(0, len(pool) - 1)
            chunk = pool[off:off + size]
            out.append(chunk)
            size -= len(chunk)
        return b"".join(out)

    def text_bytes(self, size):
        return self._slices(self.text, size)

    def bin_bytes(self, size):
        return self._slices(self.binary, size)

    def write(self, path, kind, size, mode=0o644):
        data = self.text_bytes(size) if kind == "text" else \
            self.bin_bytes(size)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return len(data)


def _size(rng, median, sigma, lo, hi):
    s = int(median * math.exp(rng.gauss(0.0, sigma)))
    return max(lo, min(hi, s))


def _dir_names(rng, prefix, count):
    return ["%s%s%d" % (prefix, rng.choice(_WORDS), i) for i in range(count)]


def _area_dirs(rng, root, area, nfiles, per_dir, depth):
    """Directories of one area: enough leaves for nfiles at per_dir each,
    nested up to depth levels below the area."""
    base = os.path.join(root, area)
    os.makedirs(base, exist_ok=True)
    if depth == 0 or nfiles <= per_dir:
        return [base]
    leaves_needed = max(1, nfiles // per_dir)
    fan = max(2, int(round(leaves_needed ** (1.0 / depth))))
    level = [base]
    for d in range(depth):
        nxt = []
        for parent in level:
            for name in _dir_names(rng, "d" if d else "", fan):
                p = os.path.join(parent, name)
                os.makedirs(p, exist_ok=True)
                nxt.append(p)
                if len(nxt) >= leaves_needed:
                    break
            if len(nxt) >= leaves_needed:
                break
        level = nxt
    # Files also live in the inner directories, as in a real tree.
    inner = []
    for dirpath, dirnames, _ in os.walk(base):
        inner.append(dirpath)
    return inner


def gen_system_tree(root, nfiles, seed, needle_every=40):
    """Writes the synthetic system tree under root; returns its counts."""
    rng = random.Random(seed)
    src = ContentSource(seed + 1)
    stats = {"files": 0, "symlinks": 0, "bytes": 0, "needles": 0}
    text_count = 0
    for (area, share, per_dir, depth, kind, median, sigma, lo, hi,
         suffix) in _AREAS:
        n = max(2, int(round(nfiles * share)))
        dirs = _area_dirs(rng, root, area, n, per_dir, depth)
        made = []
        for i in range(n):
            d = dirs[i % len(dirs)]
            if kind == "bin" and made and rng.random() < _SYMLINK_SHARE:
                target = os.path.basename(rng.choice(made))
                name = "%s%d%s.link" % (rng.choice(_WORDS), i, suffix)
                os.symlink(target, os.path.join(os.path.dirname(
                    made[-1]), name))
                stats["symlinks"] += 1
                continue
            name = "%s%d%s" % (rng.choice(_WORDS), i, suffix)
            path = os.path.join(d, name)
            size = _size(rng, median, sigma, lo, hi)
            mode = 0o755 if area.endswith("bin") else 0o644
            stats["bytes"] += src.write(path, kind, size, mode)
            if kind == "text":
                text_count += 1
                if area == "usr/share/doc" and \
                        text_count % needle_every == 0:
                    with open(path, "ab") as f:
                        f.write(("\n%s %d\n" % (NEEDLE, i)).encode())
                    stats["needles"] += 1
            made.append(path)
            stats["files"] += 1
    # The usual top-level directories of a root file system.
    for d in ("bin", "boot", "dev", "home", "media", "mnt", "opt", "proc",
              "root", "run", "srv", "sys", "tmp", "var/tmp", "var/log",
              "var/cache/apt", "usr/local/bin"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    return stats


def gen_small_tree(root, nfiles, files_per_dir, seed, median=2 << 10,
                   sigma=1.0, lo=16, hi=16 << 10):
    """nfiles small files, files_per_dir to a directory, two levels deep
    (used for the untar archive and the 10k-file metadata subtree)."""
    rng = random.Random(seed)
    src = ContentSource(seed + 1)
    ndirs = max(1, (nfiles + files_per_dir - 1) // files_per_dir)
    top = max(1, int(math.sqrt(ndirs)))
    total = 0
    for i in range(nfiles):
        d = i // files_per_dir
        path = os.path.join(root, "g%03d" % (d % top), "d%04d" % d)
        if i % files_per_dir == 0:
            os.makedirs(path, exist_ok=True)
        kind = "text" if i % 3 else "bin"
        total += src.write(os.path.join(path, "f%06d" % i), kind,
                           _size(rng, median, sigma, lo, hi))
    return {"files": nfiles, "dirs": ndirs + top, "bytes": total}


def gen_flat(root, count):
    """count empty files in one directory."""
    os.makedirs(root, exist_ok=True)
    for i in range(count):
        fd = os.open(os.path.join(root, "e%06d" % i),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)


def gen_big_file(path, size, seed):
    """A file of size bytes of incompressible data, fully allocated."""
    src = ContentSource(seed)
    chunk = 1 << 20
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(src.bin_bytes(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def gen_sparse_file(path, size, seed, extent=1 << 20):
    """A size-byte file that is mostly holes: data extents only at the
    start, the middle and the end."""
    src = ContentSource(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for off in (0, (size // 2) & ~(extent - 1), size - extent):
            f.seek(max(0, off))
            f.write(src.bin_bytes(min(extent, size)))
        f.flush()
        os.fsync(f.fileno())

"""Splits a base tree into an image of several layers.

Layer 0 is the base tree itself.  Each layer above it is planned against
the merged view of the layers below, as a package update would be:
files rewritten, files added, files and whole directories deleted, and
directories replaced wholesale (opaque).  A layer is first written in a
neutral form (its files only, no markers) together with its list of
deletions and opaque directories; `materialize` then writes one copy per
whiteout format, and `flatten` applies the layers to a copy of the base
to get the native tree, the merged view every implementation must show.
"""

import json
import os
import random
import stat

from . import treegen, whiteouts
from .util import BenchError, copy_tree, run

# Per layer above the base, top last: (deleted directories, opaque
# directories, deleted files, rewritten files, added files), for a base
# of 20,000 files; smaller bases scale these down.
_PLAN = [
    (3, 3, 300, 600, 400),
    (2, 2, 150, 300, 200),
    (2, 2, 100, 200, 150),
    (1, 1, 30, 60, 40),
]
_REFERENCE_FILES = 20000


class View:
    """The merged view of the layers planned so far: relative path ->
    'd' (directory), 'f' (regular file) or 'o' (anything else)."""

    def __init__(self):
        self.entries = {}

    @classmethod
    def of_tree(cls, root, prefix):
        v = cls()
        v.entries[prefix] = "d"
        for dirpath, dirnames, filenames in os.walk(os.path.join(root,
                                                                 prefix)):
            rel = os.path.relpath(dirpath, root)
            # os.walk lists a symlink to a directory among the directories.
            for n in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, n))
                if stat.S_ISDIR(st.st_mode):
                    kind = "d"
                elif stat.S_ISREG(st.st_mode):
                    kind = "f"
                else:
                    kind = "o"
                v.entries[os.path.join(rel, n)] = kind
        return v

    def remove_subtree(self, rel):
        pre = rel + "/"
        for p in [p for p in self.entries if p == rel or p.startswith(pre)]:
            del self.entries[p]

    def subtree_size(self, rel):
        pre = rel + "/"
        return sum(1 for p in self.entries if p.startswith(pre))

    def add_file(self, rel):
        parent = os.path.dirname(rel)
        while parent and parent not in self.entries:
            self.entries[parent] = "d"
            parent = os.path.dirname(parent)
        self.entries[rel] = "f"


def _depth(rel):
    return rel.count("/")


def _inside_any(rel, dirs):
    return any(rel == d or rel.startswith(d + "/") for d in dirs)


def plan_layers(base_root, prefix, neutral_root, nfiles, seed):
    """Plans and writes the neutral layers 1..4 under neutral_root/<k>.

    base_root/prefix is the base tree (layer 0).  Returns the plans, each
    {"dir": neutral dir, "whiteouts": [...], "opaques": [...], counts}.
    """
    rng = random.Random(seed)
    src = treegen.ContentSource(seed + 7)
    view = View.of_tree(base_root, prefix)
    scale = min(1.0, max(nfiles, 1) / _REFERENCE_FILES)
    plans = []
    for k, (ndd, nod, ndf, nmf, naf) in enumerate(_PLAN, start=1):
        ldir = os.path.join(neutral_root, str(k))
        os.makedirs(os.path.join(ldir, prefix), exist_ok=True)
        plan = {"dir": ldir, "whiteouts": [], "opaques": [],
                "rewritten": 0, "added": 0}

        def n_of(x):
            return max(1, int(round(x * scale)))

        dirs = sorted(p for p, t in view.entries.items()
                      if t == "d" and _depth(p) >= 3)
        rng.shuffle(dirs)
        taken = []
        for d in dirs:
            if len(taken) >= n_of(ndd) + n_of(nod):
                break
            if _inside_any(d, taken) or any(t.startswith(d + "/")
                                            for t in taken):
                continue
            size = view.subtree_size(d)
            if 2 <= size <= 80:
                taken.append(d)
        if len(taken) < 2:
            raise BenchError("base tree too small to plan layer %d" % k)
        deleted_dirs = taken[:len(taken) // 2]
        opaque_dirs = taken[len(taken) // 2:]
        for d in deleted_dirs:
            plan["whiteouts"].append(d)
            view.remove_subtree(d)
        for d in opaque_dirs:
            plan["opaques"].append(d)
            view.remove_subtree(d)
            os.makedirs(os.path.join(ldir, d), exist_ok=True)
            view.entries[d] = "d"
            for i in range(rng.randint(3, 10)):
                rel = os.path.join(d, "replaced%d_%d" % (k, i))
                src.write(os.path.join(ldir, rel), "text",
                          rng.randint(100, 20000))
                view.add_file(rel)
                plan["added"] += 1

        def visible_files(kind):
            return sorted(p for p, t in view.entries.items()
                          if t in kind and not _inside_any(p, opaque_dirs))

        victims = rng.sample(visible_files("fo"),
                             min(n_of(ndf), len(visible_files("fo")) // 4))
        for rel in victims:
            plan["whiteouts"].append(rel)
            del view.entries[rel]
        targets = rng.sample(visible_files("f"),
                             min(n_of(nmf), len(visible_files("f")) // 4))
        for rel in targets:
            path = os.path.join(ldir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            kind = "bin" if rel.endswith((".so", ".gz", ".mo", ".dat")) \
                else "text"
            size = int(rng.lognormvariate(8.0, 1.2))
            src.write(path, kind, max(1, min(size, 1 << 20)))
            plan["rewritten"] += 1
        existing = sorted(p for p, t in view.entries.items() if t == "d")
        newpkg = os.path.join(prefix, "usr/lib/python3/dist-packages",
                              "newpkg%d" % k)
        for i in range(n_of(naf)):
            if i % 2:
                parent = os.path.join(newpkg, "sub%d" % (i % 7))
            else:
                parent = rng.choice(existing)
            rel = os.path.join(parent, "added%d_%d" % (k, i))
            path = os.path.join(ldir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            src.write(path, "text", max(1, int(rng.lognormvariate(7.5, 1.0))))
            view.add_file(rel)
            plan["added"] += 1
        # One documentation file of each layer carries the grep needle.
        doc = os.path.join(prefix, "usr/share/doc", "layer%d-notes" % k)
        os.makedirs(os.path.join(ldir, doc), exist_ok=True)
        with open(os.path.join(ldir, doc, "README"), "w") as f:
            f.write("notes of layer %d\n%s\n" % (k, treegen.NEEDLE))
        view.add_file(os.path.join(doc, "README"))
        plans.append(plan)
        with open(os.path.join(neutral_root, "%d.json" % k), "w") as f:
            json.dump(plan, f, indent=1)
    return plans, view


def materialize(plan, fmt, dst):
    """Writes one layer in whiteout format fmt at dst (a new directory)."""
    copy_tree(plan["dir"], dst)
    for rel in plan["whiteouts"]:
        whiteouts.write_whiteout(dst, rel, fmt)
    for rel in plan["opaques"]:
        whiteouts.write_opaque(dst, rel, fmt)
    wh, opq = whiteouts.count_markers(dst)
    if (wh, opq) != (len(plan["whiteouts"]), len(plan["opaques"])):
        raise BenchError("layer %s in format %s has %d whiteouts and %d "
                         "opaque directories, planned %d and %d" % (
                             dst, fmt, wh, opq, len(plan["whiteouts"]),
                             len(plan["opaques"])))


def flatten(base_layer, plans, dst, prefix, view):
    """The native tree: the base layer with every layer applied in order.
    Checks the result against the planned view."""
    copy_tree(base_layer, dst)
    for plan in plans:
        for rel in plan["whiteouts"] + plan["opaques"]:
            run(["rm", "-rf", "--", os.path.join(dst, rel)])
        run(["cp", "-a", "--", plan["dir"] + "/.", dst + "/"])
    got = View.of_tree(dst, prefix).entries
    if got != view.entries:
        extra = sorted(set(got) - set(view.entries))[:3]
        missing = sorted(set(view.entries) - set(got))[:3]
        raise BenchError("flattened tree differs from the plan "
                         "(extra %s, missing %s)" % (extra, missing))

#!/bin/sh
# Fetches a Debian kernel for the kernel VM tests (tests/vm/README.md)
# into tests/vm/cache, unpacked from its package: nothing is installed
# into the system, no boot loader is touched.  Needs apt's package lists
# (apt-get update), not root.  Idempotent: a kernel already there stays.
set -eu
cd "$(dirname "$0")/.."
cache=tests/vm/cache
if ls "$cache"/boot/vmlinuz-* >/dev/null 2>&1; then
	echo "vm-kernel: $(ls "$cache"/boot/vmlinuz-* | head -n 1) is there"
	exit 0
fi
# linux-image-amd64 is the metapackage; its dependency is the kernel.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
	echo "vm-kernel: apt knows no linux-image-amd64 (run apt-get update)" >&2
	exit 1
fi
mkdir -p "$cache/dl"
(cd "$cache/dl" && apt-get download "$pkg")
# The kernel, its config and the fuse module: 13 MB of the package's 400.
dpkg-deb --fsys-tarfile "$cache"/dl/"$pkg"_*.deb |
	tar -x -C "$cache" --wildcards './boot/vmlinuz-*' './boot/config-*' \
		'*/kernel/fs/fuse/*'
rm -rf "$cache/dl"
echo "vm-kernel: $pkg unpacked into $cache"

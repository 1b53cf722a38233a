#!/bin/sh
# The main job on the embedded default: a two-layer image made from
# busybox-static (with a whiteout and an opaque directory), mounted with
# layerfs, then changed through a writable upper layer.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAYERFS=${LAYERFS:-$ROOT/build/layerfs}
BUSYBOX=$(command -v busybox || true)
if [ -z "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q static; then
	for b in /bin/busybox /usr/bin/busybox; do
		[ -x "$b" ] && BUSYBOX=$b
	done
fi
if [ -z "$BUSYBOX" ]; then
	echo "demo: busybox-static is missing (make deps installs it)" >&2
	exit 1
fi

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/layerfs-demo.XXXXXX")
MNT=$DEMO/merged
cleanup() {
	if grep -q " $MNT fuse.layerfs " /proc/self/mounts 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null || true
	fi
	rm -rf "$DEMO"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Layer 0: a busybox root filesystem.
base=$DEMO/layers/0-base
mkdir -p "$base/bin" "$base/etc" "$base/tmp" "$base/opt/tools" \
	"$base/var/log" "$base/root"
cp "$BUSYBOX" "$base/bin/busybox"
for app in sh ls cat echo rm mkdir find id hostname sed tr head ps mount; do
	ln -s busybox "$base/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$base/etc/passwd"
printf 'root:x:0:\n' >"$base/etc/group"
echo "built from the base layer" >"$base/etc/motd"
echo "old tool" >"$base/opt/tools/old-tool"
echo "old log line" >"$base/var/log/install.log"

# Layer 1: an update that deletes a file (whiteout) and replaces a
# directory wholesale (opaque), written as an OCI layer would be.
upd=$DEMO/layers/1-update
mkdir -p "$upd/var/log" "$upd/opt/tools" "$upd/etc"
: >"$upd/var/log/.wh.install.log"
: >"$upd/opt/tools/.wh..wh..opq"
echo "new tool" >"$upd/opt/tools/new-tool"
echo "updated by the second layer" >"$upd/etc/motd"

step "layers on disk (top first)"
for l in "$upd" "$base"; do
	echo "$(basename "$l"):"
	(cd "$l" && find . -mindepth 1 ! -path './bin/*' | sort | sed 's/^/   /')
done

mkdir -p "$MNT"
step "read-only merged view:  layerfs -o lowerdir=1-update:0-base merged"
"$LAYERFS" -o "lowerdir=$upd:$base" "$MNT"
(cd "$MNT" && find . -mindepth 1 ! -path './bin/*' | sort | sed 's/^/   /')
echo "   etc/motd says: $(cat "$MNT/etc/motd")"
echo "   var/log/install.log is hidden by its whiteout; opt/tools shows only"
echo "   the update's contents because that directory is opaque."
fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT"

step "writable: upperdir and workdir added"
mkdir -p "$DEMO/upper" "$DEMO/work"
"$LAYERFS" -o "lowerdir=$upd:$base,upperdir=$DEMO/upper,workdir=$DEMO/work,stats=$DEMO/stats.json" "$MNT"
echo "hello from the container" >"$MNT/root/greeting"
echo "appended" >>"$MNT/etc/motd"
rm "$MNT/opt/tools/new-tool"
chmod 700 "$MNT/bin/busybox"
mv "$MNT/var" "$MNT/var.moved"
if [ "$(id -u)" -eq 0 ]; then
	step "running busybox inside the merged root (chroot)"
	chroot "$MNT" /bin/sh -c 'echo "   $(cat /etc/motd | tr "\n" " ")"; ls /opt/tools /var.moved/log | sed "s/^/   /"'
fi
kill -USR1 "$(pgrep -n -f "layerfs -o lowerdir=$upd")" 2>/dev/null || true
fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT"

step "what the changes left in the upper layer (an OCI layer changeset)"
(cd "$DEMO/upper" && find . -mindepth 1 | sort | while read -r f; do
	extra=""
	case "$(basename "$f")" in .wh.*) extra="   <- whiteout" ;; esac
	if getfattr --only-values -n user.layerfs.metacopy "$f" >/dev/null 2>&1; then
		extra="   <- metadata only, data still in the lower layer"
	fi
	if getfattr --only-values -n user.layerfs.redirect "$f" >/dev/null 2>&1; then
		extra="   <- renamed directory (redirect, nothing copied)"
	fi
	echo "   $f$extra"
done)

step "copy-on-write counters (-o stats=FILE)"
sed 's/^/   /' "$DEMO/stats.json" | grep -E '"(copyups|copyup_bytes|meta_copyups|dir_copyups|whiteouts|redirects|lookups)"'
echo
echo "demo done; everything was created under $DEMO and is removed now."

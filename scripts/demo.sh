#!/bin/sh
# The whole job on the embedded default: a two-layer busybox-static image
# (an OCI layout made here, with a whiteout and an opaque directory) is
# imported with layertool, a container is launched on it with layerrun
# (rootless when run by an unprivileged user), changes are made inside,
# and the upper layer, its whiteouts and layerfs's copy-on-write counters
# are shown.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
LAYERRUN=$BUILD/layerrun
LAYERTOOL=$BUILD/layertool
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
chmod 755 "$DEMO"
STATE=$DEMO/state
cleanup() {
	"$LAYERRUN" --root "$STATE" rm -f demo >/dev/null 2>&1 || true
	rm -rf "$DEMO"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
indent() { sed 's/^/   /'; }

# Layer 0: a busybox root filesystem.
base=$DEMO/src/0-base
mkdir -p "$base/bin" "$base/etc" "$base/tmp" "$base/opt/tools" \
	"$base/var/log" "$base/root" "$base/proc" "$base/sys" "$base/dev"
cp "$BUSYBOX" "$base/bin/busybox"
for app in sh ls cat echo rm mkdir find id hostname sed tr head ps mount \
	mv chmod sort wc; do
	ln -s busybox "$base/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$base/etc/passwd"
printf 'root:x:0:\n' >"$base/etc/group"
echo "built from the base layer" >"$base/etc/motd"
echo "old tool" >"$base/opt/tools/old-tool"
echo "old log line" >"$base/var/log/install.log"

# Layer 1: an update that deletes a file (whiteout) and replaces a
# directory wholesale (opaque), as an OCI layer writes them.
upd=$DEMO/src/1-update
mkdir -p "$upd/var/log" "$upd/opt/tools" "$upd/etc"
: >"$upd/var/log/.wh.install.log"
: >"$upd/opt/tools/.wh..wh..opq"
echo "new tool" >"$upd/opt/tools/new-tool"
echo "updated by the second layer" >"$upd/etc/motd"

# The OCI image layout: layer tarballs, config, manifest and index, each
# blob named by its sha256.
oci=$DEMO/busybox-oci
mkdir -p "$oci/blobs/sha256"
blob() { # FILE -> prints its digest, stores it as a blob
	d=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$oci/blobs/sha256/$d"
	echo "$d"
}
size() { wc -c <"$1" | tr -d ' '; }
for l in 0-base 1-update; do
	tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 \
		-C "$DEMO/src/$l" -cf "$DEMO/$l.tar" .
done
d0=$(blob "$DEMO/0-base.tar")
d1=$(blob "$DEMO/1-update.tar")
case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/root"},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
	"$arch" "$d0" "$d1" >"$DEMO/config.json"
dc=$(blob "$DEMO/config.json")
L=application/vnd.oci.image.layer.v1.tar
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":%s},{"mediaType":"%s","digest":"sha256:%s","size":%s}]}' \
	"$dc" "$(size "$DEMO/config.json")" "$L" "$d0" "$(size "$DEMO/0-base.tar")" \
	"$L" "$d1" "$(size "$DEMO/1-update.tar")" >"$DEMO/manifest.json"
dm=$(blob "$DEMO/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' \
	"$dm" "$(size "$DEMO/manifest.json")" >"$oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"

step "the image: two layers, top first"
for l in "$upd" "$base"; do
	echo "$(basename "$l"):"
	(cd "$l" && find . -mindepth 1 ! -path './bin/*' | sort | indent)
done

step "import it:  layertool import busybox-oci image"
"$LAYERTOOL" import "$oci" "$DEMO/image" | indent
sed -n 's/.*"ownership": *"\([a-z_]*\)".*/   ownership: \1/p' "$DEMO/image/image.json"

if [ "$(id -u)" -eq 0 ]; then
	who="as root"
else
	who="rootless, as $(id -un): you are root only inside"
fi
step "launch a container ($who):  layerrun run --name demo image /bin/sh -c ..."
"$LAYERRUN" --root "$STATE" run --name demo "$DEMO/image" /bin/sh -c '
	echo "   inside: uid $(id -u), hostname $(hostname), working directory $(pwd)"
	echo "   PID 1 is $(tr "\0" " " </proc/1/cmdline)(the init); the pids it sees: $(ps -o pid= | tr -s " \n" " ")"
	echo "   /etc/motd says: $(cat /etc/motd)"
	echo "   /opt/tools holds: $(ls /opt/tools) (the update made it opaque)"
	echo "hello from the container" >/root/greeting
	echo "appended inside" >>/etc/motd
	rm /opt/tools/new-tool
	chmod 700 /bin/busybox
	mv /var /var.moved
	echo "   changed: wrote /root/greeting, appended to /etc/motd, removed"
	echo "   /opt/tools/new-tool, chmod /bin/busybox, renamed /var"'

step "layerrun ps"
"$LAYERRUN" --root "$STATE" ps | indent

step "what the changes left in the upper layer (an OCI layer changeset)"
upper=$STATE/demo/upper
(cd "$upper" && find . -mindepth 1 | sort | while read -r f; do
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
echo "   (no etc/hosts, etc/hostname or etc/resolv.conf: they are in the"
echo "   container's init layer, never in the upper layer or a commit)"
echo "   the image's layers are untouched: its top layer's etc/motd still says"
echo "   \"$(cat "$DEMO/image/layers/1/etc/motd")\""

step "layerfs's copy-on-write counters (layertool stats)"
"$LAYERTOOL" stats "$STATE/demo/stats.json" |
	sed -n '/^copy-up/,/^lookups/p' | sed '$d' | indent

step "commit the changes as a new image, run it"
"$LAYERRUN" --root "$STATE" commit demo "$DEMO/image2" >/dev/null
"$LAYERRUN" --root "$STATE" run --rm "$DEMO/image2" /bin/sh -c \
	'echo "   /root/greeting: $(cat /root/greeting); /etc/motd ends: $(tail -n 1 /etc/motd)"'
"$LAYERRUN" --root "$STATE" rm demo

echo
echo "demo done; everything was created under $DEMO and is removed now."

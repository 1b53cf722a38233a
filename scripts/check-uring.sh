#!/bin/sh
# Runs a command with the fuse module's enable_uring parameter on, so that
# every layerfs daemon it starts takes its requests through io_uring
# (fs/uring.h), and puts the parameter back afterwards.  With --off first
# it turns the parameter off instead, so that every daemon reads
# /dev/fuse: some kernels boot with it on, and then `make test` runs on
# the rings alone.  Without a command it runs the integration tests
# (TESTS= names modules, by substring, separated by spaces; a name that
# matches none fails).  Needs root and a kernel with FUSE over io_uring
# (Linux 6.14+); elsewhere it says skipped.
set -u
PARAM=/sys/module/fuse/parameters/enable_uring
me=check-uring
want=Y
if [ "${1:-}" = --off ]; then
	shift
	me=check-devfuse
	want=N
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "$me: skipped: needs root to set $PARAM"
	exit 0
fi
if [ ! -e "$PARAM" ]; then
	echo "$me: skipped: kernel without FUSE over io_uring"
	exit 0
fi
saved=$(cat "$PARAM")
out=$(mktemp)
trap 'echo "$saved" > "$PARAM"; rm -f "$out"' EXIT INT TERM
echo $want >"$PARAM" || exit 1
if [ $# -ne 0 ]; then
	"$@"
	exit $?
fi
status=0
# Every module's name starts with test_: the default runs them all.
for m in ${TESTS:-test_}; do
	python3 tests/integration/run.py --only "$m" >"$out"
	rc=$?
	grep -E '^(FAIL|ERROR)' "$out"
	# On a failure run.py adds the module's own last lines (the
	# traceback, the daemons' messages): a failure seen once in CI
	# must carry its explanation.
	grep -E '^#   ' "$out"
	tail -n 1 "$out"
	if [ $rc -ne 0 ] || tail -n 1 "$out" | grep -q '^0 passed, 0 failed'; then
		echo "$me: '$m' failed or ran no test"
		status=1
	fi
done
exit $status

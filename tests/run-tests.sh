#!/bin/sh
# Runs every unit test binary and every integration module, then prints
# the closing line "N passed, N failed, N skipped".  Exit status 0 only if
# nothing failed.  Tests that cannot run here report themselves skipped,
# with the reason.
BUILD=${BUILD:-build}
# The integration tests run the binaries of this same build.
LFS_BUILD=$(cd "$BUILD" && pwd) || exit 1
export LFS_BUILD
pass=0
fail=0
skip=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	# cmocka prints [  PASSED  ], [  FAILED  ] and [  SKIPPED ] lines.
	CMOCKA_MESSAGE_OUTPUT=stdout timeout 300 "$t" >"$out" 2>&1
	rc=$?
	p=$(grep -c '^\[       OK \]' "$out")
	f=$(grep -c '^\[  FAILED  \] [a-z_]' "$out")
	s=$(grep -c '^\[  SKIPPED \] [a-z_]' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL   $(basename "$t"): exit status $rc"
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + s))
	echo "# $(basename "$t"): $p passed, $f failed, $s skipped"
	[ "$f" -eq 0 ] || sed 's/^/#   /' "$out"
done

echo "== fuzz corpus replay"
for t in "$BUILD"/tests/fuzzreplay_*; do
	[ -x "$t" ] || continue
	name=${t##*/fuzzreplay_}
	if timeout 300 "$t" "tests/fuzz/corpus/$name" >"$out" 2>&1; then
		pass=$((pass + 1))
		echo "ok     fuzz corpus $name: $(tail -n 1 "$out")"
	else
		fail=$((fail + 1))
		echo "FAIL   fuzz corpus $name"
		sed 's/^/#   /' "$out" | tail -n 30
	fi
done

echo "== integration tests"
python3 tests/integration/run.py --only "${TESTS:-}" | tee "$out"
line=$(tail -n 1 "$out")
ip=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
if [ -z "$ip" ]; then
	echo "FAIL   integration runner did not finish"
	fail=$((fail + 1))
else
	if_=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	is=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	pass=$((pass + ip))
	fail=$((fail + if_))
	skip=$((skip + is))
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# The full-disk measurement of BENCHMARKS.md ("Full disk"): needs root (it mounts a small
# tmpfs), so CI does not run it; tests/tests/cli/full_disk.rs is the CI test (no root).
#
# Usage: tests/scripts/full_disk_tmpfs.sh ESPP [SIZE_KB...]
# For each size: a new tmpfs of that size, a ledger with a plan, then appends of 3,000 hires
# each until one fails (an append still running after 30 s counts as hung and is killed);
# then the tmpfs grows to 256 MB ("space returns") and the ledger is checked: verify, export
# (as many records as were acknowledged?), one more append, verify again.
# Prints one line per size; "DAMAGED" when any check failed.
set -u
E=$1; shift
SIZES=${*:-4000 4500 5000 5500 6000 6500 7000 7300 7600 8000 8500 9000 9500 10000 11000 12000 13000 14000 15000 16000 17000 19000 21000}
W=$(mktemp -d); M=$W/mnt; mkdir -p "$M"
trap 'umount "$M" 2>/dev/null; rm -rf "$W"' EXIT
echo '{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"full"}}' > "$W/plan.jsonl"
for b in $(seq 0 40); do
  for i in $(seq 0 2999); do
    echo "{\"type\":\"employee_hired\",\"date\":\"2026-01-05\",\"employee\":\"E${b}x${i}\",\"weekly_hours\":\"40\",\"months_per_year\":\"12\"}"
  done > "$W/b$b.jsonl"
done
for SZ in $SIZES; do
  umount "$M" 2>/dev/null; mount -t tmpfs -o size=${SZ}k tmpfs "$M" || exit 1
  D=$M/L
  "$E" --db "$D" append "$W/plan.jsonl" >/dev/null 2>&1
  acked=1; rc=0; hung=0
  for b in $(seq 0 39); do
    s=$(date +%s%N)
    "$E" --db "$D" append "$W/b$b.jsonl" >/dev/null 2>"$W/err" & P=$!
    for _ in $(seq 1 150); do kill -0 $P 2>/dev/null || break; sleep 0.2; done
    if kill -0 $P 2>/dev/null; then hung=1; kill -9 $P; wait $P 2>/dev/null; rc=137; break; fi
    wait $P; rc=$?
    [ $rc -ne 0 ] && break
    acked=$((acked+3000))
  done
  ms=$(( ($(date +%s%N)-s)/1000000 ))
  mount -o remount,size=256m "$M"
  "$E" --db "$D" verify >/dev/null 2>"$W/v"; v=$?
  n=$("$E" --db "$D" export 2>/dev/null | wc -l)
  "$E" --db "$D" append "$W/b40.jsonl" >/dev/null 2>"$W/a"; a=$?
  "$E" --db "$D" verify >/dev/null 2>&1; v2=$?
  ok=ok; { [ $v -ne 0 ] || [ "$n" -ne $acked ] || [ $a -ne 0 ] || [ $v2 -ne 0 ]; } && ok=DAMAGED
  echo "size=${SZ}k failing_append_exit=$rc hung=$hung took_ms=$ms acknowledged=$acked | verify=$v exported=$n next_append=$a verify_again=$v2 $ok | $(head -c 100 "$W/err" | tr '\n' ' ')| $(head -c 100 "$W/v" | tr '\n' ' ')"
done

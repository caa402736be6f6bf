#!/usr/bin/env bash
# Whole-process cost of one `espp append`, as a payroll feed runs it: a file of 10,000
# payroll events without ids (10 paydays x 1,000 employees) appended to a fresh copy of a
# 1,000-employee ledger. Alternates the binaries given, RUNS times each (default 7), and
# prints every run and each binary's median in seconds.
#
#   bash benches/scripts/append_cost.sh OLD_ESPP NEW_ESPP
set -euo pipefail
runs=${RUNS:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo '{"type":"plan_adopted","date":"2026-06-01","rules":{"name":"BENCH"}}'
  echo '{"type":"stockholders_approved","date":"2026-06-01"}'
  echo '{"type":"period_scheduled","date":"2026-06-01","period":"2026H2","start":"2026-07-01","end":"2026-12-31"}'
  for i in $(seq 1000); do
    echo "{\"type\":\"employee_hired\",\"date\":\"2026-06-01\",\"employee\":\"E$i\",\"hire_date\":\"2020-01-01\",\"weekly_hours\":\"40\",\"months_per_year\":\"12\"}"
    echo "{\"type\":\"enrolled\",\"date\":\"2026-06-02\",\"employee\":\"E$i\",\"rate\":\"0.05\"}"
  done
} > "$work/setup.jsonl"
for m in 07 08; do for d in 03 10 17 24 28; do
  for i in $(seq 1000); do
    echo "{\"type\":\"payroll\",\"date\":\"2026-$m-$d\",\"employee\":\"E$i\",\"gross_pay\":\"$((3000 + i)).00\"}"
  done
done; done > "$work/pay.jsonl"
# The template is made by the last binary given (the newest), so that no binary pays a
# one-time upgrade of an older ledger inside the timed append.
"${@: -1}" --db "$work/template" --actor bench append "$work/setup.jsonl" > /dev/null 2>&1
events=$(wc -l < "$work/pay.jsonl")
declare -A times
for r in $(seq "$runs"); do
  for bin in "$@"; do
    rm -rf "$work/L"; cp -a "$work/template" "$work/L"
    start=$(date +%s.%N)
    "$bin" --db "$work/L" --actor bench append "$work/pay.jsonl" > /dev/null
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc)
    echo "run $r $(basename "$bin"): ${t}s for $events events"
    times[$bin]="${times[$bin]:-} $t"
  done
done
for bin in "$@"; do
  median=$(echo "${times[$bin]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "median $bin: ${median}s ($events events)"
done

#!/usr/bin/env bash
# Runs a distributed run on one machine the way deploy/kubernetes/ runs it on a cluster: N
# shard processes, each told its index by JOB_COMPLETION_INDEX as an Indexed Job's pods are,
# all starting their schedule at one instant, then the merge of their folders.
#
# Usage: deploy/local-indexed-job.sh N PLAN HOST ROOT [RUN FLAGS...]
#   e.g. deploy/local-indexed-job.sh 4 plans/load-50.toml http://127.0.0.1:8001 runs/local \
#          --time-scale 0.05
# Shard I writes ROOT/I (its output in ROOT/I.log), the merge ROOT/merged. The exit code is
# the merge's (0 pass, 1 failed criteria, 2 bad usage, 3 not valid). A shard that exits 1 or
# 3 finished and wrote its results, as in the Job (FailIndex), and is merged; one that exits
# 2 (bad usage) stops the run before the merge. RUN FLAGS go to every shard. The binary is $METRONOME, by default target/release/metronome.
set -euo pipefail

if [ "$#" -lt 4 ]; then
  sed -n '6,13s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
n=$1 plan=$2 host=$3 root=$4
shift 4
metronome=${METRONOME:-target/release/metronome}

if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
  echo "N must be a positive whole number, not '$n'" >&2
  exit 2
fi
if [ ! -x "$metronome" ]; then
  echo "no metronome binary at $metronome (cargo build --release, or set METRONOME)" >&2
  exit 2
fi
mkdir -p "$root"

# Resolved once, here, so that every shard gets the identical instant: a relative +5s given
# to each process would be 5 s after each one's own start.
start_at=$(date -u -d '+5 sec' +%Y-%m-%dT%H:%M:%SZ)
echo "$n shards of $plan against $host, starting at $start_at" >&2

pids=()
# Background processes of a script ignore Ctrl-C: on it (or a kill) the script ends the
# shards it started itself.
trap 'kill "${pids[@]}" 2>/dev/null; exit 130' INT
trap 'kill "${pids[@]}" 2>/dev/null; exit 143' TERM
for ((i = 0; i < n; i++)); do
  JOB_COMPLETION_INDEX=$i "$metronome" run "$plan" --host "$host" --shard "auto/$n" \
    --start-at "$start_at" --out "$root/$i" --quiet "$@" >"$root/$i.log" 2>&1 &
  pids+=("$!")
done

failed=0
for ((i = 0; i < n; i++)); do
  code=0
  wait "${pids[$i]}" || code=$?
  echo "shard $i: exit $code ($root/$i.log)" >&2
  if [ "$code" -eq 2 ]; then
    failed=2
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "a shard refused its arguments: not merged" >&2
  exit 2
fi

folders=()
for ((i = 0; i < n; i++)); do
  folders+=("$root/$i")
done
code=0
"$metronome" merge "${folders[@]}" --out "$root/merged" || code=$?
echo "merge: exit $code ($root/merged)" >&2
exit "$code"

#!/usr/bin/env bash
# compare.sh: metronome beside oha, hey (and wrk2 when present) and closed-loop wrk, at the same fixed
# rates against the same nginx, on this machine. It is how README's comparison table is made; it
# is not part of the test suite. A "punctual floor" row (scripts/punctual_floor.c, built with cc)
# shows the least CPU per request any sender that wakes for every arrival pays here; with coarse
# pacing, a "batching floor" row (the same loop on coarse pacing's tick) shows the least a sender
# that wakes once per tick pays, so coarse pacing is judged against it and wrk2 against both.
#
#   scripts/compare.sh                       # rates 10000 and 30000, 15 s each
#   RATES="10000" DURATION=30s scripts/compare.sh
#   TLS_RATES="" scripts/compare.sh                # without the HTTPS and HTTP/2 rows (default 5000 20000)
#   TLS_PACINGS="default coarse" scripts/compare.sh # HTTPS and HTTP/2 with coarse pacing too
#   METRONOME=path/to/metronome scripts/compare.sh   # skip `cargo build --release`
#   WRK2=/tmp/wrk2src/wrk scripts/compare.sh          # wrk2 built from ../shared/peers/
#
# Setup: nginx `return 200 "ok"` (1 worker, no access log) on 127.0.0.1:18080 pinned to core 0;
# every load generator pinned to core 1 with 50 connections. CPU per request is the tool's
# user+sys time (/usr/bin/time, every thread of the process) divided by the requests it
# completed. All traffic goes to 127.0.0.1, each run is bounded by DURATION and stops by itself.
#
# Needs root (or sudo) to install what is missing: Debian's nginx, wrk, hey and time packages, and
# oha from crates.io (`cargo install oha --locked`, a few minutes the first time). A tool that
# cannot be installed is skipped with a message; the table then has no row for it.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"10000 30000"}
# Rates for HTTPS/1.1, h2c and HTTPS/2 (metronome beside oha); empty to skip them.
TLS_RATES=${TLS_RATES-"5000 20000"}
# Pacings metronome's HTTPS and HTTP/2 rows are run with: "default coarse" adds coarse pacing's,
# which tells the cost of punctual wakes from the cost of the protocol stack.
TLS_PACINGS=${TLS_PACINGS:-"default"}
TLS_PORT=18443
H2C_PORT=18081
DURATION=${DURATION:-15s}
CONNECTIONS=50
# Coarse pacing's tick (COARSE_TICK in src/engine/pacer.rs): the batching floor wakes on it too.
COARSE_TICK_US=900
PORT=18080
URL="http://127.0.0.1:${PORT}/"
TARGET_CORE=0
TOOL_CORE=1

say() { echo "compare: $*" >&2; }

# Seconds in DURATION ("15s", "2m", "90").
secs=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", sys.argv[1])
if not m: sys.exit("DURATION must look like 15s, 2m or 90")
print(float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)])
' "$DURATION")

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
apt_updated=0
apt_install() { # apt_install PACKAGE...: best effort, returns non-zero on failure
  if [ "$apt_updated" -eq 0 ]; then
    $sudo apt-get update -qq >&2 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null 2>&1
}

# --- what this needs --------------------------------------------------------------------------
for cmd in python3 taskset; do
  command -v "$cmd" >/dev/null || { say "$cmd is required"; exit 1; }
done
if [ ! -x /usr/bin/time ]; then
  say "installing time (Debian package)"
  apt_install time || { say "cannot install /usr/bin/time: CPU time cannot be measured"; exit 1; }
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  say "installing nginx (Debian package)"
  apt_install nginx || { say "cannot install nginx: no target to measure against"; exit 1; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
have_wrk=1
if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  apt_install wrk || { say "cannot install wrk: skipping the base latency and the closed-loop row"; have_wrk=0; }
fi
have_oha=1
if ! command -v oha >/dev/null && [ -x "$HOME/.cargo/bin/oha" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v oha >/dev/null; then
  say "installing oha from crates.io (cargo install oha --locked; a few minutes, once)"
  if ! cargo install oha --locked >&2; then
    say "cannot install oha: skipping its rows (and the ratios to it)"
    have_oha=0
  fi
  PATH="$HOME/.cargo/bin:$PATH"
fi
have_hey=1
if ! command -v hey >/dev/null; then
  say "installing hey (Debian package)"
  apt_install hey || { say "cannot install hey: skipping its rows"; have_hey=0; }
fi
have_floor=1
if ! command -v cc >/dev/null; then
  say "installing gcc (Debian package) for the punctual floor"
  apt_install gcc || { say "cannot install a C compiler: no punctual-floor row"; have_floor=0; }
fi
# wrk2: WRK2=path, else `wrk2` on PATH (its source is in ../shared/peers/, see the README there).
have_wrk2=0
WRK2=${WRK2:-$(command -v wrk2 || true)}
if [ -n "$WRK2" ] && [ -x "$WRK2" ]; then
  have_wrk2=1
else
  say "no wrk2 (WRK2=path, or wrk2 on PATH; it is not a Debian package): no wrk2 row"
fi

if [ -n "${METRONOME:-}" ]; then
  MET=$METRONOME
else
  say "building metronome (cargo build --release)"
  cargo build --release >&2
  MET=target/release/metronome
fi
pacings=("default")
if "$MET" run --help 2>/dev/null | grep -q -- '--pacing'; then
  pacings+=("precise" "coarse")
else
  say "this metronome has no --pacing: one metronome row per rate"
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the target -------------------------------------------------------------------------------
tmp=$(mktemp -d /tmp/metronome-compare.XXXXXX)
chmod 755 "$tmp"
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# HTTPS and h2c servers beside the cleartext one, with a certificate made for this run.
tls_servers=""
if [ -n "$TLS_RATES" ]; then
  if command -v openssl >/dev/null && openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/openssl.err"; then
    tls_servers="
  server {
    listen 127.0.0.1:${TLS_PORT} ssl http2 reuseport;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    location / { return 200 \"ok\"; }
  }
  server {
    listen 127.0.0.1:${H2C_PORT} http2 reuseport;
    location / { return 200 \"ok\"; }
  }"
  else
    say "cannot make a certificate with openssl: no HTTPS or HTTP/2 rows"
    TLS_RATES=""
  fi
fi

cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $tmp/client_body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:${PORT} reuseport;
    location / { return 200 "ok"; }
  }${tls_servers}
}
EOF
say "starting nginx on 127.0.0.1:${PORT}, pinned to core ${TARGET_CORE}"
taskset -c "$TARGET_CORE" "$NGINX" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" &
nginx_pid=$!
for _ in $(seq 100); do
  if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$PORT" 2>/dev/null; then
    break
  fi
  kill -0 "$nginx_pid" 2>/dev/null || { say "nginx failed to start:"; cat "$tmp/error.log" >&2; exit 1; }
  sleep 0.1
done

if [ "$have_floor" -eq 1 ] && ! cc -O2 -o "$tmp/punctual_floor" scripts/punctual_floor.c 2>"$tmp/cc.err"; then
  say "cannot build scripts/punctual_floor.c: no punctual-floor row"
  cat "$tmp/cc.err" >&2
  have_floor=0
fi

# --- measuring --------------------------------------------------------------------------------
# timed NAME CMD...: runs CMD pinned to the tool core under /usr/bin/time; stdout to
# $tmp/NAME.out, "user sys" seconds to $tmp/NAME.time. A non-zero exit is reported, not fatal.
timed() {
  local name=$1
  shift
  local rc=0
  taskset -c "$TOOL_CORE" /usr/bin/time -f "%U %S" -o "$tmp/$name.time" "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "$name exited with $rc (figures are still read); its stderr:"
    tail -5 "$tmp/$name.err" >&2
  fi
}
cpu_s() { awk '{ printf "%.3f", $1 + $2 }' "$tmp/$1.time"; }
# us_per_request NAME COUNT: NAME's CPU time (user + sys) in µs per request, one decimal.
us_per_request() {
  python3 -c "import sys; print(f'{float(sys.argv[1]) * 1e6 / max(int(sys.argv[2] or 0), 1):.1f}')" "$(cpu_s "$1")" "$2"
}
# rate_of COUNT: COUNT requests over the run's DURATION, per second.
rate_of() { python3 -c "import sys; print(round(int(sys.argv[1] or 0) / float(sys.argv[2])))" "$1" "$secs"; }

# wrk's "50%  123.45us" line in microseconds.
wrk_p50_us() {
  python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^\s*50(?:\.000)?%\s+([\d.]+)(us|ms|s)\b", text, re.M)
print(round(float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]) if m else "")
EOF
}
wrk_count() { sed -nE 's/^\s*([0-9]+) requests in .*/\1/p' "$1"; }

rows=()   # tool|rate asked|rate achieved|CPU µs/request|p50 µs|note
declare -A cpu_per_req p50_of

base_p50=""
if [ "$have_wrk" -eq 1 ]; then
  say "base latency: wrk -t1 -c1 -d5s --latency (one request at a time)"
  timed base wrk -t1 -c1 -d5s --latency "$URL"
  base_p50=$(wrk_p50_us "$tmp/base.out")
fi

# metronome_row NAME LABEL RATE URL ARGS...: one metronome run at RATE against URL, and its row.
metronome_row() {
  local name=$1 label=$2 R=$3 url=$4
  shift 4
  say "$label at $R/s for $DURATION"
  timed "$name" "$MET" run --url "$url" --rate "$R" --duration "$DURATION" \
    --connections "$CONNECTIONS" --threads 1 "$@" --quiet --json "$tmp/$name.json"
  if [ ! -s "$tmp/$name.json" ]; then
    say "$label wrote no JSON summary: no row"
    return
  fi
  local count achieved p50 lag50 lag99 per
  IFS='|' read -r count achieved p50 lag50 lag99 < <(python3 - "$tmp/$name.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
lag = s.get("dispatch_lag_us") or {}
print("|".join(str(v) for v in (
    s["requests"], round(s["achieved_rate"]), s["latency_us"]["p50"],
    lag.get("p50"), lag.get("p99"))))
PY
  )
  per=$(us_per_request "$name" "$count")
  cpu_per_req[$name]=$per
  p50_of[$name]=$p50
  rows+=("$label|$R|$achieved|$per|$p50|dispatch lag p50 ${lag50} µs, p99 ${lag99} µs; ${count} requests")
}

# oha_row NAME LABEL RATE URL ARGS...: one oha run at RATE against URL, and its row.
oha_row() {
  local name=$1 label=$2 R=$3 url=$4
  shift 4
  say "$label at $R/s for $DURATION"
  timed "$name" oha -z "$DURATION" -q "$R" -c "$CONNECTIONS" --latency-correction \
    --no-tui --output-format json "$@" "$url"
  if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/$name.out" 2>/dev/null; then
    say "oha printed no JSON: no row"
    return
  fi
  local count achieved p50 per
  IFS='|' read -r count achieved p50 < <(python3 - "$tmp/$name.out" "$secs" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
count = sum(s.get("statusCodeDistribution", {}).values())
p50 = s["latencyPercentiles"]["p50"]
print("|".join(str(v) for v in (count, round(count / float(sys.argv[2])),
                                round(p50 * 1e6) if p50 is not None else None)))
PY
  )
  per=$(us_per_request "$name" "$count")
  cpu_per_req[$name]=$per
  p50_of[$name]=$p50
  rows+=("$label|$R|$achieved|$per|$p50|${count} responses")
}

for R in $RATES; do
  for pacing in "${pacings[@]}"; do
    label="metronome"
    args=()
    if [ "${#pacings[@]}" -gt 1 ]; then
      label="metronome --pacing $pacing"
      args=(--pacing "$pacing")
    fi
    metronome_row "metronome-$pacing-$R" "$label" "$R" "$URL" "${args[@]}"
  done

  if [ "$have_oha" -eq 1 ]; then
    oha_row "oha-$R" "oha -q (latency correction)" "$R" "$URL"
  fi

  if [ "$have_hey" -eq 1 ]; then
    # hey's -q is per worker: the rate asked is shared out over the connections.
    name="hey-$R"
    per_worker=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / int(sys.argv[2]):g}')" "$R" "$CONNECTIONS")
    say "hey -q $per_worker × $CONNECTIONS workers for $DURATION"
    timed "$name" hey -z "$DURATION" -c "$CONNECTIONS" -q "$per_worker" "$URL"
    IFS='|' read -r count p50 < <(python3 - "$tmp/$name.out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
count = sum(int(n) for n in re.findall(r"^\s*\[\d+\]\s+(\d+) responses", text, re.M))
m = re.search(r"^\s*50% in ([\d.]+) secs", text, re.M)
print(f"{count}|{round(float(m.group(1)) * 1e6) if m else ''}")
EOF
    )
    if [ "${count:-0}" -gt 0 ]; then
      per=$(us_per_request "$name" "$count")
      achieved=$(rate_of "$count")
      cpu_per_req[$name]=$per
      p50_of[$name]=$p50
      rows+=("hey -q (closed loop per worker, rate-limited)|$R|$achieved|$per|$p50|${count} responses; p50 printed to 0.1 ms")
    else
      say "hey printed no responses: no row"
    fi
  fi

  if [ "$have_floor" -eq 1 ]; then
    name="floor-$R"
    say "punctual floor at $R/s for $DURATION"
    timed "$name" "$tmp/punctual_floor" 127.0.0.1 "$PORT" "$R" "$secs" "$CONNECTIONS"
    read -r _ count _ answered _ skipped _ late50 _ late99 <"$tmp/$name.out" || true
    if [ "${count:-0}" -gt 0 ]; then
      per=$(us_per_request "$name" "$count")
      cpu_per_req[$name]=$per
      p50_of[$name]=""
      behind=""
      if [ "${late99%.*}" -gt 1000 ]; then behind="fell behind: "; fi
      rows+=("punctual floor (C: sleep to each arrival, write, read what came)|$R|$(rate_of "$count")|$per||${behind}wakes late p50 ${late50} µs, p99 ${late99} µs; ${answered} answered; ${skipped} arrivals found every connection busy; measures no latency")
    else
      say "the punctual floor sent nothing: no row"
    fi
    if [[ " ${pacings[*]} " == *" coarse "* ]]; then
      name="tick-floor-$R"
      say "batching floor (${COARSE_TICK_US} µs tick) at $R/s for $DURATION"
      timed "$name" "$tmp/punctual_floor" 127.0.0.1 "$PORT" "$R" "$secs" "$CONNECTIONS" "$COARSE_TICK_US"
      read -r _ count _ answered _ skipped _ late50 _ late99 <"$tmp/$name.out" || true
      if [ "${count:-0}" -gt 0 ]; then
        per=$(us_per_request "$name" "$count")
        cpu_per_req[$name]=$per
        p50_of[$name]=""
        rows+=("batching floor (the same loop, waking every ${COARSE_TICK_US} µs like --pacing coarse)|$R|$(rate_of "$count")|$per||late p50 ${late50} µs, p99 ${late99} µs; ${answered} answered; ${skipped} arrivals found every connection busy; measures no latency")
      else
        say "the batching floor sent nothing: no row"
      fi
    fi
  fi

  if [ "$have_wrk2" -eq 1 ]; then
    name="wrk2-$R"
    say "wrk2 -R $R for $DURATION"
    timed "$name" "$WRK2" -t1 -c"$CONNECTIONS" -d"$DURATION" -R"$R" --latency "$URL"
    count=$(wrk_count "$tmp/$name.out")
    p50=$(wrk_p50_us "$tmp/$name.out")
    per=$(us_per_request "$name" "${count:-0}")
    achieved=$(rate_of "${count:-0}")
    cpu_per_req[$name]=$per
    p50_of[$name]=$p50
    rows+=("wrk2|$R|$achieved|$per|$p50|${count} requests")
  fi
done

# HTTPS/1.1, h2c and HTTPS/2: metronome's default pacing beside oha, at TLS_RATES.
protocols=()
if [ -n "$TLS_RATES" ]; then
  protocols=("https1" "h2c" "https2")
fi
declare -A proto_label=([https1]="HTTPS/1.1" [h2c]="h2c" [https2]="HTTPS/2")
for R in $TLS_RATES; do
  for proto in "${protocols[@]}"; do
    case $proto in
      https1) url="https://127.0.0.1:${TLS_PORT}/"; margs=(--insecure --http 1.1); oargs=(--insecure) ;;
      h2c) url="http://127.0.0.1:${H2C_PORT}/"; margs=(--http 2); oargs=(--http2) ;;
      https2) url="https://127.0.0.1:${TLS_PORT}/"; margs=(--insecure --http 2); oargs=(--insecure --http2) ;;
    esac
    for pacing in $TLS_PACINGS; do
      if [ "$pacing" = default ]; then
        metronome_row "metronome-$proto-$R" "metronome ${proto_label[$proto]}" "$R" "$url" "${margs[@]}"
      else
        metronome_row "metronome-$proto-$R-$pacing" "metronome ${proto_label[$proto]} --pacing $pacing" "$R" "$url" "${margs[@]}" --pacing "$pacing"
      fi
    done
    if [ "$have_oha" -eq 1 ]; then
      oha_row "oha-$proto-$R" "oha ${proto_label[$proto]}" "$R" "$url" "${oargs[@]}"
    fi
  done
done

if [ "$have_wrk" -eq 1 ]; then
  name="wrk"
  say "wrk closed loop (no rate) for $DURATION"
  timed "$name" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$URL"
  count=$(wrk_count "$tmp/$name.out")
  p50=$(wrk_p50_us "$tmp/$name.out")
  per=$(us_per_request "$name" "${count:-0}")
  rps=$(sed -nE 's/^Requests\/sec:\s*([0-9.]+).*/\1/p' "$tmp/$name.out")
  rows+=("wrk (closed loop, full speed)|none|${rps%.*}|$per|$p50|the floor: loopback TCP cost of one request; p50 is queueing at saturation")
fi

# --- the table --------------------------------------------------------------------------------
model=$(lscpu | sed -nE 's/^Model name:\s*//p' | head -1)
echo
echo "Machine: $(nproc) cores, ${model:-unknown CPU}; $(date -u '+%Y-%m-%d %H:%M UTC'); load average before the runs: ${load_before} (other work on the machine skews every figure)."
echo "nginx \`return 200\` on core ${TARGET_CORE}, each tool on core ${TOOL_CORE}, ${CONNECTIONS} connections, ${DURATION} per run."
if [ -n "$base_p50" ]; then
  echo "nginx unloaded base latency (wrk -t1 -c1 -d5s, p50): ${base_p50} µs."
fi
echo
echo "| tool | rate asked (/s) | rate achieved (/s) | CPU µs per request | p50 reported (µs) | note |"
echo "|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  echo "| ${row//|/ | } |"
done
# ratio_row LABEL M O [P50S]: a table row of metronome's run M over peer run O: CPU per
# request, and p50 unless P50S is "no".
ratio_row() {
  if [ -z "${cpu_per_req[$2]:-}" ] || [ -z "${cpu_per_req[$3]:-}" ]; then return; fi
  python3 - "$1" "${cpu_per_req[$2]}" "${cpu_per_req[$3]}" "${p50_of[$2]}" "${p50_of[$3]}" "${4:-yes}" <<'EOF'
import sys
label, mc, oc, mp, op, p50s = sys.argv[1:]
def ratio(a, b):
    try:
        return f"{float(a) / float(b):.2f}"
    except (ValueError, ZeroDivisionError):
        return "n/a"
p50 = f" {ratio(mp, op)} |" if p50s == "yes" else ""
print(f"| {label} | {ratio(mc, oc)} |{p50}")
EOF
}
for peer in oha hey wrk2 floor; do
  have_var="have_$peer"
  if [ "${!have_var}" -ne 1 ] || [ -z "${RATES// /}" ]; then continue; fi
  echo
  if [ "$peer" = floor ]; then
    echo "| metronome ÷ punctual floor | rate (/s) | CPU per request |"
    echo "|---|---|---|"
  else
    echo "| metronome ÷ $peer | rate (/s) | CPU per request | p50 |"
    echo "|---|---|---|---|"
  fi
  for R in $RATES; do
    for pacing in "${pacings[@]}"; do
      p50s=yes
      if [ "$peer" = floor ]; then p50s=no; fi
      ratio_row "--pacing $pacing | $R" "metronome-$pacing-$R" "$peer-$R" "$p50s"
    done
  done
done
if [ "$have_floor" -eq 1 ] && [[ " ${pacings[*]} " == *" coarse "* ]] && [ -n "${RATES// /}" ]; then
  echo
  echo "| batching floor (${COARSE_TICK_US} µs tick) | rate (/s) | CPU per request |"
  echo "|---|---|---|"
  for R in $RATES; do
    ratio_row "metronome --pacing coarse ÷ batching floor | $R" "metronome-coarse-$R" "tick-floor-$R" no
    if [ "$have_wrk2" -eq 1 ]; then
      ratio_row "batching floor ÷ wrk2 (the least coarse pacing could cost, over wrk2) | $R" "tick-floor-$R" "wrk2-$R" no
    fi
  done
fi
if [ "${#protocols[@]}" -gt 0 ] && [ "$have_oha" -eq 1 ]; then
  echo
  echo "| metronome ÷ oha, HTTPS and HTTP/2 | rate (/s) | CPU per request | p50 |"
  echo "|---|---|---|---|"
  for R in $TLS_RATES; do
    for proto in "${protocols[@]}"; do
      ratio_row "${proto_label[$proto]} | $R" "metronome-$proto-$R" "oha-$proto-$R"
      for pacing in $TLS_PACINGS; do
        if [ "$pacing" != default ]; then
          ratio_row "${proto_label[$proto]} --pacing $pacing | $R" "metronome-$proto-$R-$pacing" "oha-$proto-$R"
        fi
      done
    done
  done
fi
if [ "$have_wrk2" -eq 0 ]; then
  echo
  echo "wrk2 was not found (WRK2=path, or on PATH; not a Debian package), so it has no row."
fi
echo
echo "Command: RATES=\"$RATES\" TLS_RATES=\"$TLS_RATES\" TLS_PACINGS=\"$TLS_PACINGS\" DURATION=$DURATION scripts/compare.sh"

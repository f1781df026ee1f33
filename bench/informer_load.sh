#!/usr/bin/env bash
# Benchmark (not a test): how many informer reports per second `serve --dev` accepts over
# keep-alive HTTPS/1.1, at what latency and memory, against a static nginx response on the same
# machine, TLS setup and load generator as the ceiling.
#
#   bash bench/informer_load.sh
#
# The controller and nginx take turns under the same load, ROUNDS times, so that a change in what
# else the machine is doing falls on both alike; the verdict is on the numbers pooled over the
# rounds (2xx/s = every 2xx / every measured second; p50/p99 over every request), and each round
# is printed as well.
#
# Knobs (environment): CONNS=64 connections, ROUNDS=3 turns each, DURATION=10 s measured per turn
# after WARMUP=2 s (h2load -D, so every run is bounded in time), H2LOAD_THREADS=1 load-generator
# threads, STRICT=1 to exit 1
# when a target is missed, PROFILE=1 to sample the controller with perf (cpu-clock) during the
# load and print where its CPU time goes, BENCH_NICE=-15 the priority of everything it starts after
# the build (servers, h2load; 0 to leave it), so that other work on a shared machine disturbs the
# measurement less. Every request goes to 127.0.0.1 only.
#
# Targets: >= 15,000 accepted reports/s, p99 < 10 ms, >= 50 % of nginx's rate, < 100 MiB RSS.
#
# It installs what it lacks (Debian nginx and nghttp2-client for h2load), builds the release
# binary, copies samples/cluster to a temporary directory (the repository is not modified), and
# stops everything it started on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CONNS="${CONNS:-64}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
H2LOAD_THREADS="${H2LOAD_THREADS:-1}"
STRICT="${STRICT:-0}"
PROFILE="${PROFILE:-0}"
BENCH_NICE="${BENCH_NICE:--15}"
# Per-identity rate limit lifted for the benchmark: every request comes from one identity, and at
# the default (10/s, burst 20) all but a handful would be refused with 429.
RATE_LIMIT=1000000
RATE_BURST=1000000

# Targets.
T_RPS=15000
T_P99_MS=10
T_RATIO_PCT=50
T_RSS_MIB=100

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'informer_load: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Tools.
need=()
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
for t in curl awk sort; do command -v "$t" >/dev/null 2>&1 || need+=("$t"); done
if ((${#need[@]})); then
  log "installing ${need[*]}"
  command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and no apt-get to install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  }
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v h2load >/dev/null 2>&1 || die "h2load is missing after install"
command -v cargo >/dev/null 2>&1 || die "cargo is needed to build the server"

# ---------------------------------------------------------------------------------------------
# Everything started is recorded here and stopped on exit.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/informer-load.XXXXXX")"
SERVER_PID=""
NGINX_PID=""
SAMPLER_PID=""
PERF_PID=""

stop_pid() { # pid, seconds to wait after SIGTERM before SIGKILL
  local pid="$1" wait="${2:-10}" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$SAMPLER_PID" 2
  stop_pid "$PERF_PID" 10
  stop_pid "$SERVER_PID" 25
  stop_pid "$NGINX_PID" 10
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    return
  fi
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

wait_ready() { # url, pid, what
  local url="$1" pid="$2" what="$3" i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || die "$what exited before it was ready (logs in $WORK)"
    if curl -sf --max-time 2 --cacert certs-dev/ca.crt "$url" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what not ready after 30 s at $url"
}

rss_kib() { # pid field(VmRSS|VmHWM)
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

cpu_ticks() { # total utime+stime of the given pids, in clock ticks
  local total=0 pid
  for pid in "$@"; do
    [[ -r "/proc/$pid/stat" ]] || continue
    # Fields after the ")" of comm: state is field 3, utime 14, stime 15.
    total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}

machine_busy_ticks() { # busy clock ticks of all CPUs since boot (everything but idle and iowait)
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

children_cpu_ticks() { # file written by `times`: CPU of the shell's waited-for children, in ticks
  awk -v k="$CLK_TCK" 'NR == 2 {
      t = 0
      for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
      printf "%d", t * k
    }' "$1"
}
CLK_TCK="$(getconf CLK_TCK)"

# Runs h2load against one server and says where the machine's CPU went meanwhile, in % of one
# core: L_SERVER (the server's pids), L_H2LOAD, L_OTHER (everything else on the machine: other
# users of this machine make the numbers lower bounds).
timed_load() { # name url server-pid...
  local name="$1" url="$2" s0 s1 m0 m1 h0 h1 t0 t1
  shift 2
  # `times` must run in this shell, not in a $(...) subshell, to see h2load as a child.
  times >"$WORK/times.0"
  s0="$(cpu_ticks "$@")" m0="$(machine_busy_ticks)" t0="$(date +%s.%N)"
  h2load_run "$name" "$url"
  s1="$(cpu_ticks "$@")" m1="$(machine_busy_ticks)" t1="$(date +%s.%N)"
  times >"$WORK/times.1"
  h0="$(children_cpu_ticks "$WORK/times.0")" h1="$(children_cpu_ticks "$WORK/times.1")"
  read -r L_SERVER L_H2LOAD L_OTHER < <(awk -v s=$((s1 - s0)) -v m=$((m1 - m0)) -v h=$((h1 - h0)) \
    -v k="$CLK_TCK" -v a="$t0" -v b="$t1" 'BEGIN {
      w = (b - a) * k / 100; o = m - s - h; if (o < 0) o = 0
      printf "%.0f %.0f %.0f\n", s / w, h / w, o / w }')
}

# ---------------------------------------------------------------------------------------------
# 2. The controller.
LOADAVG0="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u +%FT%TZ)"
log "building the release binary"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/update-status-controller"
[[ -x "$BIN" ]] || die "no binary at $BIN"
# The servers and h2load run at BENCH_NICE. With autogroup scheduling (Debian's default) a nice
# value only counts within one session, so each gets a session of its own (setsid, which execs in
# place: $! stays the real pid) whose autogroup is given the same nice value. Raising priority
# needs root; without it they run at the default priority.
PRIO=()
if [[ "$BENCH_NICE" != 0 ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v setsid >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # expanded by the inner sh
    PRIO=(setsid sh -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; renice -n "$0" -p $$ >/dev/null 2>&1; exec "$@"' "$BENCH_NICE")
  else
    log "not root: running at the default priority"
    BENCH_NICE=0
  fi
fi

cp -r samples/cluster "$WORK/cluster"
PORT="$(free_port)"
"${PRIO[@]}" "$BIN" serve --dev --listen "127.0.0.1:$PORT" --cluster-dir "$WORK/cluster" \
  --rate-limit "$RATE_LIMIT" --rate-burst "$RATE_BURST" \
  --max-connections-per-source "$(( CONNS > 64 ? CONNS : 64 ))" \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
BASE="https://127.0.0.1:$PORT"
wait_ready "$BASE/readyz" "$SERVER_PID" "the controller"
log "controller ready on $BASE (pid $SERVER_PID)"

"$BIN" token --service-account example-storage/storage-operator >"$WORK/token"
TOKEN="$(tr -d '\n' <"$WORK/token")"
[[ -n "$TOKEN" ]] || die "token minted nothing"

cat >"$WORK/report.json" <<'EOF'
{"insights":[{"uid":"bench-1","insight":{"type":"Health","health":{"startedAt":"2026-06-01T11:50:00Z","scope":{"type":"WorkerPool","pool":"worker","resources":[{"resource":"persistentvolumes","name":"pvc-1"}]},"impact":{"level":"Warning","type":"Application Availability","summary":"Volume pvc-1 detaches slowly"},"remediation":{"reference":"https://example.com/runbooks/slow-detach"}}}}]}
EOF
REPORT_URL="$BASE/v1alpha1/informers/example-storage-operator/reports"

# One report by hand first: a benchmark of refusals would measure nothing.
code="$(curl -s -o "$WORK/first.json" -w '%{http_code}' --max-time 5 --cacert certs-dev/ca.crt \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary "@$WORK/report.json" "$REPORT_URL")"
[[ "$code" == 200 ]] || die "the first report got HTTP $code: $(cat "$WORK/first.json")"
log "first report: $(cat "$WORK/first.json")"

# ---------------------------------------------------------------------------------------------
# 4. nginx: the ceiling, with the same certificate, protocols and load.
NGINX_DIR="$WORK/nginx"
mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
NGINX_PORT="$(free_port)"
cat >"$NGINX_DIR/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/tmp/body;
  proxy_temp_path $NGINX_DIR/tmp/proxy;
  fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
  uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
  scgi_temp_path $NGINX_DIR/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $ROOT/certs-dev/tls.crt;
    ssl_certificate_key $ROOT/certs-dev/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      default_type application/json;
      return 200 '{"ok":true}';
    }
  }
}
EOF
"$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log" -t -q \
  || die "nginx rejected its configuration"

# ---------------------------------------------------------------------------------------------
# 3. The load: the same h2load command for both servers.
h2load_run() { # name url
  local name="$1" url="$2"
  "${PRIO[@]}" h2load --h1 -t "$H2LOAD_THREADS" -c "$CONNS" -D "$DURATION" --warm-up-time "$WARMUP" \
    -d "$WORK/report.json" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --log-file "$WORK/$name.h2log" "$url" >"$WORK/$name.h2load" 2>&1 \
    || die "h2load against $name failed: $(tail -5 "$WORK/$name.h2load")"
}

# Fills R_* for one h2load run: rps (2xx per second), measured seconds, p99 (ms), and counts.
parse_run() { # name
  local out="$WORK/$1.h2load"
  # With -D, h2load's "finished in" includes the warm-up but its req/s and counts cover the
  # measured period only: the measured time is requests done / req/s.
  R_TOTAL_RPS="$(awk '/^finished in/ { print $4 }' "$out")"
  R_DONE="$(awk '/^requests:/ { print $6 }' "$out")"
  R_SECS="$(awk -v n="$R_DONE" -v r="$R_TOTAL_RPS" 'BEGIN { printf "%.3f", (r > 0 ? n / r : 0) }')"
  R_FAILED="$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")"
  R_2XX="$(awk '/^status codes:/ { print $3 }' "$out")"
  R_NON2XX="$(awk '/^status codes:/ { print $5 + $7 + $9 }' "$out")"
  R_TLS="$(awk -F': ' '/^TLS Protocol/ { print $2 }' "$out")"
  R_RPS="$(awk -v n="$R_2XX" -v s="$R_SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')"
  read -r _ R_P99 _ < <(percentiles "$WORK/$1.h2log")
}

# p50, p99 and max in ms of the per-request logs given (3rd column: microseconds to the end of
# the response), because h2load itself prints only min/max/mean/sd.
percentiles() { # h2log...
  cut -f3 "$@" | sort -n | awk '
    { a[NR] = $1 }
    END {
      if (NR == 0) { print "nan nan nan"; exit }
      i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
      printf "%.2f %.2f %.2f\n", a[i50] / 1000, a[i99] / 1000, a[NR] / 1000
    }'
}

# Pools the rounds of one server into P_*: sums of the counts, 2xx/s over all measured seconds,
# percentiles over every request, the mean CPU shares, and each round's rate and p99.
pool_rounds() { # name
  local name="$1" r secs=0 requests=0
  P_2XX=0 P_FAILED=0 P_NON2XX=0 P_ROUNDS_RPS="" P_ROUNDS_P99=""
  for ((r = 1; r <= ROUNDS; r++)); do
    parse_run "$name.$r"
    P_2XX=$((P_2XX + R_2XX)) P_FAILED=$((P_FAILED + R_FAILED)) P_NON2XX=$((P_NON2XX + R_NON2XX))
    requests=$((requests + R_DONE))
    secs="$(awk -v a="$secs" -v b="$R_SECS" 'BEGIN { printf "%.3f", a + b }')"
    P_ROUNDS_RPS+="${P_ROUNDS_RPS:+ }$R_RPS" P_ROUNDS_P99+="${P_ROUNDS_P99:+ }$R_P99"
  done
  P_DONE=$requests P_TLS=$R_TLS
  P_RPS="$(awk -v n="$P_2XX" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')"
  P_TOTAL_RPS="$(awk -v n="$requests" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')"
  local logs=()
  for ((r = 1; r <= ROUNDS; r++)); do logs+=("$WORK/$name.$r.h2log"); done
  read -r P_P50 P_P99 P_PMAX < <(percentiles "${logs[@]}")
}

# 5. Memory: VmRSS sampled every 100 ms while the controller is up.
sample_rss() { # pid file
  while kill -0 "$1" 2>/dev/null; do
    rss_kib "$1" VmRSS >>"$2"
    sleep 0.1
  done
}

RSS_IDLE_KIB="$(rss_kib "$SERVER_PID" VmRSS)"
sample_rss "$SERVER_PID" "$WORK/rss.samples" &
SAMPLER_PID=$!

# Both servers stay up for all the rounds, but only one is loaded at a time; the idle one does
# nothing (its CPU would show under "anything else").
"${PRIO[@]}" "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log" &
NGINX_PID=$!
wait_ready "https://127.0.0.1:$NGINX_PORT/" "$NGINX_PID" "nginx"
log "nginx ready on 127.0.0.1:$NGINX_PORT (pid $NGINX_PID)"
mapfile -t nginx_pids < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID" || true)
NGINX_URL="https://127.0.0.1:$NGINX_PORT/v1alpha1/informers/example-storage-operator/reports"

C_CPU=0 C_H2CPU=0 C_OTHER=0 N_CPU=0 N_H2CPU=0 N_OTHER=0
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS: the controller, $CONNS connections, ${DURATION}s after ${WARMUP}s warm-up"
  if [[ "$PROFILE" == 1 && "$round" == 1 ]]; then
    command -v perf >/dev/null 2>&1 || die "PROFILE=1 needs perf"
    # Starts after the warm-up and stops before the end of the measured period.
    (sleep "$((WARMUP + 1))" && exec perf record -q -e cpu-clock -F 499 -p "$SERVER_PID" \
      -o "$WORK/perf.data" -- sleep "$((DURATION > 4 ? DURATION - 3 : 1))") >"$WORK/perf.log" 2>&1 &
    PERF_PID=$!
  fi
  timed_load "controller.$round" "$REPORT_URL" "$SERVER_PID"
  C_CPU=$((C_CPU + L_SERVER)) C_H2CPU=$((C_H2CPU + L_H2LOAD)) C_OTHER=$((C_OTHER + L_OTHER))
  if [[ -n "$PERF_PID" ]]; then
    wait "$PERF_PID" || true
    PERF_PID=""
  fi
  log "round $round/$ROUNDS: nginx, the same command"
  timed_load "nginx.$round" "$NGINX_URL" "${nginx_pids[@]}"
  N_CPU=$((N_CPU + L_SERVER)) N_H2CPU=$((N_H2CPU + L_H2LOAD)) N_OTHER=$((N_OTHER + L_OTHER))
done
# Mean CPU shares over the rounds.
for v in C_CPU C_H2CPU C_OTHER N_CPU N_H2CPU N_OTHER; do
  printf -v "$v" '%d' $((${!v} / ROUNDS))
done

pool_rounds controller
C_RPS=$P_RPS C_TOTAL_RPS=$P_TOTAL_RPS C_P50=$P_P50 C_P99=$P_P99 C_PMAX=$P_PMAX C_DONE=$P_DONE
C_FAILED=$P_FAILED C_2XX=$P_2XX C_NON2XX=$P_NON2XX C_TLS=$P_TLS
C_ROUNDS_RPS=$P_ROUNDS_RPS C_ROUNDS_P99=$P_ROUNDS_P99
pool_rounds nginx
N_RPS=$P_RPS N_TOTAL_RPS=$P_TOTAL_RPS N_P50=$P_P50 N_P99=$P_P99 N_PMAX=$P_PMAX N_DONE=$P_DONE
N_FAILED=$P_FAILED N_2XX=$P_2XX N_NON2XX=$P_NON2XX N_TLS=$P_TLS
N_ROUNDS_RPS=$P_ROUNDS_RPS N_ROUNDS_P99=$P_ROUNDS_P99
ROUND_RATIOS="$(awk -v c="$C_ROUNDS_RPS" -v n="$N_ROUNDS_RPS" 'BEGIN {
    k = split(c, a, " "); split(n, b, " ")
    for (i = 1; i <= k; i++) printf "%s%.1f", (i > 1 ? " " : ""), (b[i] > 0 ? 100 * a[i] / b[i] : 0) }')"

sleep 1
stop_pid "$SAMPLER_PID" 2
SAMPLER_PID=""
RSS_AFTER_KIB="$(rss_kib "$SERVER_PID" VmRSS)"
RSS_HWM_KIB="$(rss_kib "$SERVER_PID" VmHWM)"
RSS_SAMPLED_MAX_KIB="$(sort -n "$WORK/rss.samples" | tail -1)"
AUDIT_LINES="$(grep -c 'informer request' "$WORK/server.log" || true)"
stop_pid "$SERVER_PID" 25
SERVER_PID=""
stop_pid "$NGINX_PID" 10
NGINX_PID=""

# ---------------------------------------------------------------------------------------------
# 6. Summary.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
RATIO="$(awk -v c="$C_RPS" -v n="$N_RPS" 'BEGIN { printf "%.1f", (n > 0 ? 100 * c / n : 0) }')"
PEAK_KIB=$((RSS_HWM_KIB > RSS_SAMPLED_MAX_KIB ? RSS_HWM_KIB : RSS_SAMPLED_MAX_KIB))
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
V_RPS="$(verdict "$C_RPS >= $T_RPS && $C_FAILED == 0 && $C_NON2XX == 0")"
V_P99="$(verdict "\"$C_P99\" != \"nan\" && $C_P99 < $T_P99_MS")"
V_RATIO="$(verdict "$RATIO >= $T_RATIO_PCT")"
V_RSS="$(verdict "$PEAK_KIB < $T_RSS_MIB * 1024")"

cat <<EOF

informer_load: started $STARTED, $(nproc) cores, load average before: $LOADAVG0, $(uname -r), $(h2load --version 2>&1 | head -1), $("$NGINX" -v 2>&1)
priority:  nice $BENCH_NICE (process and autogroup) for the servers and h2load, against other work on the machine
load:      h2load --h1 -t $H2LOAD_THREADS -c $CONNS -D $DURATION --warm-up-time $WARMUP, POST over keep-alive TLS to 127.0.0.1;
           $ROUNDS rounds, the controller then nginx in each; numbers pooled over the rounds
body:      one constant 1-insight report ($(wc -c <"$WORK/report.json") bytes); after the first, every repeat is
           idempotent (accepted, store unchanged), which is the steady state of a producer
controller: serve --dev --rate-limit $RATE_LIMIT --rate-burst $RATE_BURST (defaults 10/s, burst 20: lifted
           because every request comes from one identity; the per-source connection cap, 64, raised
           to CONNS when above, because every connection comes from 127.0.0.1); everything else default, audit log
           (one line per report) to a file; TLS: $C_TLS
nginx:     static 'return 200' on POST, worker_processes 2, access_log off, same cert; TLS: $N_TLS

                      controller        nginx
2xx/s                 $(printf '%-17s %s' "$C_RPS" "$N_RPS")
  per round           $(printf '%-17s %s' "$C_ROUNDS_RPS" "$N_ROUNDS_RPS")   (controller/nginx: $ROUND_RATIOS %)
all req/s (h2load)    $(printf '%-17s %s' "$C_TOTAL_RPS" "$N_TOTAL_RPS")
p50 ms                $(printf '%-17s %s' "$C_P50" "$N_P50")
p99 ms                $(printf '%-17s %s' "$C_P99" "$N_P99")
  per round           $(printf '%-17s %s' "$C_ROUNDS_P99" "$N_ROUNDS_P99")
max ms                $(printf '%-17s %s' "$C_PMAX" "$N_PMAX")
requests done         $(printf '%-17s %s' "$C_DONE" "$N_DONE")
2xx responses         $(printf '%-17s %s' "$C_2XX" "$N_2XX")
failed/errored/t.o.   $(printf '%-17s %s' "$C_FAILED" "$N_FAILED")
non-2xx               $(printf '%-17s %s' "$C_NON2XX" "$N_NON2XX")
CPU % (of one core, mean of the rounds; the machine has $(nproc) cores; includes the warm-up):
  server              $(printf '%-17s %s' "$C_CPU" "$N_CPU")
  h2load              $(printf '%-17s %s' "$C_H2CPU" "$N_H2CPU")
  anything else       $(printf '%-17s %s' "$C_OTHER" "$N_OTHER")$(
  awk -v a="$C_OTHER" -v b="$N_OTHER" 'BEGIN { if (a > 20 || b > 20) printf "   <- other processes competed: numbers are lower bounds" }')
controller RSS MiB    idle $(mib "$RSS_IDLE_KIB"), peak sampled $(mib "$RSS_SAMPLED_MAX_KIB"), VmHWM $(mib "$RSS_HWM_KIB"), after $(mib "$RSS_AFTER_KIB")
audit lines written   $AUDIT_LINES

target                          measured                     verdict
accepted reports/s >= $T_RPS     $(printf '%-28s %s' "$C_RPS (non-2xx $C_NON2XX, failed $C_FAILED)" "$V_RPS")
p99 < $T_P99_MS ms                    $(printf '%-28s %s' "$C_P99 ms" "$V_P99")
>= $T_RATIO_PCT % of nginx               $(printf '%-28s %s' "$RATIO %" "$V_RATIO")
RSS < $T_RSS_MIB MiB                   $(printf '%-28s %s' "$(mib "$PEAK_KIB") MiB" "$V_RSS")
EOF

if [[ "$PROFILE" == 1 && -s "$WORK/perf.data" ]]; then
  perf report -i "$WORK/perf.data" --no-children --stdio --sort dso,sym 2>/dev/null \
    | grep '%' | grep -v '^#' >"$WORK/perf.syms" || true
  echo
  echo "controller CPU by component (perf cpu-clock samples, self time):"
  awk '{
      pct = $1; sub(/%/, "", pct); kind = $3; sym = $0
      if (kind == "[k]") k = "kernel: syscalls, loopback TCP, scheduling"
      else if (sym ~ /p256|crypto_bigint|primeorder|ecdsa|elliptic_curve|wnaf|jsonwebtoken/) k = "ES256 token verification (RustCrypto p256 via jsonwebtoken)"
      else if (sym ~ /ring_core|rustls/) k = "TLS record layer (rustls, ring)"
      else if (sym ~ /serde|json/) k = "JSON parsing/encoding"
      else if (sym ~ /hyper|axum|tower|http::/) k = "HTTP (hyper, axum)"
      else if (sym ~ /tokio|mio/) k = "tokio runtime"
      else if (sym ~ /tracing|fmt|format/) k = "formatting and logging"
      else if (sym ~ /malloc|free|memmove|memcpy|memset|memcmp/) k = "libc allocation and copies"
      else k = "other"
      g[k] += pct
    }
    END { for (k in g) printf "  %6.2f%%  %s\n", g[k], k }' "$WORK/perf.syms" | sort -rn
  echo "top symbols:"
  head -12 "$WORK/perf.syms" | cut -c1-150
fi

if [[ "$STRICT" == 1 ]] && [[ "$V_RPS$V_P99$V_RATIO$V_RSS" == *MISS* ]]; then
  exit 1
fi

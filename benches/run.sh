#!/usr/bin/env bash
# End-to-end benchmark: Portcullis vs NGINX as mTLS reverse proxies, one run, same machine.
#
#   bash benches/run.sh                 # 10 s per scenario
#   DURATION=5 bash benches/run.sh      # shorter
#
# Knobs (environment): DURATION (s, default 10), WARMUP (s, default 2), PROXIES ("portcullis nginx"),
# KA_CONNS (64), HS_CONC (16), LARGE_CONNS (8), IDLE_CONNS (2000), PORT_BASE (18400),
# PROXY_CPU (0), CLIENT_CPU (1), MULTI_WORKERS (2: workers of the unpinned keep-alive run),
# NICE (-10, root only), QUIET_WAIT (20 s) / QUIET_MAX (15 %): wait before each load until the
# machine is quiet, LOG_SETTLE (1.5 s: wait after each load before counting access-log lines),
# PORTCULLIS_ACCESS_LOG_VIA (path|stderr, see below), KEEP_TMP=1 keeps the temp
# dir (keys, configs, full logs), PORTCULLIS_RUNTIME (empty: Portcullis' default; per-core or
# shared: `serve --runtime`, which matters above 1 worker, i.e. in (a2)), INSTRUCTIONS (1: also count
# user-space instructions per request under callgrind when valgrind is installed; 0: skip; only: skip
# the timed scenarios), INSTR_DURATION (6 s per counted load), INSTR_CONNS (1 keep-alive connection),
# PHASES ("main idle multi": which timed phases run; e.g. PHASES=multi INSTRUCTIONS=0 for (a2) alone).
# Both proxies write an access-log line per request to a file: NGINX buffered (buffer=64k flush=1s),
# Portcullis with its default access log. After every load the script counts the new lines.
# Installs nothing. Needs: nginx (apt-get install -y nginx-light, or nginx), taskset (util-linux);
# valgrind for the instruction counts (skipped without it).
# See benches/README.md for what each scenario measures.
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PROXIES=${PROXIES:-portcullis nginx}
KA_CONNS=${KA_CONNS:-64}
HS_CONC=${HS_CONC:-16}
LARGE_CONNS=${LARGE_CONNS:-8}
# (c)'s client side: `records` reads and counts body records without decrypting them, so that
# on a 2-vCPU machine the load side does not bound the proxy (benches/README.md); `hyper` is the
# full client the other scenarios use.
LARGE_CLIENT=${LARGE_CLIENT:-records}
IDLE_CONNS=${IDLE_CONNS:-2000}
PORT_BASE=${PORT_BASE:-18400}
PROXY_CPU=${PROXY_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MULTI_WORKERS=${MULTI_WORKERS:-2}
LOG_SETTLE=${LOG_SETTLE:-1.5}
PORTCULLIS_RUNTIME=${PORTCULLIS_RUNTIME:-}
INSTRUCTIONS=${INSTRUCTIONS:-1}
INSTR_DURATION=${INSTR_DURATION:-6}
INSTR_CONNS=${INSTR_CONNS:-1}
PHASES=${PHASES:-main idle multi}

# How Portcullis' access log reaches its file. "path" (default): the generated config sets
# `[access_log] path`, buffered as NGINX's `buffer=64k flush=1s`, and every line of that file
# counts. "stderr": the lines go to stderr (still buffered), which this script sends to a file
# (errors share it; only ` access: ` lines count).
PORTCULLIS_ACCESS_LOG_VIA=${PORTCULLIS_ACCESS_LOG_VIA:-path}
[[ $PORTCULLIS_ACCESS_LOG_VIA == stderr || $PORTCULLIS_ACCESS_LOG_VIA == path ]] ||
    { echo "PORTCULLIS_ACCESS_LOG_VIA must be stderr or path" >&2; exit 2; }

UP_PORT=$PORT_BASE
PORTCULLIS_PORT=$((PORT_BASE + 43))
NGINX_PORT=$((PORT_BASE + 44))

cd "$(dirname "$0")/.."
ROOT=$PWD
T_START=$(date +%s)

log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ------------------------------------------------------------------ prerequisites
command -v taskset >/dev/null || die "taskset not found: apt-get install -y util-linux"
command -v getconf >/dev/null || die "getconf not found: apt-get install -y libc-bin"
command -v cargo >/dev/null || die "cargo not found"
if [[ " $PROXIES " == *" nginx "* ]] && ! command -v nginx >/dev/null; then
    die "nginx not found: apt-get install -y nginx-light   (or: apt-get install -y nginx)"
fi
[[ $(nproc) -ge 2 ]] || log "warning: fewer than 2 CPUs; proxy and client will share a core"
CLK_TCK=$(getconf CLK_TCK)

# Proxy, upstream and loadgen run at NICE (default -10, root only) so background work on the
# machine yields to them; both proxies get the same treatment.
NICE=${NICE:--10}
PRIO=()
if [[ $NICE != 0 ]] && nice -n "$NICE" true 2>/dev/null && [[ $(nice -n "$NICE" nice) == "$NICE" ]]; then
    PRIO=(nice -n "$NICE")
else
    log "note: running at normal priority (NICE=$NICE not possible here)"
fi
# With sched_autogroup each session is one scheduling group: nice ranks processes only inside this
# session, and another session's compile still gets its equal share of each CPU. Say so in the report.
PRIO_NOTE=
if ((${#PRIO[@]} > 0)) && [[ $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null) == 1 ]]; then
    PRIO_NOTE=" (sched_autogroup on: nice ranks only within this session; other sessions still get their share)"
    log "note: sched_autogroup is on: NICE=$NICE does not make other sessions' work yield"
fi

# 2000 idle connections need file descriptors in the proxy and in the client.
want_fds=$((IDLE_CONNS * 2 + 1024))
ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) -ge $((IDLE_CONNS + 256)) ]] ||
    die "ulimit -n is $(ulimit -n); need >= $((IDLE_CONNS + 256)) (raise the hard limit or lower IDLE_CONNS)"

# ------------------------------------------------------------------ build
log "building portcullis (cargo build --release --locked)"
cargo build --release --locked >&2
log "building the load generator (cargo build --release --locked --benches)"
LOADGEN=$(cargo build --release --locked --benches --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*/deps/loadgen-[^"]*"' | tail -n 1 | sed 's/^"executable":"//; s/"$//')
[[ -n $LOADGEN && -x $LOADGEN ]] || die "could not find the loadgen bench binary"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PORTCULLIS_BIN=$TARGET_DIR/release/portcullis
if [[ " $PROXIES " == *" portcullis "* ]]; then
    [[ -x $PORTCULLIS_BIN ]] || die "$PORTCULLIS_BIN not built"
fi

# ------------------------------------------------------------------ temp dir, cleanup
TMP=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
RUN_ID=$(date +%Y%m%d-%H%M%S)
OUT=$TARGET_DIR/bench-results/$RUN_ID
mkdir -p "$OUT"
BG_PIDS=()
# Access logs: both in the temp dir, on the same file system.
PORTCULLIS_ACCESS_LOG=$TMP/portcullis-access.log
NGINX_ACCESS_LOG=$TMP/nginx/access.log
ACCESS_TSV=$OUT/access_log.tsv
: >"$ACCESS_TSV"

# Copies the logs to $OUT. Files over 1 MiB (access logs: hundreds of MB at full duration) only
# as their last 200 lines (NAME.tail) and their first 1000 lines that are not access lines
# (NAME.other: Portcullis' errors share its stderr with the access lines).
save_logs() {
    local f
    for f in "$TMP"/*.log "$TMP"/nginx/*.log; do
        [[ -f $f ]] || continue
        if (($(stat -c %s "$f") > 1048576)); then
            tail -n 200 "$f" >"$OUT/$(basename "$f").tail" 2>/dev/null || true
            { grep -v ' access: ' "$f" || true; } | head -n 1000 >"$OUT/$(basename "$f").other" 2>/dev/null || true
        else
            cp "$f" "$OUT"/ 2>/dev/null || true
        fi
    done
    cp "$TMP"/*.toml "$TMP"/nginx/*.conf "$OUT"/ 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    save_logs
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a command in the background and remembers its PID (taskset execs, so $! is the process).
spawn() {
    local logf=$1
    shift
    "$@" >"$logf" 2>&1 &
    BG_PIDS+=($!)
    LAST_PID=$!
}

# Stops one background process (TERM, then KILL after 5 s).
stop() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

wait_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# PIDs of the direct children of $1 (no procps needed).
children_of() {
    local parent=$1 f line rest pid ppid
    for f in /proc/[0-9]*/stat; do
        line=$(cat "$f" 2>/dev/null) || continue
        rest=${line##*) }
        read -r _ ppid _ <<<"$rest"
        if [[ $ppid == "$parent" ]]; then
            pid=${f#/proc/}
            echo "${pid%/stat}"
        fi
    done
}

# ------------------------------------------------------------------ PKI, upstream
PKI=$TMP/pki
log "generating the PKI in $PKI"
"$LOADGEN" pki --dir "$PKI"

log "starting the upstream on 127.0.0.1:$UP_PORT (CPU $CLIENT_CPU)"
spawn "$TMP/upstream.log" "${PRIO[@]}" taskset -c "$CLIENT_CPU" "$LOADGEN" upstream --listen "127.0.0.1:$UP_PORT"
UP_PID=$LAST_PID
wait_port "$UP_PORT" "$UP_PID" || die "upstream did not start: $(cat "$TMP/upstream.log")"

# ------------------------------------------------------------------ proxies
# Portcullis' access log: its default line; where it goes depends on PORTCULLIS_ACCESS_LOG_VIA.
PORTCULLIS_ACCESS_TOML=
if [[ $PORTCULLIS_ACCESS_LOG_VIA == path ]]; then
    PORTCULLIS_ACCESS_TOML="[access_log]
path = \"$PORTCULLIS_ACCESS_LOG\""
fi

cat >"$TMP/portcullis.toml" <<EOF
[limits]
idle_timeout_ms = 600000

# The access log is on (its default line, one per request); see PORTCULLIS_ACCESS_LOG_VIA in run.sh.
$PORTCULLIS_ACCESS_TOML

# The benchmark measures the proxy, not AWS's account limit (10000 rps, the default bucket).
[throttling]
rate = 1000000000
burst = 1000000000

# (e): one authorization rule, checked on every request and never refusing a bench client.
[authorization.bench]
deny = [ { subject_cn = ["nobody"] } ]

[[domain]]
name = "localhost"
listen = "127.0.0.1:$PORTCULLIS_PORT"
certificate = "$PKI/server.pem"
private_key = "$PKI/server.key"
truststore = "$PKI/truststore.pem"
min_tls_version = "1.3"

[[domain.mapping]]
base_path = "/"
api = "bench"
stage = "prod"

[api.bench.stages.prod]
variables = { backend = "up" }

[[api.bench.routes]]
method = "GET"
path = "/small"
integration = "http://\${stageVariables.backend}/rest-service/small"

# (e): the same route behind one authorization rule and one route bucket that never runs dry.
[[api.bench.routes]]
method = "GET"
path = "/small-throttled"
integration = "http://\${stageVariables.backend}/rest-service/small"
throttling = { rate = 1000000000, burst = 1000000000 }
authorization = "bench"

[[api.bench.routes]]
method = "GET"
path = "/large"
integration = "http://\${stageVariables.backend}/rest-service/large"

[upstream.up]
targets = ["127.0.0.1:$UP_PORT"]
EOF

mkdir -p "$TMP/nginx/temp"
# Writes the NGINX config for $1 worker processes to stdout.
nginx_conf() {
    cat <<EOF
# Fairness: worker_processes as run.sh asks (1 pinned to one CPU, or $MULTI_WORKERS unpinned, then
# a listening socket per worker: reuseport, as Portcullis' per-core workers), TLS 1.3 only, client
# certs verified, no session resumption, keep-alive to the upstream, and a buffered access log to a
# file with about the fields of Portcullis' default access line.
worker_processes $1;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
worker_rlimit_nofile $want_fds;

events {
    worker_connections $((IDLE_CONNS + 1024));
}

http {
    # The fields of Portcullis' default line (time, level, target, request id, client, subject,
    # domain, method, path, route, api, stage, upstream, status, error, side, bytes, bytes_in,
    # latency, upstream latency, aborted, cut, authz rule and reason), in the same key=value shape.
    log_format portcullis_like '\$time_iso8601 INFO access: request request_id=\$request_id '
        'client=\$remote_addr:\$remote_port subject="\$ssl_client_s_dn" domain=\$ssl_server_name '
        'method=\$request_method path=\$uri route=\$uri api=bench stage=prod '
        'upstream=\$upstream_addr status=\$status error="" side="" bytes=\$body_bytes_sent '
        'bytes_in=\$request_length latency_s=\$request_time upstream_latency_s=\$upstream_response_time '
        'aborted=false cut="" authz_rule="" authz_reason=""';
    access_log $NGINX_ACCESS_LOG portcullis_like buffer=64k flush=1s;
    client_body_temp_path $TMP/nginx/temp/body;
    proxy_temp_path $TMP/nginx/temp/proxy;
    fastcgi_temp_path $TMP/nginx/temp/fastcgi;
    uwsgi_temp_path $TMP/nginx/temp/uwsgi;
    scgi_temp_path $TMP/nginx/temp/scgi;

    keepalive_timeout 600s;
    keepalive_requests 1000000;

    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
    }

    server {
        # Above one worker, reuseport: a listening socket per worker, connections spread by the
        # kernel's hash, as Portcullis' per-core workers do. Without it NGINX's workers share one
        # socket and a burst of connects can all land on one worker (seen: 292 and 0 CPU ticks),
        # so (a2) measured one busy NGINX worker against two busy Portcullis ones in some runs
        # and not in others. Not at one worker, where it only cost NGINX (3 of 3 pairs).
        listen 127.0.0.1:$NGINX_PORT ssl$([[ $1 -gt 1 ]] && echo ' reuseport');
        server_name localhost;

        ssl_certificate $PKI/server.pem;
        ssl_certificate_key $PKI/server.key;
        ssl_protocols TLSv1.3;
        ssl_verify_client on;
        ssl_client_certificate $PKI/truststore.pem;
        ssl_verify_depth 3;
        ssl_session_cache off;
        ssl_session_tickets off;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_max_temp_file_size 0;

        location = /small { proxy_pass http://up/rest-service/small; }
        location = /large { proxy_pass http://up/rest-service/large; }
    }
}
EOF
}
nginx_conf 1 >"$TMP/nginx/nginx-1w.conf"
nginx_conf "$MULTI_WORKERS" >"$TMP/nginx/nginx-${MULTI_WORKERS}w.conf"

CUR_PROXY=
PROXY_PID=
PROXY_PIDS_CSV=
PROXY_PORT=
PORTCULLIS_STDERR=

# start_proxy NAME PHASE WORKERS PIN: starts proxy NAME with WORKERS workers, pinned to PROXY_CPU
# when PIN is "pinned" (anything else: unpinned); its stdout and stderr go to $TMP/NAME.PHASE.log.
# Sets CUR_PROXY, PROXY_PID, PROXY_PIDS_CSV (pid + children: NGINX master + workers), PROXY_PORT.
start_proxy() {
    local name=$1 phase=$2 workers=$3 pin=$4 i kids nkids logf
    local cpus=()
    [[ $pin == pinned ]] && cpus=(taskset -c "$PROXY_CPU")
    CUR_PROXY=$name
    logf=$TMP/$name.$phase.log
    case $name in
    portcullis)
        PROXY_PORT=$PORTCULLIS_PORT
        PORTCULLIS_STDERR=$logf
        # RUST_LOG unset: the default level (info), so the access log is on.
        spawn "$logf" env -u RUST_LOG "${PRIO[@]}" "${cpus[@]}" \
            "$PORTCULLIS_BIN" serve --config "$TMP/portcullis.toml" --workers "$workers" \
            ${PORTCULLIS_RUNTIME:+--runtime "$PORTCULLIS_RUNTIME"}
        ;;
    nginx)
        PROXY_PORT=$NGINX_PORT
        spawn "$logf" "${PRIO[@]}" "${cpus[@]}" \
            nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx-${workers}w.conf" -e "$TMP/nginx/error.log"
        ;;
    *) die "unknown proxy $name" ;;
    esac
    PROXY_PID=$LAST_PID
    if ! wait_port "$PROXY_PORT" "$PROXY_PID"; then
        log "$name did not start; log:"
        cat "$logf" "$TMP/nginx/error.log" 2>/dev/null | tail -n 20 >&2 || true
        echo "$name ($phase) did not start; see $(basename "$logf")" >>"$OUT/failed.txt"
        return 1
    fi
    kids=
    for ((i = 0; i < 50; i++)); do
        kids=$(children_of "$PROXY_PID" | tr '\n' ',')
        nkids=$(tr -cd ',' <<<"$kids" | wc -c)
        [[ $name != nginx ]] || ((nkids >= workers)) && break
        sleep 0.1
    done
    PROXY_PIDS_CSV=${kids}${PROXY_PID}
    log "$name up ($workers worker(s), $pin): pids $PROXY_PIDS_CSV, port $PROXY_PORT"
}

# Waits (up to QUIET_WAIT s, default 20) until the machine is quiet: < QUIET_MAX % (default 15) of one
# core busy over 1 s. Other work on a 2-core machine distorts every number.
wait_quiet() {
    local deadline=$((SECONDS + ${QUIET_WAIT:-20})) a b busy
    while :; do
        read -r _ a1 a2 a3 _ _ a6 a7 a8 _ </proc/stat
        sleep 1
        read -r _ b1 b2 b3 _ _ b6 b7 b8 _ </proc/stat
        a=$((a1 + a2 + a3 + a6 + a7 + a8))
        b=$((b1 + b2 + b3 + b6 + b7 + b8))
        busy=$(((b - a) * 100 / CLK_TCK))
        ((busy < ${QUIET_MAX:-15})) && return 0
        if ((SECONDS >= deadline)); then
            log "warning: machine still busy (${busy}% of a core); measuring anyway"
            return 0
        fi
        log "machine busy (${busy}% of a core), waiting"
        sleep 2
    done
}

# The current proxy's access-log file and how its lines are told apart: "FILE|all" or "FILE|access".
access_log_source() {
    case $CUR_PROXY in
    nginx) echo "$NGINX_ACCESS_LOG|all" ;;
    portcullis)
        if [[ $PORTCULLIS_ACCESS_LOG_VIA == path ]]; then
            echo "$PORTCULLIS_ACCESS_LOG|all"
        else
            echo "$PORTCULLIS_STDERR|access"
        fi
        ;;
    esac
}

# Size in bytes of file $1 (0 when missing).
file_size() {
    if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi
}

# access_lines_since FILE|KIND OFFSET: access-log lines written after byte OFFSET.
access_lines_since() {
    local f=${1%|*} kind=${1#*|} off=$2
    [[ -f $f ]] || {
        echo 0
        return
    }
    if [[ $kind == all ]]; then
        tail -c +$((off + 1)) "$f" | wc -l
    else
        tail -c +$((off + 1)) "$f" | grep -c ' access: ' || true
    fi
}

# load SCENARIO LOADGEN-ARGS...: runs the load generator pinned to CLIENT_CPU against the current
# proxy (JSON to $OUT/PROXY.SCENARIO.json), then checks that the proxy's access log got about one
# line per request sent (warm-up included) and records it in access_log.tsv.
load() {
    local scen=$1 out src off lines sent
    shift
    out=$OUT/$CUR_PROXY.$scen.json
    wait_quiet
    src=$(access_log_source)
    off=$(file_size "${src%|*}")
    "${PRIO[@]}" taskset -c "$CLIENT_CPU" "$LOADGEN" load --json --label "$scen" \
        --cacert "$PKI/root-ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" \
        --sni localhost --clk-tck "$CLK_TCK" --proxy-pids "$PROXY_PIDS_CSV" --upstream-pid "$UP_PID" "$@" \
        >"$out" 2>>"$TMP/loadgen.log" || true
    cat "$out" >&2
    # NGINX flushes its buffer after 1 s; let every line reach the file before counting.
    sleep "$LOG_SETTLE"
    lines=$(access_lines_since "$src" "$off")
    sent=$(jget "$out" requests_total)
    printf '%s\t%s\t%s\t%s\n' "$CUR_PROXY" "$scen" "${sent:-0}" "$lines" >>"$ACCESS_TSV"
    log "$CUR_PROXY $scen: $lines access-log lines for ${sent:-?} requests sent"
    if [[ ${sent:-0} -gt 0 && $lines -eq 0 ]]; then
        log "WARNING ************************************************************************"
        log "WARNING $CUR_PROXY logged NOTHING for $scen (${src%|*}): the comparison is unfair"
        log "WARNING ************************************************************************"
    fi
}

# jget FILE KEY -> value (empty when missing or null)
jget() {
    [[ -s $1 ]] || return 0
    sed -n "s/.*\"$2\":\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" "$1" | tr -d '"' | sed 's/^null$//'
}

# One worker pinned to PROXY_CPU: (a), (e), (b), (c).
run_main() {
    local name=$1 base
    log "=== $name: one worker pinned"
    start_proxy "$name" main-1w-pinned 1 pinned || return 0
    base=https://127.0.0.1:$PROXY_PORT
    # Functional check: both routes answer 2xx with the right body size.
    load check_small --mode keepalive --connections 1 --duration 0.5 --url "$base/small"
    load check_large --mode keepalive --connections 1 --duration 0.5 --url "$base/large"
    log "$name: (a) keep-alive, $KA_CONNS connections, /small, 1 worker pinned"
    load ka_small --mode keepalive --connections "$KA_CONNS" \
        --duration "$DURATION" --warmup "$WARMUP" --url "$base/small"
    # (e) right after (a), then (e) and (a) once more (a, e, e, a): this VM's speed drifts within
    # a minute by more than the 5 % (e) checks, and in that order a steady drift cancels out of
    # the comparison. The tables show the first (a) and (e) windows; the check uses all four.
    if [[ $name == portcullis ]]; then
        log "$name: (e) keep-alive, $KA_CONNS connections, /small-throttled (one authorization rule, one route bucket)"
        load ka_throttled --mode keepalive \
            --connections "$KA_CONNS" --duration "$DURATION" --warmup "$WARMUP" --url "$base/small-throttled"
        log "$name: (e) again, then (a) again, for the overhead check"
        load ka_throttled2 --mode keepalive \
            --connections "$KA_CONNS" --duration "$DURATION" --warmup "$WARMUP" --url "$base/small-throttled"
        load ka_small2 --mode keepalive \
            --connections "$KA_CONNS" --duration "$DURATION" --warmup "$WARMUP" --url "$base/small"
    fi
    log "$name: (b) handshake per request, concurrency $HS_CONC, /small"
    load handshake --mode handshake --connections "$HS_CONC" \
        --duration "$DURATION" --warmup "$WARMUP" --url "$base/small"
    log "$name: (c) keep-alive, $LARGE_CONNS connections, /large (1 MiB), $LARGE_CLIENT client"
    load ka_large --mode keepalive --client "$LARGE_CLIENT" --connections "$LARGE_CONNS" \
        --duration "$DURATION" --warmup "$WARMUP" --url "$base/large"
    stop "$PROXY_PID"
}

# (d) on a fresh process so earlier scenarios' freed memory does not hide the cost.
run_idle() {
    local name=$1 base
    log "=== $name: idle connections"
    start_proxy "$name" idle-1w-pinned 1 pinned || return 0
    base=https://127.0.0.1:$PROXY_PORT
    log "$name: (d) $IDLE_CONNS idle mTLS connections held ${DURATION}s"
    load idle --mode idle --connections "$IDLE_CONNS" \
        --duration "$DURATION" --warmup 1 --url "$base/small"
    stop "$PROXY_PID"
}

# (a2) MULTI_WORKERS workers, unpinned (the load generator stays on CLIENT_CPU).
run_multi() {
    local name=$1
    log "=== $name: $MULTI_WORKERS workers unpinned"
    start_proxy "$name" "multi-${MULTI_WORKERS}w-unpinned" "$MULTI_WORKERS" unpinned || return 0
    log "$name: (a2) keep-alive, $KA_CONNS connections, /small, $MULTI_WORKERS workers unpinned"
    load ka_small_multi --mode keepalive --connections "$KA_CONNS" \
        --duration "$DURATION" --warmup "$WARMUP" --url "https://127.0.0.1:$PROXY_PORT/small"
    stop "$PROXY_PID"
}

# Phase by phase, each proxy in turn: the two proxies' windows of one scenario are about a
# minute apart rather than a whole run's half, since this VM's speed drifts over minutes.
if [[ $INSTRUCTIONS != only ]]; then
    for phase in $PHASES; do
        [[ $phase == main || $phase == idle || $phase == multi ]] ||
            die "PHASES: unknown phase '$phase' (main, idle or multi)"
        for p in $PROXIES; do
            "run_$phase" "$p"
        done
    done
fi

# ------------------------------------------------------------------ instructions (INSTRUCTIONS)
# CPU time on a shared 2-core VM moves 10 % or more between runs; instructions do not. Each proxy
# runs once more under callgrind (one worker pinned; NGINX without its master process) and serves
# requests back to back on INSTR_CONNS (1) keep-alive connection to /small (and /small-throttled);
# its counters are zeroed before each load and dumped after, so each count covers that load alone,
# access-log writing included. One connection makes every request one wake-up of the proxy: with
# many, the count per request follows how requests happen to batch (and, ~50x slowed, Portcullis'
# connections park between requests), which moves it by 10 % from load to load. Instructions are not
# time (NGINX's and Portcullis' code differ in instructions per cycle): compare Portcullis with
# itself here ((e) against (a)), and the two proxies in the timed tables.
INSTR_TSV=$OUT/instructions.tsv
: >"$INSTR_TSV"
if [[ $INSTRUCTIONS != 0 ]] && ! command -v callgrind_control >/dev/null; then
    log "valgrind not installed (apt-get install -y valgrind): no instruction counts"
    INSTRUCTIONS=0
fi

# instr_load PID LABEL URL: one keep-alive load with PID's callgrind counters zeroed before and
# dumped after; appends "proxy label requests instructions" to instructions.tsv.
instr_load() {
    local pid=$1 label=$2 url=$3 out n f ir
    out=$OUT/$CUR_PROXY.instr_$label.json
    callgrind_control -z "$pid" >/dev/null 2>&1 || return 0
    taskset -c "$CLIENT_CPU" "$LOADGEN" load --json --label "instr_$label" --cacert "$PKI/root-ca.pem" \
        --cert "$PKI/client.pem" --key "$PKI/client.key" --sni localhost --mode keepalive \
        --connections "$INSTR_CONNS" --duration "$INSTR_DURATION" --warmup 0 --url "$url" \
        >"$out" 2>>"$TMP/loadgen.log" || true
    callgrind_control -d "$pid" >/dev/null 2>&1 || return 0
    sleep 0.5
    f=$(ls -t "$TMP"/callgrind.out."$pid".* 2>/dev/null | head -n 1)
    ir=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$f" 2>/dev/null | head -n 1)
    n=$(jget "$out" requests_total)
    [[ -n $ir && -n $n && $n -gt 0 ]] || return 0
    printf '%s\t%s\t%s\t%s\n' "$CUR_PROXY" "$label" "$n" "$ir" >>"$INSTR_TSV"
    log "$CUR_PROXY $label under callgrind: $n requests, $ir instructions ($((ir / n)) per request)"
}

instr_proxy() {
    local name=$1 url r cg=(valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out.%p")
    CUR_PROXY=$name
    case $name in
    portcullis)
        PROXY_PORT=$PORTCULLIS_PORT
        spawn "$TMP/$name.instr.log" env -u RUST_LOG taskset -c "$PROXY_CPU" "${cg[@]}" \
            "$PORTCULLIS_BIN" serve --config "$TMP/portcullis.toml" --workers 1
        ;;
    nginx)
        PROXY_PORT=$NGINX_PORT
        sed 's/^master_process on;/master_process off;/' "$TMP/nginx/nginx-1w.conf" >"$TMP/nginx/nginx-instr.conf"
        spawn "$TMP/$name.instr.log" taskset -c "$PROXY_CPU" "${cg[@]}" \
            nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx-instr.conf" -e "$TMP/nginx/error.log"
        ;;
    esac
    PROXY_PID=$LAST_PID
    # Under valgrind startup takes seconds.
    for ((r = 0; r < 5; r++)); do wait_port "$PROXY_PORT" "$PROXY_PID" && break; done
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null; then
        log "$name did not start under valgrind; see $TMP/$name.instr.log"
        stop "$PROXY_PID"
        return 0
    fi
    url=https://127.0.0.1:$PROXY_PORT
    log "$name under callgrind: warming up"
    taskset -c "$CLIENT_CPU" "$LOADGEN" load --json --label instr_warm --cacert "$PKI/root-ca.pem" \
        --cert "$PKI/client.pem" --key "$PKI/client.key" --sni localhost --mode keepalive \
        --connections "$INSTR_CONNS" --duration 3 --warmup 0 --url "$url/small" >/dev/null 2>>"$TMP/loadgen.log" || true
    for r in 1 2; do
        instr_load "$PROXY_PID" small "$url/small"
        [[ $name != portcullis ]] || instr_load "$PROXY_PID" small_throttled "$url/small-throttled"
    done
    stop "$PROXY_PID"
}

if [[ $INSTRUCTIONS != 0 ]]; then
    for p in $PROXIES; do
        instr_proxy "$p"
    done
fi

# ------------------------------------------------------------------ report
# Targets are issue 11's (ratios Portcullis / NGINX, measured in this one run).

# row SCENARIO METRIC FILE_SUFFIX KEY TARGET_OP TARGET_RATIO
# TARGET_OP: le (ratio <= x), ge (ratio >= x), info (no target), zero (portcullis must be 0)
row() {
    local scen=$1 metric=$2 suffix=$3 key=$4 op=$5 x=${6:-}
    local a b d=
    a=$(jget "$OUT/portcullis.$suffix.json" "$key")
    b=$(jget "$OUT/nginx.$suffix.json" "$key")
    # CPU contention skews ratios of time and throughput, not error counts or memory.
    if [[ ($op == le || $op == ge) && $suffix != idle ]]; then
        d=$(disturbed "$suffix")
    fi
    [[ $key == mib_per_s ]] && d+=$(load_bound "$suffix")
    awk -v s="$scen" -v m="$metric" -v a="$a" -v b="$b" -v op="$op" -v x="$x" -v d="$d" 'BEGIN {
        ratio = "-"; verdict = "-"; target = "-"
        if (op == "le") target = "<= " x "x"
        if (op == "ge") target = ">= " x "x"
        if (op == "zero") target = "portcullis = 0"
        if (a != "" && b != "" && b + 0 != 0) {
            r = a / b; ratio = sprintf("%.2fx", r)
            if (op == "le") verdict = (r <= x + 1e-9) ? "PASS" : "FAIL"
            if (op == "ge") verdict = (r >= x - 1e-9) ? "PASS" : "FAIL"
        }
        if (op == "zero" && a != "") verdict = (a + 0 == 0) ? "PASS" : "FAIL"
        if (verdict != "-") verdict = verdict d
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", s, m, (a == "" ? "-" : a), (b == "" ? "-" : b), ratio, target, verdict
    }'
}

# disturbed SUFFIX...: prints " (disturbed)" when other processes used > 15 % of a core during
# scenario SUFFIX of any proxy; a verdict taken then says little.
disturbed() {
    local sc p o
    for sc in "$@"; do
        for p in $PROXIES; do
            o=$(jget "$OUT/$p.$sc.json" foreign_cpu_pct)
            if [[ -n $o ]] && awk -v o="$o" 'BEGIN { exit !(o > 15) }'; then
                echo " (disturbed)"
                return
            fi
        done
    done
}

# load_bound SUFFIX: prints " (load-bound: ...)" when, in Portcullis' window of scenario SUFFIX, its
# pinned core had room left (< 90 % busy) while the load generator and the upstream, pinned together
# on CLIENT_CPU, kept that core busy (>= 90 %): the throughput then measured the load side, not the
# proxy, and "MiB/s per proxy core" (the row below it) is the proxy's figure.
load_bound() {
    local f=$OUT/portcullis.$1.json
    awk -v p="$(jget "$f" proxy_cpu_pct)" -v c="$(jget "$f" client_cpu_pct)" \
        -v u="$(jget "$f" upstream_cpu_pct)" 'BEGIN {
        if (p != "" && c != "" && u != "" && p + 0 < 90 && c + u >= 90)
            printf " (load-bound: proxy core %.0f %% busy, load generator + upstream %.0f %%)", p, c + u
    }'
}

# per_core_row SCENARIO FILE_SUFFIX: MiB/s divided by the share of a core the proxy used, with the
# ratio: what each proxy moves per core it burns (the inverse of its CPU per response).
per_core_row() {
    local pj=$OUT/portcullis.$2.json nj=$OUT/nginx.$2.json
    awk -v s="$1" -v am="$(jget "$pj" mib_per_s)" -v ac="$(jget "$pj" proxy_cpu_pct)" \
        -v bm="$(jget "$nj" mib_per_s)" -v bc="$(jget "$nj" proxy_cpu_pct)" 'BEGIN {
        pa = (am != "" && ac + 0 > 0) ? am * 100 / ac : ""
        pb = (bm != "" && bc + 0 > 0) ? bm * 100 / bc : ""
        r = (pa != "" && pb != "") ? sprintf("%.2fx", pa / pb) : "-"
        printf "| %s | MiB/s per proxy core | %s | %s | %s | - | - |\n", s,
            (pa == "" ? "-" : sprintf("%.1f", pa)), (pb == "" ? "-" : sprintf("%.1f", pb)), r
    }'
}

# cpu_row SCENARIO FILE_SUFFIX TARGET_OP TARGET_RATIO: user, system and total proxy CPU (µs) per
# request of both proxies, and the ratio of the totals.
cpu_row() {
    local scen=$1 suffix=$2 op=$3 x=${4:-} pf nf
    pf=$OUT/portcullis.$suffix.json
    nf=$OUT/nginx.$suffix.json
    awk -v s="$scen" -v op="$op" -v x="$x" -v d="$(disturbed "$suffix")" \
        -v pu="$(jget "$pf" proxy_user_us_per_req)" -v ps="$(jget "$pf" proxy_sys_us_per_req)" \
        -v pt="$(jget "$pf" proxy_cpu_us_per_req)" \
        -v nu="$(jget "$nf" proxy_user_us_per_req)" -v ns="$(jget "$nf" proxy_sys_us_per_req)" \
        -v nt="$(jget "$nf" proxy_cpu_us_per_req)" 'BEGIN {
        ratio = "-"; verdict = "-"; target = "-"
        if (op == "le") target = "<= " x "x"
        if (pt != "" && nt != "" && nt + 0 != 0) {
            r = pt / nt; ratio = sprintf("%.2fx", r)
            if (op == "le") verdict = (r <= x + 1e-9) ? "PASS" : "FAIL"
        }
        if (verdict != "-") verdict = verdict d
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s,
            (pu == "" ? "-" : pu), (ps == "" ? "-" : ps), (pt == "" ? "-" : pt),
            (nu == "" ? "-" : nu), (ns == "" ? "-" : ns), (nt == "" ? "-" : nt), ratio, target, verdict
    }'
}

NOISY=
ACCESS_BAD=
{
    echo "## Run $RUN_ID: Portcullis vs NGINX (every number below is from this one run)"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), DURATION=${DURATION}s WARMUP=${WARMUP}s; $(nginx -v 2>&1 || true); $(rustc --version)"
    echo "$(nproc) CPUs; 1-worker scenarios: proxy pinned to CPU $PROXY_CPU; (a2): $MULTI_WORKERS workers unpinned; loadgen+upstream on CPU $CLIENT_CPU; ${PRIO[*]:-normal priority}$PRIO_NOTE"
    echo "Access logs, one line per request, both to a file in $TMP: NGINX 'access_log FILE portcullis_like buffer=64k flush=1s',"
    echo "Portcullis its default line via $([[ $PORTCULLIS_ACCESS_LOG_VIA == path ]] && echo "[access_log] path" || echo "tracing to stderr, redirected to a file")."
    echo "A verdict marked (disturbed) comes from a window where other processes used > 15 % of a core (last table)."
    echo
    echo "### CPU per request, user and system (µs; /proc/PID/stat utime, stime over the window; NGINX = master + workers)"
    echo
    echo "| scenario | portcullis user | portcullis sys | portcullis total | nginx user | nginx sys | nginx total | ratio of totals | target | verdict |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    cpu_row "(a) keep-alive ${KA_CONNS}c /small, 1 worker pinned" ka_small le 1.0
    cpu_row "(a2) keep-alive ${KA_CONNS}c /small, $MULTI_WORKERS workers unpinned" ka_small_multi le 1.0
    cpu_row "(b) full mTLS handshake ${HS_CONC}w, per handshake" handshake le 0.5
    cpu_row "(c) keep-alive ${LARGE_CONNS}c 1 MiB, per response" ka_large info
    cpu_row "(e) as (a), /small-throttled: 1 authz rule + 1 route bucket" ka_throttled info
    echo
    # (e) Portcullis against itself: what one authorization rule and one route bucket cost per
    # keep-alive request (issue 10: <= 5 %).
    # Mean of the two (e) windows against the mean of the two (a) windows (a, e, e, a).
    a1=$(jget "$OUT/portcullis.ka_small.json" proxy_cpu_us_per_req)
    a2=$(jget "$OUT/portcullis.ka_small2.json" proxy_cpu_us_per_req)
    e1=$(jget "$OUT/portcullis.ka_throttled.json" proxy_cpu_us_per_req)
    e2=$(jget "$OUT/portcullis.ka_throttled2.json" proxy_cpu_us_per_req)
    awk -v a1="$a1" -v a2="$a2" -v e1="$e1" -v e2="$e2" \
        -v e1err="$(jget "$OUT/portcullis.ka_throttled.json" errors)" \
        -v e2err="$(jget "$OUT/portcullis.ka_throttled2.json" errors)" \
        -v d="$(PROXIES=portcullis disturbed ka_small ka_throttled ka_throttled2 ka_small2)" 'BEGIN {
        if (a1 == "" || a2 == "" || e1 == "" || e2 == "" || a1 + a2 == 0) { print "authz+throttle overhead (e) vs (a): not measured"; exit }
        a = (a1 + a2) / 2; t = (e1 + e2) / 2; e = e1err + e2err
        o = (t / a - 1) * 100
        printf "authz+throttle overhead (e) vs (a), Portcullis CPU per keep-alive request, windows in the order a, e, e, a: %+.1f %% (%.2f vs %.2f us: (e) %s and %s, (a) %s and %s; target <= 5 %%: %s%s), errors %s\n", o, t, a, e1, e2, a1, a2, (o <= 5 + 1e-9 ? "PASS" : "FAIL"), d, e
    }'
    echo
    if [[ -s $INSTR_TSV ]]; then
        echo "### User-space instructions per request (callgrind; ${INSTR_CONNS} keep-alive connection(s), requests back to back, ${INSTR_DURATION}s, twice each)"
        echo
        echo "| load | portcullis | nginx | ratio |"
        echo "|---|---|---|---|"
        awk -F'\t' '{ n[$1 "/" $2] += $3; ir[$1 "/" $2] += $4 }
            END {
                p = ("portcullis/small" in n) ? ir["portcullis/small"] / n["portcullis/small"] : 0
                g = ("nginx/small" in n) ? ir["nginx/small"] / n["nginx/small"] : 0
                t = ("portcullis/small_throttled" in n) ? ir["portcullis/small_throttled"] / n["portcullis/small_throttled"] : 0
                printf "| (a) /small | %s | %s | %s |\n", (p ? sprintf("%.0f", p) : "-"), (g ? sprintf("%.0f", g) : "-"), (p && g ? sprintf("%.2fx", p / g) : "-")
                printf "| (e) /small-throttled | %s | - | - |\n", (t ? sprintf("%.0f", t) : "-")
                if (p && t) printf "\nauthz+throttle overhead (e) vs (a) in user-space instructions per request: %+.1f %%\n", (t / p - 1) * 100
            }' "$INSTR_TSV"
        echo
    fi
    echo "### Throughput, latency, memory, errors"
    echo
    echo "| scenario | metric | portcullis | nginx | ratio | target | verdict |"
    echo "|---|---|---|---|---|---|---|"
    row "(a) keep-alive ${KA_CONNS}c /small, 1w" "requests/s" ka_small rps info
    row "(a) keep-alive ${KA_CONNS}c /small, 1w" "p50 latency us" ka_small p50_us info
    row "(a) keep-alive ${KA_CONNS}c /small, 1w" "p99 latency us" ka_small p99_us le 1.0
    row "(a) keep-alive ${KA_CONNS}c /small, 1w" "errors" ka_small errors zero
    row "(a2) keep-alive ${KA_CONNS}c /small, ${MULTI_WORKERS}w" "requests/s" ka_small_multi rps info
    row "(a2) keep-alive ${KA_CONNS}c /small, ${MULTI_WORKERS}w" "p50 latency us" ka_small_multi p50_us info
    row "(a2) keep-alive ${KA_CONNS}c /small, ${MULTI_WORKERS}w" "p99 latency us" ka_small_multi p99_us le 1.0
    row "(a2) keep-alive ${KA_CONNS}c /small, ${MULTI_WORKERS}w" "errors" ka_small_multi errors zero
    row "(b) handshake ${HS_CONC}w /small" "handshakes/s" handshake rps info
    row "(b) handshake ${HS_CONC}w /small" "p50 latency us" handshake p50_us info
    row "(b) handshake ${HS_CONC}w /small" "p99 latency us" handshake p99_us le 1.0
    row "(b) handshake ${HS_CONC}w /small" "errors" handshake errors zero
    row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" "throughput MiB/s" ka_large mib_per_s ge 1.5
    per_core_row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" ka_large
    row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" "p99 latency us" ka_large p99_us le 1.0
    row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" "errors" ka_large errors zero
    row "(d) ${IDLE_CONNS} idle mTLS conns" "connections open at end" idle open info
    row "(d) ${IDLE_CONNS} idle mTLS conns" "RSS before (kB)" idle rss_before_kb info
    row "(d) ${IDLE_CONNS} idle mTLS conns" "RSS idle (kB)" idle rss_idle_kb info
    row "(d) ${IDLE_CONNS} idle mTLS conns" "RSS bytes per idle conn" idle mem_per_conn_bytes le 1.0
    row "(d) ${IDLE_CONNS} idle mTLS conns" "errors opening" idle errors zero
    row "(e) keep-alive ${KA_CONNS}c /small-throttled, 1w" "requests/s" ka_throttled rps info
    row "(e) keep-alive ${KA_CONNS}c /small-throttled, 1w" "errors" ka_throttled errors zero
    echo
    echo "### Access log lines per scenario (each proxy's file; requests sent include warm-up and tail)"
    echo
    echo "| proxy | scenario | requests sent | access-log lines | lines/request | check |"
    echo "|---|---|---|---|---|---|"
    while IFS=$'\t' read -r p sc sent lines; do
        verdict=$(awk -v s="$sent" -v l="$lines" 'BEGIN {
            if (s + 0 == 0) { print "- | no requests"; exit }
            r = l / s
            v = (l + 0 == 0) ? "LOGGED NOTHING" : ((r >= 0.9 && r <= 1.1) ? "ok" : "MISMATCH")
            printf "%.3f | %s\n", r, v
        }')
        echo "| $p | $sc | $sent | $lines | $verdict |"
        [[ $verdict == *ok || $verdict == *"no requests" ]] || ACCESS_BAD="$ACCESS_BAD $p/$sc"
    done <"$ACCESS_TSV"
    echo
    if [[ -s $OUT/failed.txt ]]; then
        echo "WARNING: PROXY FAILED TO START (its scenarios show '-'):"
        sed 's/^/  /' "$OUT/failed.txt"
        echo
    fi
    if [[ -n $ACCESS_BAD ]]; then
        echo "WARNING: ACCESS LOG NOT ~1 LINE PER REQUEST in:$ACCESS_BAD -- the comparison is not like with like."
        echo
    fi
    echo "### Where the CPU went during each window (% of one core)"
    echo
    echo "'other' = processes that are not proxy, loadgen or upstream, of which 'niced' = background nice>0;"
    echo "irq = irq+softirq from /proc/stat, mostly loopback TCP; with tick-based accounting a softirq tick is"
    echo "also charged to the task it interrupted (often the proxy's sys time), so the columns can overlap."
    echo "A verdict marked (disturbed) comes from a window where 'other' exceeded 15 %."
    echo
    echo "| scenario | proxy | proxy % | loadgen % | upstream % | irq % | other % | other niced % |"
    echo "|---|---|---|---|---|---|---|---|"
    for sc in ka_small ka_small_multi handshake ka_large ka_throttled ka_throttled2 ka_small2; do
        for p in $PROXIES; do
            f=$OUT/$p.$sc.json
            [[ -s $f ]] || continue
            printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$sc" "$p" "$(jget "$f" proxy_cpu_pct)" \
                "$(jget "$f" client_cpu_pct)" "$(jget "$f" upstream_cpu_pct)" "$(jget "$f" irq_cpu_pct)" \
                "$(jget "$f" foreign_cpu_pct)" "$(jget "$f" niced_cpu_pct)"
            other=$(jget "$f" foreign_cpu_pct)
            if [[ -n $other ]] && awk -v o="$other" 'BEGIN { exit !(o > 15) }'; then
                NOISY="$NOISY $p/$sc"
            fi
        done
    done
    echo
    if [[ -n $NOISY ]]; then
        echo "WARNING: other processes used > 15% of a core during:$NOISY; numbers there are disturbed."
    fi
    # INSTRUCTIONS=only runs no timed scenario, the checks included.
    for p in $([[ $INSTRUCTIONS == only ]] || echo "$PROXIES"); do
        for c in small large; do
            f=$OUT/$p.check_$c.json
            n=$(jget "$f" requests)
            bytes=$(jget "$f" bytes)
            if [[ -n $n && $n -gt 0 && $(jget "$f" errors) == 0 ]]; then
                echo "check $p /$c: ok ($((bytes / n)) body bytes per response)"
            else
                echo "check $p /$c: FAILED (see $OUT)"
            fi
        done
        echo "tls $p: $(jget "$OUT/$p.check_small.json" tls)"
    done
    echo "run $RUN_ID wall time: $(($(date +%s) - T_START)) s; raw JSON, configs and logs: $OUT"
} | tee "$OUT/table.md"

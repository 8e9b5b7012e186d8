#!/usr/bin/env bash
# End-to-end benchmark: Portcullis vs NGINX as mTLS reverse proxies, one run, same machine.
#
#   bash benches/run.sh                 # 10 s per scenario
#   DURATION=5 bash benches/run.sh      # shorter
#
# Knobs (environment): DURATION (s, default 10), WARMUP (s, default 2), PROXIES ("portcullis nginx"),
# KA_CONNS (64), HS_CONC (16), LARGE_CONNS (8), IDLE_CONNS (2000), PORT_BASE (18400),
# PROXY_CPU (0), CLIENT_CPU (1), NICE (-10, root only), QUIET_WAIT (20 s) / QUIET_MAX (15 %): wait before each load until the
# machine is quiet, KEEP_TMP=1 keeps the temp dir (keys, configs, logs), PORTCULLIS_RUNTIME
# (empty: Portcullis' default; per-core or shared: `serve --runtime`, which matters above 1 worker).
# Installs nothing. Needs: nginx (apt-get install -y nginx-light, or nginx), taskset (util-linux).
# See benches/README.md for what each scenario measures.
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PROXIES=${PROXIES:-portcullis nginx}
KA_CONNS=${KA_CONNS:-64}
HS_CONC=${HS_CONC:-16}
LARGE_CONNS=${LARGE_CONNS:-8}
IDLE_CONNS=${IDLE_CONNS:-2000}
PORT_BASE=${PORT_BASE:-18400}
PROXY_CPU=${PROXY_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORTCULLIS_RUNTIME=${PORTCULLIS_RUNTIME:-}

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
PORTCULLIS_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis
if [[ " $PROXIES " == *" portcullis "* ]]; then
    [[ -x $PORTCULLIS_BIN ]] || die "$PORTCULLIS_BIN not built"
fi

# ------------------------------------------------------------------ temp dir, cleanup
TMP=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
OUT=$ROOT/target/bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
BG_PIDS=()

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    cp "$TMP"/*.log "$TMP"/*.toml "$TMP"/nginx/*.conf "$TMP"/nginx/*.log "$OUT"/ 2>/dev/null || true
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
cat >"$TMP/portcullis.toml" <<EOF
[limits]
idle_timeout_ms = 600000

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
cat >"$TMP/nginx/nginx.conf" <<EOF
# Fairness: one worker on one CPU, TLS 1.3 only, client certs verified, no session
# resumption, keep-alive to the upstream, no access log (Portcullis runs with RUST_LOG=warn).
worker_processes 1;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
worker_rlimit_nofile $want_fds;

events {
    worker_connections $((IDLE_CONNS + 1024));
}

http {
    access_log off;
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
        listen 127.0.0.1:$NGINX_PORT ssl;
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

PROXY_PID=
PROXY_PIDS_CSV=
PROXY_PORT=

# Starts proxy $1 pinned to PROXY_CPU; sets PROXY_PID, PROXY_PIDS_CSV (pid + children), PROXY_PORT.
start_proxy() {
    local name=$1 i kids
    case $name in
    portcullis)
        PROXY_PORT=$PORTCULLIS_PORT
        spawn "$TMP/portcullis.log" env RUST_LOG=warn "${PRIO[@]}" taskset -c "$PROXY_CPU" \
            "$PORTCULLIS_BIN" serve --config "$TMP/portcullis.toml" --workers 1 \
            ${PORTCULLIS_RUNTIME:+--runtime "$PORTCULLIS_RUNTIME"}
        ;;
    nginx)
        PROXY_PORT=$NGINX_PORT
        spawn "$TMP/nginx.log" "${PRIO[@]}" taskset -c "$PROXY_CPU" \
            nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log"
        ;;
    *) die "unknown proxy $name" ;;
    esac
    PROXY_PID=$LAST_PID
    if ! wait_port "$PROXY_PORT" "$PROXY_PID"; then
        log "$name did not start; log:"
        cat "$TMP/$name.log" "$TMP/nginx/error.log" 2>/dev/null | tail -n 20 >&2 || true
        return 1
    fi
    kids=
    for ((i = 0; i < 50; i++)); do
        kids=$(children_of "$PROXY_PID" | tr '\n' ',')
        [[ $name != nginx || -n $kids ]] && break
        sleep 0.1
    done
    PROXY_PIDS_CSV=${kids}${PROXY_PID}
    log "$name up: pids $PROXY_PIDS_CSV, port $PROXY_PORT"
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

# Runs the load generator pinned to CLIENT_CPU against the current proxy; JSON to $1.
load() {
    local out=$1
    shift
    wait_quiet
    "${PRIO[@]}" taskset -c "$CLIENT_CPU" "$LOADGEN" load --json \
        --cacert "$PKI/root-ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" \
        --sni localhost --clk-tck "$CLK_TCK" --proxy-pids "$PROXY_PIDS_CSV" --upstream-pid "$UP_PID" "$@" \
        >"$out" 2>>"$TMP/loadgen.log" || true
    cat "$out" >&2
}

run_proxy() {
    local name=$1 base
    log "=== $name"
    start_proxy "$name" || return 0
    base=https://127.0.0.1:$PROXY_PORT
    # Functional check: both routes answer 2xx with the right body size.
    load "$OUT/$name.check_small.json" --label check --mode keepalive --connections 1 \
        --duration 0.5 --url "$base/small"
    load "$OUT/$name.check_large.json" --label check --mode keepalive --connections 1 \
        --duration 0.5 --url "$base/large"
    log "$name: (a) keep-alive, $KA_CONNS connections, /small"
    load "$OUT/$name.ka_small.json" --label ka_small --mode keepalive --connections "$KA_CONNS" \
        --duration "$DURATION" --warmup "$WARMUP" --url "$base/small"
    log "$name: (b) handshake per request, concurrency $HS_CONC, /small"
    load "$OUT/$name.handshake.json" --label handshake --mode handshake --connections "$HS_CONC" \
        --duration "$DURATION" --warmup "$WARMUP" --url "$base/small"
    log "$name: (c) keep-alive, $LARGE_CONNS connections, /large (1 MiB)"
    load "$OUT/$name.ka_large.json" --label ka_large --mode keepalive --connections "$LARGE_CONNS" \
        --duration "$DURATION" --warmup "$WARMUP" --url "$base/large"
    if [[ $name == portcullis ]]; then
        log "$name: (e) keep-alive, $KA_CONNS connections, /small-throttled (one authorization rule, one route bucket)"
        load "$OUT/$name.ka_throttled.json" --label ka_throttled --mode keepalive \
            --connections "$KA_CONNS" --duration "$DURATION" --warmup "$WARMUP" --url "$base/small-throttled"
    fi
    # (d) on a fresh process so earlier scenarios' freed memory does not hide the cost.
    stop "$PROXY_PID"
    start_proxy "$name" || return 0
    log "$name: (d) $IDLE_CONNS idle mTLS connections held ${DURATION}s"
    load "$OUT/$name.idle.json" --label idle --mode idle --connections "$IDLE_CONNS" \
        --duration "$DURATION" --warmup 1 --url "$base/small"
    stop "$PROXY_PID"
}

for p in $PROXIES; do
    run_proxy "$p"
done

# ------------------------------------------------------------------ report
# jget FILE KEY -> value (empty when missing or null)
jget() {
    [[ -s $1 ]] || return 0
    sed -n "s/.*\"$2\":\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" "$1" | tr -d '"' | sed 's/^null$//'
}

# row SCENARIO METRIC FILE_SUFFIX KEY TARGET_OP TARGET_RATIO
# TARGET_OP: le (ratio <= x), ge (ratio >= x), info (no target), zero (portcullis must be 0)
row() {
    local scen=$1 metric=$2 suffix=$3 key=$4 op=$5 x=${6:-}
    local a b
    a=$(jget "$OUT/portcullis.$suffix.json" "$key")
    b=$(jget "$OUT/nginx.$suffix.json" "$key")
    awk -v s="$scen" -v m="$metric" -v a="$a" -v b="$b" -v op="$op" -v x="$x" 'BEGIN {
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
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", s, m, (a == "" ? "-" : a), (b == "" ? "-" : b), ratio, target, verdict
    }'
}

NOISY=
{
    echo "Portcullis vs NGINX, $(date -u +%Y-%m-%dT%H:%MZ), DURATION=${DURATION}s WARMUP=${WARMUP}s"
    echo "$(nginx -v 2>&1 || true); $(rustc --version); $(nproc) CPUs; proxy on CPU $PROXY_CPU, loadgen+upstream on CPU $CLIENT_CPU; ${PRIO[*]:-normal priority}"
    echo
    echo "| scenario | metric | portcullis | nginx | ratio | target | verdict |"
    echo "|---|---|---|---|---|---|---|"
    row "(a) keep-alive ${KA_CONNS}c /small" "requests/s" ka_small rps info
    row "(a) keep-alive ${KA_CONNS}c /small" "proxy CPU us/request" ka_small proxy_cpu_us_per_req le 0.8
    row "(a) keep-alive ${KA_CONNS}c /small" "p50 latency us" ka_small p50_us info
    row "(a) keep-alive ${KA_CONNS}c /small" "p99 latency us" ka_small p99_us le 1.0
    row "(a) keep-alive ${KA_CONNS}c /small" "errors" ka_small errors zero
    row "(b) handshake ${HS_CONC}w /small" "handshakes/s" handshake rps info
    row "(b) handshake ${HS_CONC}w /small" "proxy CPU us/handshake" handshake proxy_cpu_us_per_req le 0.5
    row "(b) handshake ${HS_CONC}w /small" "p50 latency us" handshake p50_us info
    row "(b) handshake ${HS_CONC}w /small" "p99 latency us" handshake p99_us le 1.0
    row "(b) handshake ${HS_CONC}w /small" "errors" handshake errors zero
    row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" "throughput MiB/s" ka_large mib_per_s ge 0.9
    row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" "proxy CPU us/request" ka_large proxy_cpu_us_per_req info
    row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" "p99 latency us" ka_large p99_us le 1.0
    row "(c) keep-alive ${LARGE_CONNS}c 1 MiB" "errors" ka_large errors zero
    row "(d) ${IDLE_CONNS} idle mTLS conns" "connections open at end" idle open info
    row "(d) ${IDLE_CONNS} idle mTLS conns" "RSS before (kB)" idle rss_before_kb info
    row "(d) ${IDLE_CONNS} idle mTLS conns" "RSS idle (kB)" idle rss_idle_kb info
    row "(d) ${IDLE_CONNS} idle mTLS conns" "RSS bytes per idle conn" idle mem_per_conn_bytes le 1.0
    row "(d) ${IDLE_CONNS} idle mTLS conns" "errors opening" idle errors zero
    echo
    # (e) Portcullis against itself: what one authorization rule and one route bucket cost per
    # keep-alive request.
    a=$(jget "$OUT/portcullis.ka_throttled.json" proxy_cpu_us_per_req)
    b=$(jget "$OUT/portcullis.ka_small.json" proxy_cpu_us_per_req)
    awk -v a="$a" -v b="$b" -v e="$(jget "$OUT/portcullis.ka_throttled.json" errors)" 'BEGIN {
        if (a == "" || b == "" || b + 0 == 0) { print "(e) rule and bucket: not measured"; exit }
        r = a / b
        printf "(e) keep-alive /small with one authorization rule and one route bucket: proxy CPU %s us/request vs %s without: %.3fx (target <= 1.05x: %s), errors %s\n", a, b, r, (r <= 1.05 + 1e-9 ? "PASS" : "FAIL"), e
    }'
    echo
    echo "Where the CPU went during each window (% of one core; 'other' = processes that are not proxy,"
    echo "loadgen or upstream, of which 'niced' = background nice>0; irq = irq+softirq, mostly loopback TCP):"
    echo
    echo "| scenario | proxy | proxy % | loadgen % | upstream % | irq % | other % | other niced % |"
    echo "|---|---|---|---|---|---|---|---|"
    for sc in ka_small handshake ka_large; do
        for p in $PROXIES; do
            f=$OUT/$p.$sc.json
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
    for p in $PROXIES; do
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
    echo "wall time: $(($(date +%s) - T_START)) s; raw JSON and logs: $OUT"
} | tee "$OUT/table.md"

#!/usr/bin/env bash
# bench/echo.sh: echo servers under /work/shared/tools/echoload, interleaved.
# Usually called by bench/run.sh (which builds everything first and writes
# RESULTS.md afterwards); alone it runs the servers already built in
# $BENCH_OUT/bin and appends nothing: run bench/report.py to rewrite
# RESULTS.md from the raw rows it leaves in $BENCH_OUT/echo.tsv.
#
#   bench/echo.sh [--quick] [--rounds R] [--secs D] [--conns "1 64 1000"]
#                 [--sizes "64 4096"] [--servers "LABEL ..."] [--threads T]
#                 [--bufsize B]
#
# Server labels (see bench/README.md): goring_p1 goring_p2 go_p1 go_p2
# uring_single uring_mt_p2 epoll_p1 epoll_p2 (the _pN suffix is --procs N).
# Default: goring_p1 goring_p2 go_p2 uring_single uring_mt_p2 epoll_p1.
# Each run: start the server, wait for "listening on", a 0.5 s warm-up load
# (discarded), read the server's utime+stime from /proc/PID/stat, the
# measured echoload run, read it again, SIGTERM the server.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${BENCH_OUT:-$here/out}
bin=$out/bin
rounds=3 secs=3 conns="1 64 1000" sizes="64 4096" threads=1 bufsize=16384
servers="goring_p1 goring_p2 go_p2 uring_single uring_mt_p2 epoll_p1"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) rounds=1 secs=1 ;;
    --rounds) rounds=$2; shift ;;
    --secs) secs=$2; shift ;;
    --conns) conns=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --servers) servers=$2; shift ;;
    --threads) threads=$2; shift ;;
    --bufsize) bufsize=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "echo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
log() { printf '[echo %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
goring_server=$out/build/examples/echo-server
clk_tck=$(getconf CLK_TCK)

# server_cmd LABEL ADDR -> the command line, or nothing when not built
server_cmd() {
    local label=$1 addr=$2 procs=1 exe
    case "$label" in *_p[0-9]*) procs=${label##*_p} ;; esac
    case "$label" in
    goring_p*) exe=$goring_server ;;
    go_p*) exe=$bin/go_echo_server ;;
    uring_single) exe=$bin/echo_uring_single ;;
    uring_mt_p*) exe=$bin/echo_uring_mt ;;
    epoll_p*) exe=$bin/echo_epoll ;;
    *) echo "echo.sh: unknown server label $label" >&2; exit 2 ;;
    esac
    # goring's echo-server may be a libtool wrapper script; it execs the
    # real program in the same process, so /proc/PID/stat still is the server
    [ -x "$exe" ] || return 0
    echo "$exe --addr $addr --procs $procs --bufsize $bufsize"
}

cpu_ticks() { # utime + stime of every thread of PID, in clock ticks
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

srv_pid=""
cleanup() { [ -n "$srv_pid" ] && kill -KILL "$srv_pid" 2>/dev/null; true; }
trap cleanup EXIT

port_seq=0
run_echo() { # label conns size round
    local label=$1 c=$2 s=$3 r=$4 port addr cmd i res t0 t1 rc=0
    port=$((21000 + port_seq % 3000)); port_seq=$((port_seq + 1))
    addr=127.0.0.1:$port
    cmd=$(server_cmd "$label" "$addr")
    if [ -z "$cmd" ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$label" "$c" "$s" missing 1 >>"$out/echo.tsv.new"
        return 0
    fi
    local attempt started=0 st
    for attempt in 1 2; do # a server that dies at start gets one more try
        $cmd >"$out/echo_server.log" 2>&1 &
        srv_pid=$!
        for ((i = 0; i < 200; i++)); do
            grep -q '^listening on' "$out/echo_server.log" 2>/dev/null && break
            kill -0 "$srv_pid" 2>/dev/null || break
            sleep 0.05
        done
        if grep -q '^listening on' "$out/echo_server.log"; then started=1; break; fi
        kill -KILL "$srv_pid" 2>/dev/null || true
        st=0; wait "$srv_pid" 2>/dev/null || st=$?
        srv_pid=""
        log "$label (attempt $attempt) did not start: exit status $st: $(head -c 300 "$out/echo_server.log" | tr '\n' ' ')"
        cp "$out/echo_server.log" "$out/echo_server_failed_${label}_${c}_${s}.log"
    done
    if [ $started = 0 ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$label" "$c" "$s" failed 1 >>"$out/echo.tsv.new"
        return 0
    fi
    "$bin/echoload" -q -c "$c" -s "$s" -t "$threads" -d 0.5 "$addr" >/dev/null 2>&1 || true
    t0=$(cpu_ticks "$srv_pid")
    res=$("$bin/echoload" -q -c "$c" -s "$s" -t "$threads" -d "$secs" "$addr" 2>>"$out/echoload.err") || rc=$?
    t1=$(cpu_ticks "$srv_pid" 2>/dev/null || true) # empty: the server died
    kill -TERM "$srv_pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$srv_pid" 2>/dev/null || true
    st=0; wait "$srv_pid" 2>/dev/null || st=$?
    srv_pid=""
    [ $st -eq 0 ] || log "$label c=$c s=$s: server exit status $st after SIGTERM: $(tail -c 300 "$out/echo_server.log" | tr '\n' ' ')"
    [ $rc -eq 0 ] || log "$label c=$c s=$s: echoload exit $rc: $res"
    awk -v r="$r" -v l="$label" -v c="$c" -v s="$s" -v dt="${t1:+$((t1 - t0))}" -v hz="$clk_tck" '
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        END {
            if (v["msgs"] == "" || v["msgs"] == 0) { printf "%s\t%s\t%s\t%s\terrors\t%s\n", r, l, c, s, (v["errors"] == "" ? 1 : v["errors"]); exit }
            printf "%s\t%s\t%s\t%s\tmsgs_per_s\t%s\n", r, l, c, s, v["msgs_per_s"]
            printf "%s\t%s\t%s\t%s\tp50_us\t%s\n", r, l, c, s, v["p50_us"]
            printf "%s\t%s\t%s\t%s\tp99_us\t%s\n", r, l, c, s, v["p99_us"]
            if (dt != "") printf "%s\t%s\t%s\t%s\tcpu_s_per_M\t%.4f\n", r, l, c, s, dt / hz / v["msgs"] * 1e6
            printf "%s\t%s\t%s\t%s\terrors\t%s\n", r, l, c, s, v["errors"]
            printf "%s\t%s\t%s\t%s\tclient_cpu_pct\t%s\n", r, l, c, s, v["client_cpu_pct"]
        }' <<<"$res" >>"$out/echo.tsv.new"
}

for b in "$bin/echoload"; do
    [ -x "$b" ] || { echo "echo.sh: $b missing: run bench/run.sh --build-only first" >&2; exit 1; }
done
[ -x "$goring_server" ] || log "goring's examples/echo-server is not built: its rows will say missing"
: >"$out/echo.tsv.new"
set -- $servers
nserv=$#
n_runs=$((rounds * $(wc -w <<<"$conns") * $(wc -w <<<"$sizes") * nserv))
log "$n_runs runs of ${secs}s (+ start, warm-up, stop): $servers"
{
    echo "echo_secs=$secs"
    echo "echo_rounds=$rounds"
    echo "echo_client=echoload -t $threads -P 1 -d $secs (after a 0.5 s warm-up run), server --bufsize $bufsize"
} >"$out/echo_env.txt"
for ((r = 1; r <= rounds; r++)); do
    for c in $conns; do
        for s in $sizes; do
            log "round $r/$rounds: $c conns, $s B"
            # rotate the server order each round and each configuration
            set -- $servers
            k=$(( (r + c + s) % nserv ))
            for ((j = 0; j < nserv; j++)); do
                idx=$(( (j + k) % nserv + 1 ))
                run_echo "${!idx}" "$c" "$s" "$r"
            done
        done
    done
done
mv "$out/echo.tsv.new" "$out/echo.tsv"

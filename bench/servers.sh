#!/usr/bin/env bash
# bench/servers.sh: the protocol servers against what users would deploy
# otherwise, interleaved in one run on this machine:
#   examples/http-server  vs  Go net/http (bench/go/http_server.go):
#       wrk -t1 on /plaintext at 64, 256 and 1024 connections, and
#       h2load --h1 -c64 -m16 (16 pipelined requests per connection)
#   examples/resp-server  vs  redis-server (one thread, no persistence):
#       redis-benchmark -t ping,set,get,incr,mset at -c 50 and 500, -P 1 and 16
# goring programs are compiled as a user compiles them: against an
# installed goring, through pkg-config, linked to the shared library.
#
#   bench/servers.sh [--rounds R] [--secs S] [--procs "1 2"] [--write]
#
# Prints a markdown table of medians and ratios and keeps it in
# $BENCH_OUT/servers.md (BENCH_OUT: bench/out); --write puts it between the
# "servers" markers of bench/RESULTS.md. Installs wrk, redis-tools and
# nghttp2-client (h2load) and redis-server when missing, and Go as bench/run.sh does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${BENCH_OUT:-$here/out}
rounds=3 secs=3 procs="1 2" write=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift ;;
    --secs) secs=$2; shift ;;
    --procs) procs=$2; shift ;;
    --write) write=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "servers.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
log() { printf '[servers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
for p in wrk nghttp2-client redis-tools redis-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
GO=/usr/lib/go-1.23/bin/go
[ -x "$GO" ] || { log "Go missing: bench/run.sh --build-only installs it"; "$here/run.sh" --build-only >/dev/null; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on
export GOPATH=/tmp/goring-bench-gopath GOCACHE=/tmp/goring-bench-gocache

# ---- build: goring installed into $out/srv-inst, servers through pkg-config ----
bin=$out/srv-bin inst=$out/srv-inst bld=$out/srv-build
mkdir -p "$bin" "$bld"
( cd "$top" && { [ -x configure ] || autoreconf -fi >/dev/null 2>&1; } )
( cd "$bld" && { [ -f Makefile ] || "$top/configure" -q --prefix="$inst" >/dev/null; } && make -j2 >/dev/null && make install >/dev/null )
pc="env PKG_CONFIG_PATH=$inst/lib/pkgconfig pkg-config"
for s in http-server resp-server; do
    cc -std=gnu11 -O2 -g -D_GNU_SOURCE -I"$top" "$top/examples/$s.c" "$top/examples/${s%-server}.c" \
        $($pc --cflags --libs goring) \
        -Wl,-rpath,"$inst/lib" -o "$bin/$s"
done
( cd "$here/go" && "$GO" build -o "$bin/go_http_server" http_server.go )

# ---- one measured run ----
start_server() {   # start_server LOGFILE CMD...: sets srv and addr
    local logf=$1; shift
    "$@" >"$logf" 2>&1 &
    srv=$!
    addr=""
    for _ in $(seq 100); do
        addr=$(sed -n 's/^listening on //p' "$logf" | head -1)
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    kill "$srv" 2>/dev/null || true
    echo "servers.sh: $* did not start: $(head -c 300 "$logf")" >&2
    return 1
}
stop_server() { kill -TERM "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
clk=$(getconf CLK_TCK)

raw=$out/servers.tsv
: >"$raw"
http_run() {   # http_run LABEL PROCS ROUND CMD...
    local label=$1 p=$2 r=$3; shift 3
    start_server "$out/srv.log" "$@" --addr 127.0.0.1:0 --procs "$p" || return 0
    wrk -t1 -c64 -d1s "http://$addr/plaintext" >/dev/null 2>&1 || true   # warm-up
    local t0 res t1 rps p99 reqs cfg
    for cfg in wrk64 wrk256 wrk1024 h2load64p16; do
        t0=$(cpu_ticks "$srv")
        if [ "$cfg" = h2load64p16 ]; then
            res=$(h2load --h1 -c64 -m16 -t1 -D "$secs" "http://$addr/plaintext" 2>&1)
            t1=$(cpu_ticks "$srv")
            rps=$(awk '/^finished in/ {gsub(",", ""); print $4}' <<<"$res")
            reqs=$(awk '/^requests:/ {print $8}' <<<"$res")
            p99=""
        else
            res=$(wrk -t1 -c"${cfg#wrk}" -d"${secs}s" --latency "http://$addr/plaintext" 2>&1)
            t1=$(cpu_ticks "$srv")
            rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$res")
            reqs=$(awk '/requests in/ {print $1}' <<<"$res")
            p99=$(awk '$1 == "99%" {v = $2; if (v ~ /ms$/) {sub(/ms/, "", v); v *= 1000} else if (v ~ /us$/) sub(/us/, "", v); else if (v ~ /s$/) {sub(/s/, "", v); v *= 1e6}; print v}' <<<"$res")
        fi
        printf 'http\t%s\t%s\t%s\t%s\treq_per_s\t%s\n' "$cfg" "$label" "$p" "$r" "$rps" >>"$raw"
        [ -n "$p99" ] && printf 'http\t%s\t%s\t%s\t%s\tp99_us\t%s\n' "$cfg" "$label" "$p" "$r" "$p99" >>"$raw"
        [ -n "$reqs" ] && [ "$reqs" -gt 0 ] &&
            printf 'http\t%s\t%s\t%s\t%s\tcpu_us_per_req\t%s\n' "$cfg" "$label" "$p" "$r" \
                "$(awk -v d=$((t1 - t0)) -v hz="$clk" -v n="$reqs" 'BEGIN {printf "%.2f", d / hz / n * 1e6}')" >>"$raw"
    done
    stop_server
}
resp_run() {   # resp_run LABEL PROCS ROUND
    local label=$1 p=$2 r=$3 port
    if [ "$label" = goring ]; then
        start_server "$out/srv.log" "$bin/resp-server" --addr 127.0.0.1:0 --procs "$p" || return 0
        port=${addr##*:}
    else
        port=$((30000 + RANDOM % 20000))
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >"$out/srv.log" 2>&1 &
        srv=$!
        for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    fi
    local c P n res t0 t1 cfg
    for c in 50 500; do
        for P in 1 16; do
            n=$((P == 1 ? 20000 * secs : 100000 * secs))
            cfg="c${c}P${P}"
            t0=$(cpu_ticks "$srv")
            res=$(redis-benchmark --csv -p "$port" -n "$n" -c "$c" -P "$P" -t ping,set,get,incr,mset 2>/dev/null | tr -d '\r"')
            t1=$(cpu_ticks "$srv")
            # test,rps,avg,min,p50,p95,p99,max
            awk -F, -v cfg="$cfg" -v l="$label" -v p="$p" -v r="$r" '$1 != "test" && NF >= 7 {
                sub(/ .*/, "", $1)
                printf "resp\t%s\t%s\t%s\t%s\t%s_per_s\t%s\n", cfg, l, p, r, $1, $2
                printf "resp\t%s\t%s\t%s\t%s\t%s_p99_ms\t%s\n", cfg, l, p, r, $1, $7 }' <<<"$res" >>"$raw"
            # 6 tests (ping is two: inline and multibulk) of n requests; MSET sets 10 keys a request
            printf 'resp\t%s\t%s\t%s\t%s\tcpu_us_per_req\t%s\n' "$cfg" "$label" "$p" "$r" \
                "$(awk -v d=$((t1 - t0)) -v hz="$clk" -v n="$n" 'BEGIN {printf "%.2f", d / hz / (6 * n) * 1e6}')" >>"$raw"
        done
    done
    stop_server
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load before: $load_before"
for r in $(seq "$rounds"); do
    for p in $procs; do
        if (( r % 2 )); then
            http_run goring "$p" "$r" "$bin/http-server"; http_run go "$p" "$r" "$bin/go_http_server"
            resp_run goring "$p" "$r"; resp_run redis "$p" "$r"
        else
            http_run go "$p" "$r" "$bin/go_http_server"; http_run goring "$p" "$r" "$bin/http-server"
            resp_run redis "$p" "$r"; resp_run goring "$p" "$r"
        fi
    done
    log "round $r done"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report: medians and ratios ----
report=$out/servers.md
python3 - "$raw" "$rounds" "$secs" "$load_before" "$load_after" >"$report" <<'PY'
import sys, statistics, collections, platform, subprocess
raw, rounds, secs, load0, load1 = sys.argv[1:6]
d = collections.defaultdict(list)
for line in open(raw):
    k, cfg, label, p, r, m, v = line.rstrip("\n").split("\t")
    try: d[(k, cfg, label, p, m)].append(float(v))
    except ValueError: pass
med = lambda k: statistics.median(d[k]) if d.get(k) else None
f = lambda x, n=0: "-" if x is None else f"{x:,.{n}f}"
rt = lambda a, b: "-" if not (a and b) else f"{a/b:.2f}"
def ver(cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True).stdout.split("\n")[0].strip()
    except Exception: return "?"
print("<!-- servers: written by bench/servers.sh -->")
print("### Protocol servers (bench/servers.sh)\n")
print(f"Medians of {rounds} interleaved rounds ({secs} s a measurement); load average before: {load0}, after: {load1}; "
      f"{platform.machine()}, {ver(['uname','-r'])}; {ver(['redis-server','--version'])}; "
      f"{ver(['/usr/lib/go-1.23/bin/go','version'])}. Client and server share the machine's 2 CPUs.\n")
print("HTTP on /plaintext against examples/http-server and Go net/http (bench/go/http_server.go): "
      "`wrk -t1 -cN --latency`, and `h2load --h1 -c64 -m16` (16 pipelined requests per connection; h2load gives no p99). "
      "CPU: the server's utime+stime per request.\n")
print("| procs | client | goring req/s | Go req/s | ratio | goring p99 us | Go p99 us | goring CPU us/req | Go CPU us/req |")
print("|---|---|---|---|---|---|---|---|---|")
hc = ["wrk64", "wrk256", "wrk1024", "h2load64p16"]
for p in sorted({k[3] for k in d if k[0] == "http"}):
    for c in hc:
        g, o = med(("http",c,"goring",p,"req_per_s")), med(("http",c,"go",p,"req_per_s"))
        if g is None and o is None: continue
        print(f"| {p} | {c} | {f(g)} | {f(o)} | {rt(g,o)} | {f(med(('http',c,'goring',p,'p99_us')))} | {f(med(('http',c,'go',p,'p99_us')))} "
              f"| {f(med(('http',c,'goring',p,'cpu_us_per_req')),2)} | {f(med(('http',c,'go',p,'cpu_us_per_req')),2)} |")
print("\nRESP: `redis-benchmark --csv -cC -PP -t ping,set,get,incr,mset` against examples/resp-server and redis-server "
      "(as Debian runs it: one thread; the bar the issue sets). CPU: the server's per request over the whole run of six tests.\n")
print("| procs | -c | -P | test | goring ops/s | redis ops/s | ratio | goring p99 ms | redis p99 ms |")
print("|---|---|---|---|---|---|---|---|---|")
tests = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"]
cfgs = [f"c{c}P{P}" for c in (50, 500) for P in (1, 16)]
for p in sorted({k[3] for k in d if k[0] == "resp"}):
    for c in cfgs:
        for t in tests:
            g, o = med(("resp",c,"goring",p,f"{t}_per_s")), med(("resp",c,"redis",p,f"{t}_per_s"))
            if g is None and o is None: continue
            cc, PP = c[1:].split("P")
            print(f"| {p} | {cc} | {PP} | {t} | {f(g)} | {f(o)} | {rt(g,o)} | {f(med(('resp',c,'goring',p,f'{t}_p99_ms')),3)} | {f(med(('resp',c,'redis',p,f'{t}_p99_ms')),3)} |")
print("\n| procs | -c | -P | goring CPU us/req | redis CPU us/req |")
print("|---|---|---|---|---|")
for p in sorted({k[3] for k in d if k[0] == "resp"}):
    for c in cfgs:
        cc, PP = c[1:].split("P")
        print(f"| {p} | {cc} | {PP} | {f(med(('resp',c,'goring',p,'cpu_us_per_req')),2)} | {f(med(('resp',c,'redis',p,'cpu_us_per_req')),2)} |")
print("<!-- /servers -->")
PY
cat "$report"
if [ $write = 1 ]; then
    python3 - "$here/RESULTS.md" "$report" <<'PY'
import sys, re
res, rep = sys.argv[1], open(sys.argv[2]).read().strip() + "\n"
s = open(res).read()
pat = re.compile(r"<!-- servers: .*?<!-- /servers -->\n?", re.S)
s = pat.sub(lambda m: rep, s) if pat.search(s) else s.rstrip("\n") + "\n\n" + rep
open(res, "w").write(s)
PY
    log "wrote the servers section of $here/RESULTS.md"
fi

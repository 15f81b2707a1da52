#!/usr/bin/env bash
# bench/run.sh: build goring, the C benchmarks and their Go twins, run them
# interleaved, and report medians and ratios. The protocol is in
# bench/README.md.
#
#   bench/run.sh [--quick] [--rounds R] [--procs "1 2"] [--only REGEX]
#                [--core-only | --echo-only] [--build-only] [--no-build] [--head]
#                [--write]
#
# The report goes to $BENCH_OUT/RESULTS.md; tracked files stay unchanged
# unless --write is given, which (re)writes bench/RESULTS.md.
# --quick       2 rounds, short echo runs (a smoke test of the whole chain)
# --rounds R    interleaved rounds of the core pairs (default 5)
# --procs LIST  GR_MAXPROCS / GOMAXPROCS values for the core pairs (default "1 2")
# --only REGEX  run only the pairs whose name matches (grep -E)
# --core-only   skip bench/echo.sh;  --echo-only: skip the core pairs
# --build-only  build everything and stop;  --no-build: use what is built
# --head        build from a snapshot of the committed HEAD (git archive into
#               $BENCH_OUT/src), not from the work tree: numbers tied to a commit,
#               untouched by half-done edits of others (use it for RESULTS.md)
# --write       write the report to bench/RESULTS.md too
# Environment: BENCH_OUT (default bench/out): build dir, binaries, raw data.
# Extra arguments after -- go to bench/echo.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${BENCH_OUT:-$here/out}
rounds=5 procs="1 2" only="" quick=0 do_core=1 do_echo=1 build=1 build_only=0 head=0 write=0
echo_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1; rounds=2 ;;
    --rounds) rounds=$2; shift ;;
    --procs) procs=$2; shift ;;
    --only) only=$2; shift ;;
    --core-only) do_echo=0 ;;
    --echo-only) do_core=0 ;;
    --build-only) build_only=1 ;;
    --no-build) build=0 ;;
    --head) head=1 ;;
    --write) write=1 ;;
    --) shift; echo_args=("$@"); break ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p "$out/bin" "$out/build"
bin=$out/bin
# src: the tree whose code is built and measured (the work tree, or a
# snapshot of HEAD); the harness (echo.sh, report.py) always runs from here;
# here: where RESULTS.md, targets.txt and the notes live.
src=$top
if [ $head = 1 ]; then
    src=$out/src
    if [ $build = 1 ]; then
        rm -rf "$src" "$out/build"; mkdir -p "$src" "$out/build"
        git -C "$top" archive --format=tar HEAD | tar -x -C "$src"
        git -C "$top" rev-parse --short HEAD >"$out/src_commit"
    fi
elif [ $build = 1 ] && [ -f "$out/src_commit" ]; then
    rm -rf "$out/build" "$out/src" "$out/src_commit"; mkdir -p "$out/build" # last build was a snapshot
fi
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- Go: golang-1.23-go from bookworm-backports ----
GO=/usr/lib/go-1.23/bin/go
ensure_go() {
    [ -x "$GO" ] && return 0
    log "installing golang-1.23-go (bookworm-backports)"
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # Reuse the mirror this machine already uses for bookworm.
        local uri
        uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources | head -n1 | awk '{print $2}')
        [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
        [ -n "$uri" ] || { echo "run.sh: no bookworm apt source found to derive bookworm-backports from" >&2; exit 1; }
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$uri" | as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-1.23-go
}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on
export GOPATH=/tmp/goring-bench-gopath GOCACHE=/tmp/goring-bench-gocache

# ---- pairs: bench/<name>.c with bench/go/<name>.go (echo_* are servers) ----
pairs() {
    local f n
    for f in "$src"/bench/go/*.go; do
        n=$(basename "$f" .go)
        case "$n" in echo_*) continue ;; esac
        [ -f "$src/bench/$n.c" ] || continue
        if [ -n "$only" ] && ! grep -Eq -- "$only" <<<"$n"; then continue; fi
        echo "$n"
    done
}

# ---- build ----
build_all() {
    local b=$out/build
    rm -f "$bin"/* # nothing stale from an earlier build
    command -v python3 >/dev/null || as_root apt-get install -y -qq python3
    if [ ! -x "$src/configure" ] || [ "$src/configure.ac" -nt "$src/configure" ] ||
       [ "$src/Makefile.am" -nt "$src/Makefile.in" ]; then
        log "autoreconf -fi in $src"
        (cd "$src" && autoreconf -fi >/dev/null 2>&1) || (cd "$src" && autoreconf -fi)
    fi
    if [ ! -f "$b/Makefile" ]; then
        log "configure (VPATH build in $b)"
        (cd "$b" && "$src/configure" -q 2> >(grep -v "cannot remove 'core'" >&2))
    fi
    # only what the benchmarks need: a broken test or other example must
    # not stop them
    log "make libgoring.la, bench programs, examples/echo-server"
    make -C "$b" -j"$(nproc)" -s libgoring.la >"$out/make.log" 2>&1 || { tail -30 "$out/make.log" >&2; echo "run.sh: library build failed (full log: $out/make.log)" >&2; return 1; }
    make -C "$b" -j"$(nproc)" -s -k bench >>"$out/make.log" 2>&1 || { tail -30 "$out/make.log" >&2; log "make bench failed for some programs (full log: $out/make.log)"; }
    rm -f "$b/examples/echo-server"
    make -C "$b" -j"$(nproc)" -s examples/echo-server >>"$out/make.log" 2>&1 || log "examples/echo-server did not build: its echo rows will say missing"
    local n
    for n in $(pairs) echo_uring_single echo_uring_mt echo_epoll; do
        # a libtool wrapper script (a rule without -static) does not survive
        # a copy: compile such a program directly instead
        if [ -x "$b/bench/$n" ] && [ "$(head -c4 "$b/bench/$n" | tail -c3)" = ELF ]; then
            cp "$b/bench/$n" "$bin/$n"
        elif [ -f "$src/bench/$n.c" ]; then
            # A pair without a Makefile.am rule: compile it against the
            # static libgoring that make just built.
            log "cc bench/$n.c (no Makefile.am rule)"
            cc -std=gnu11 -O2 -g -D_GNU_SOURCE -pthread -I"$src/include" -I"$src/bench" \
                -o "$bin/$n" "$src/bench/$n.c" "$b/.libs/libgoring.a" \
                $(pkg-config --libs liburing) -lpthread || log "bench/$n.c did not compile: skipped"
        fi
    done
    ensure_go
    log "go build ($("$GO" version | awk '{print $3}'))"
    for f in "$src"/bench/go/*.go; do
        n=$(basename "$f" .go)
        (cd "$src/bench/go" && "$GO" build -o "$bin/go_$n" "$n.go") || log "bench/go/$n.go did not build: skipped"
    done
    log "cc echoload (from /work/shared/tools or \$ECHOLOAD_SRC)"
    local el=${ECHOLOAD_SRC:-$top/../shared/tools/echoload.c}
    [ -f "$el" ] || el=/work/shared/tools/echoload.c
    cc -O2 -g -Wall -Wextra -pthread -o "$bin/echoload" "$el"
}

# ---- environment of this run ----
write_env() {
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)"
        echo "cores=$(nproc) online CPUs, $(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core; $(lscpu | sed -n 's/^Hypervisor vendor: *//p' | sed 's/^./hypervisor &/')"
        echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
        echo "kernel=$(uname -sr)"
        echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
        echo "cc=$(cc --version | head -n1)"
        echo "go=$("$GO" version)"
        echo "liburing=$(pkg-config --modversion liburing)"
        if [ -f "$out/src_commit" ]; then
            echo "commit=$(cat "$out/src_commit") (built from a snapshot of this commit)"
        else
            echo "commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null)$(git -C "$top" status --porcelain 2>/dev/null | grep -q . && echo ' + the uncommitted changes of the work tree')"
        fi
        echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$out/env.txt"
}

# ---- core pairs, interleaved ----
run_one() { # impl procs name round
    local impl=$1 p=$2 n=$3 r=$4 exe o rc=0
    if [ "$impl" = goring ]; then exe=$bin/$n; else exe=$bin/go_$n; fi
    o=$(GR_MAXPROCS=$p GOMAXPROCS=$p timeout 300 "$exe" 2>"$out/last_stderr") || rc=$?
    if [ $rc -ne 0 ]; then
        log "$impl $n procs=$p round $r: exit $rc: $(head -c 300 "$out/last_stderr" | tr '\n' ' ')"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$impl" "$p" "$n" "exit" "$rc" >>"$out/core.tsv.new"
    fi
    # name=<bench> <metric>=<float> ... -> one row per metric
    awk -v r="$r" -v impl="$impl" -v p="$p" '
        $1 ~ /^name=/ { name = substr($1, 6)
            for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[2] != "") printf "%s\t%s\t%s\t%s\t%s\t%s\n", r, impl, p, name, kv[1], kv[2] } }' \
        <<<"$o" >>"$out/core.tsv.new"
}

run_core() {
    local list r p n maxr
    list=$(pairs)
    [ -n "$list" ] || { log "no pairs to run"; return 0; }
    local built=""
    for n in $list; do
        if [ -x "$bin/$n" ] && [ -x "$bin/go_$n" ]; then built="$built $n"; else log "$n: not built, skipped"; fi
    done
    list=$built
    : >"$out/core.tsv.new"
    for ((r = 1; r <= rounds; r++)); do
        log "core round $r/$rounds"
        for n in $list; do
            # a pair whose numbers do not move between rounds may cap its
            # rounds with a "bench-rounds: N" line in its C source
            maxr=$(sed -n 's/.*bench-rounds: *\([0-9][0-9]*\).*/\1/p' "$src/bench/$n.c" | head -n1)
            if [ -n "$maxr" ] && [ "$r" -gt "$maxr" ]; then continue; fi
            for p in $procs; do
                # alternate which side goes first, so neither always runs on
                # a machine the other just warmed (or heated)
                if (( r % 2 )); then
                    run_one goring "$p" "$n" "$r"; run_one go "$p" "$n" "$r"
                else
                    run_one go "$p" "$n" "$r"; run_one goring "$p" "$n" "$r"
                fi
            done
        done
    done
    mv "$out/core.tsv.new" "$out/core.tsv"
}

if [ $build = 1 ]; then build_all; else [ -x "$GO" ] || ensure_go; fi
[ $build_only = 1 ] && exit 0
write_env
if [ $do_core = 1 ]; then run_core; fi
if [ $do_echo = 1 ]; then
    if [ $quick = 1 ]; then echo_args=(--quick "${echo_args[@]}"); fi
    BENCH_OUT=$out "$here/echo.sh" "${echo_args[@]}"
fi
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/env.txt"
python3 "$here/report.py" --targets "$here/targets.txt" --notes "$here/RESULTS-notes.md" --out "$out" --results "$out/RESULTS.md"
if [ $write = 1 ]; then
    cp "$out/RESULTS.md" "$here/RESULTS.md"
    log "wrote $here/RESULTS.md"
else
    log "wrote $out/RESULTS.md (bench/RESULTS.md unchanged; --write updates it)"
fi

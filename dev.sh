#!/usr/bin/env bash
# dev.sh: set up, build and run goring on Debian 12 in one command.
#
#   ./dev.sh echo     the main job: build, start examples/echo-server, drive
#                     it with examples/echo-load for 5 s, print the result
#   ./dev.sh check    the whole test suite, in four steps with progress:
#                     make check (Criterion) in build/; install into
#                     build/_inst and run the API contract check
#                     (../shared/tools/check-api.sh, when present beside
#                     the clone; a missing one is a skipped step, said in
#                     the last line); make check in an ASan/UBSan build
#                     (skip with GR_CHECK_ASAN=0); make check with the
#                     lock-order check, core/lockrank.h (--enable-lockrank;
#                     skip with GR_CHECK_LOCKRANK=0); make distcheck (skip
#                     with GR_CHECK_DIST=0). Each step reports make check's
#                     own summary; the first failure ends the run.
#   ./dev.sh demo     the scheduler tour (examples/demo, examples/handoff)
#   ./dev.sh bench    bench/run.sh (goring against Go; report in bench/out/RESULTS.md,
#                     bench/RESULTS.md only with --write)
#   ./dev.sh check-aarch64   the aarch64 context switch under qemu-aarch64
#
# Installs the Debian packages it needs when they are missing (apt-get, as
# root or through sudo), runs autoreconf/configure/make in build/ (and
# build-asan/), out of the source tree; `make -C build install` puts the
# library in build/_inst.
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"

need_pkgs() {
  local missing=()
  for p in gcc make autoconf automake libtool pkg-config liburing-dev libcriterion-dev curl redis-tools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

configure_in() {   # configure_in DIR [configure args...]
  local dir=$1; shift
  if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
  fi
  mkdir -p "$dir"
  # Every build dir installs under itself (never into /usr/local by
  # surprise); reconfigure when configure is newer or the prefix differs.
  local prefix="$top/$dir/_inst"
  if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ] ||
     ! grep -qx "prefix = $prefix" "$dir/Makefile"; then
    (cd "$dir" && "$top/configure" -q --prefix="$prefix" "$@")
  fi
  make -C "$dir" -j2 >/dev/null
}

cmd=${1:-}
case "$cmd" in
  echo)
    need_pkgs
    configure_in build
    out=build/echo-server.out
    ./build/examples/echo-server --addr 127.0.0.1:0 --procs 2 > "$out" &
    srv=$!
    trap 'kill -INT $srv 2>/dev/null || true' EXIT
    addr=""
    for _ in $(seq 100); do
      addr=$(sed -n 's/^listening on //p' "$out" 2>/dev/null | head -1)
      [ -n "$addr" ] && break; sleep 0.1
    done
    [ -n "$addr" ] || { cat "$out"; echo "dev.sh echo: FAIL (the server did not start listening)"; exit 1; }
    sed -n '1p' "$out"
    rc=0
    load=$(./build/examples/echo-load --addr "$addr" --procs 2 --conns 64 --size 64 --duration 5) || rc=$?
    echo "$load"
    kill -INT $srv; wait $srv || rc=$?
    trap - EXIT
    sed -n '2,$p' "$out"
    rate=$(echo "$load" | sed -n 's/.* msgs\/s=\([0-9]*\).*/\1/p')
    errs=$(echo "$load" | sed -n 's/.* errors=\([0-9]*\).*/\1/p')
    if [ "$rc" -eq 0 ]; then
      echo "dev.sh echo: PASS (${rate:-?} msgs/s, ${errs:-?} errors, 64 connections x 64 B for 5 s)"
    else
      echo "dev.sh echo: FAIL (${rate:-?} msgs/s, ${errs:-?} errors; exit status $rc)"; exit 1
    fi
    ;;
  check)
    need_pkgs
    nsteps=5; step=0; skipped=0
    progress() { step=$((step + 1)); echo "dev.sh check: [$step/$nsteps] $*"; }
    suite() {   # suite DIR LABEL [configure args...]: make check there, report its own summary
      local dir=$1 label=$2; shift 2
      configure_in "$dir" "$@"
      if make -C "$dir" check >"$dir/check.out" 2>&1; then
        echo "$label: $(grep -E '^# (PASS|FAIL|ERROR):' "$dir/check.out" | tr -s ' ' | tr '\n' ' ')"
      else
        grep -E '^(FAIL|ERROR|# )' "$dir/check.out" || tail -40 "$dir/check.out"
        [ -f "$dir/test-suite.log" ] && grep -B2 -A40 '^FAIL\|^ERROR' "$dir/test-suite.log" | tail -120
        echo "dev.sh check: FAILED ($label, make check in $dir/)"
        exit 1
      fi
    }
    progress "tests: make check in build/"
    suite build tests
    progress "api contract: install into build/_inst, compile every function of ../shared/API.md"
    make -C build install >/dev/null
    api=""
    for d in ../shared/tools "$top/../shared/tools"; do [ -f "$d/check-api.sh" ] && api="$d/check-api.sh" && break; done
    if [ -n "$api" ]; then
      bash "$api" "$top/build/_inst"
    else
      echo "api contract: SKIPPED (../shared/tools/check-api.sh is not beside this clone)"
      skipped=$((skipped + 1))
    fi
    progress "asan: make check in build-asan/ (--enable-asan: ASan + UBSan, no recovery)"
    if [ "${GR_CHECK_ASAN:-1}" != 0 ]; then
      suite build-asan asan --enable-asan
    else
      echo "asan: SKIPPED (GR_CHECK_ASAN=0)"; skipped=$((skipped + 1))
    fi
    progress "lockrank: make check in build-lockrank/ (--enable-lockrank)"
    if [ "${GR_CHECK_LOCKRANK:-1}" != 0 ]; then
      suite build-lockrank lockrank --enable-lockrank
    else
      echo "lockrank: SKIPPED (GR_CHECK_LOCKRANK=0)"; skipped=$((skipped + 1))
    fi
    progress "distcheck: the release tarball builds and passes make check from itself"
    if [ "${GR_CHECK_DIST:-1}" != 0 ]; then
      if make -C build distcheck >build/distcheck.out 2>&1; then
        echo "distcheck: $(grep -o 'goring-[0-9.]*\.tar\.gz' build/distcheck.out | tail -1) ready"
      else
        tail -40 build/distcheck.out; echo "dev.sh check: FAILED (make distcheck in build/)"; exit 1
      fi
    else
      echo "distcheck: SKIPPED (GR_CHECK_DIST=0)"; skipped=$((skipped + 1))
    fi
    if [ "$skipped" -eq 0 ]; then
      echo "dev.sh check: passed"
    else
      echo "dev.sh check: passed, $skipped step$([ "$skipped" -eq 1 ] || echo s) skipped"
    fi
    ;;
  demo)
    need_pkgs
    configure_in build
    ./build/examples/demo
    ./build/examples/handoff --seconds 0.5
    ;;
  check-aarch64)
    # The aarch64 context switch under qemu-user (no aarch64 machine here).
    for p in gcc-aarch64-linux-gnu qemu-user; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        { [ "$(id -u)" -eq 0 ] || sudo=sudo; ${sudo:-} apt-get install -y -qq "$p" >/dev/null; }
    done
    mkdir -p build
    aarch64-linux-gnu-gcc -O2 -static tests/arch/switch_test.c core/switch_aarch64.S -o build/switch_test_a64
    qemu-aarch64 build/switch_test_a64
    ;;
  bench)
    need_pkgs
    exec bash bench/run.sh "${@:2}"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    [ "$cmd" = "-h" ] || [ "$cmd" = "--help" ] || [ "$cmd" = help ]
    ;;
esac

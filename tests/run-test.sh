#!/bin/sh
# tests/run-test.sh: how `make check` runs each Criterion binary.
# Binaries whose name ends in _timing assert timing (latency bounds,
# fairness): they run their tests one at a time (CRITERION_JOBS=1), and
# Makefile.am makes each of them wait for every other test binary.
case "$1" in
  *_timing) CRITERION_JOBS=1; export CRITERION_JOBS ;;
esac
exec "$@"

#!/bin/bash
# tests/resp_server.sh: examples/resp-server driven by redis-cli and a
# short redis-benchmark -P 16 (clients this project did not write), plus a
# malformed request over bash's /dev/tcp; then SIGINT: exit 0 with stats.
# Loopback only. Skips (77) without redis-tools; dev.sh installs them.
set -u
bld=${GR_TOP_BUILDDIR:-.}
srv=$bld/examples/resp-server
command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null ||
  { echo "redis-tools missing: skipped"; exit 77; }
tmp=$(mktemp -d)
"$srv" --addr 127.0.0.1:0 --procs 2 > "$tmp/out" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$tmp/out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$port" ] || { echo "not listening"; cat "$tmp/out"; exit 1; }
fail=0
check() {
  if [ "$2" != "$3" ]; then echo "FAIL $1: got '$2', want '$3'"; fail=1; else echo "ok $1"; fi
}
R="redis-cli -p $port"
check ping "$($R ping)" PONG
check set "$($R set a 1)" OK
check incr "$($R incr a)" 2
check incrby "$($R incrby a 10)" 12
check decr "$($R decr a)" 11
check nx "$($R set a 5 NX)" ""
check xx "$($R set a 7 XX)" OK
check get "$($R get a)" 7
check mset "$($R mset k1 v1 k2 v2)" OK
check mget "$($R mget k1 k2 nokey | tr '\n' ' ')" "v1 v2  "
check exists "$($R exists k1 k2 nokey)" 2
check del "$($R del k1 nokey)" 1
check expire "$($R expire k2 100)" 1
check ttl "$($R ttl k2)" 100
check ttl-missing "$($R ttl nokey)" -2
$R set e v PX 30 >/dev/null; sleep 0.1
check px-expired "$($R get e)" ""
check echo "$($R echo hi)" hi
check notint "$($R incr k2)" "ERR value is not an integer or out of range"
check unknown "$($R foo bar)" "ERR unknown command 'foo', with args beginning with: 'bar' "
check arity "$($R get)" "ERR wrong number of arguments for 'get' command"
check pipelined "$(printf 'PING\r\nSET x 5\r\nGET x\r\n' | $R | tr '\n' ' ')" "PONG OK 5 "
exec 3<>/dev/tcp/127.0.0.1/$port
printf '*1\r\n$99999999999\r\n' >&3
check bad-length "$(timeout 5 cat <&3 | tr -d '\r')" "-ERR Protocol error: invalid bulk length"
exec 3<&-
check after-bad "$($R get a)" 7
out=$(redis-benchmark -p $port -q -n 5000 -c 20 -P 16 -t ping,set,get,incr,mset 2>&1)
echo "$out" | tr '\r' '\n' | grep "requests per second" | tail -6
check benchmark-lines "$(echo "$out" | tr '\r' '\n' | grep -c ': [0-9.]* requests per second')" 6
check no-errors "$(echo "$out" | grep -ci 'error')" 0
check flushall "$($R flushall)" OK
check dbsize "$($R dbsize)" 0
kill -INT $pid
wait $pid
check exit-status $? 0
check stats "$(grep -c 'resp-server: signal 2:' "$tmp/out")" 1
exit $fail

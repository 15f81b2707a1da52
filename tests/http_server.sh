#!/bin/bash
# tests/http_server.sh: examples/http-server driven by curl (a client this
# project did not write) and by raw requests over bash's /dev/tcp:
# routes, HEAD, keep-alive and pipelining, malformed and oversized input
# (400, 414, 431, 501), then SIGINT: a graceful exit 0 with stats.
# Loopback only. Skips (77) without curl; dev.sh installs it.
set -u
bld=${GR_TOP_BUILDDIR:-.}
srv=$bld/examples/http-server
command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
[ -x "$srv" ] || { echo "no $srv"; exit 1; }
tmp=$(mktemp -d)
"$srv" --addr 127.0.0.1:0 --procs 2 --grace 2 > "$tmp/out" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$tmp/out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$port" ] || { echo "not listening"; cat "$tmp/out"; exit 1; }
fail=0
check() {   # check NAME GOT WANT
  if [ "$2" != "$3" ]; then echo "FAIL $1: got '$2', want '$3'"; fail=1; else echo "ok $1"; fi
}
url=http://127.0.0.1:$port
check plaintext "$(curl -s -m 5 $url/plaintext)" "Hello, World!"
check json "$(curl -s -m 5 $url/json)" '{"message":"Hello, World!"}'
check 404 "$(curl -s -m 5 -o /dev/null -w '%{http_code}' $url/nope)" 404
check index "$(curl -s -m 5 -o /dev/null -w '%{http_code}' $url/)" 200
hdrs=$(curl -s -m 5 -I $url/plaintext | tr -d '\r')
check head-server "$(echo "$hdrs" | grep -c '^Server: goring$')" 1
check head-date "$(echo "$hdrs" | grep -c '^Date: .* GMT$')" 1
check head-length "$(echo "$hdrs" | grep -c '^Content-Length: 13$')" 1
# curl reuses one connection for several URLs on one command line
check keepalive "$(curl -s -m 5 -o /dev/null -o /dev/null -w '%{num_connects}\n' $url/plaintext $url/json | tr '\n' ' ')" "1 0 "
raw() {   # raw REQUEST: the whole response of a connection sent REQUEST
  exec 3<>/dev/tcp/127.0.0.1/$port || return 1
  printf "$1" >&3
  timeout 5 cat <&3
  exec 3<&-
}
check pipelined "$(raw 'GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nConnection: close\r\n\r\n' | grep -o 'HTTP/1.1 200 OK' | wc -l)" 3
check body "$(raw 'GET /json HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n' | grep -o 'HTTP/1.1 200 OK' | wc -l)" 2
check malformed "$(raw 'garbage\r\n\r\n' | head -1 | tr -d '\r')" "HTTP/1.1 400 Bad Request"
check bad-header "$(raw 'GET / HTTP/1.1\r\nno colon here\r\n\r\n' | head -1 | tr -d '\r')" "HTTP/1.1 400 Bad Request"
check chunked "$(raw 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' | head -1 | tr -d '\r')" "HTTP/1.1 501 Not Implemented"
long=$(head -c 9000 /dev/zero | tr '\0' a)
check uri-too-long "$(raw "GET /$long HTTP/1.1\r\n\r\n" 2>/dev/null | head -1 | tr -d '\r')" "HTTP/1.1 414 URI Too Long"
check header-too-long "$(raw "GET / HTTP/1.1\r\nX: $long\r\n\r\n" 2>/dev/null | head -1 | tr -d '\r')" "HTTP/1.1 431 Request Header Fields Too Large"
check still-serving "$(curl -s -m 5 $url/plaintext)" "Hello, World!"
# an idle keep-alive connection must not hold the shutdown up
exec 4<>/dev/tcp/127.0.0.1/$port
kill -INT $pid
wait $pid
check exit-status $? 0
exec 4<&-
check stats "$(grep -c 'http-server: signal 2: .* requests' "$tmp/out")" 1
exit $fail

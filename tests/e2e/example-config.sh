#!/usr/bin/env bash
# examples/swarm/full.yml, with the values examples/swarm/run sets, is a
# valid configuration of the stock daemon for the whole path; without them,
# the daemon names the missing variable.
set -euo pipefail
r=${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-interlook}
bin=$r/examples/interlook conf=$r/examples/swarm/full.yml

out=$(INTERLOOK_API_PORT=8080 DOCKER_SOCKET=/run/docker.sock BIND_PORT=5300 \
      TSIG_SECRET=c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3I= HAPROXY_DIR=/run/haproxy \
      "$bin" --conf "$conf" --check-config)
echo "$out"
grep -qx 'workflow: provider.swarm -> ipam.ipalloc -> dns.rfc2136 -> lb.haproxy' <<<"$out"
grep -qx 'provider.swarm.endpoint: unix:///run/docker.sock' <<<"$out"
grep -qx 'dns.rfc2136.server: 127.0.0.1:5300' <<<"$out"
grep -qx 'dns.rfc2136.tsigSecret: \*\*\*\*\*\*\*\*' <<<"$out"
grep -qx 'lb.haproxy.masterSocket: /run/haproxy/master.sock' <<<"$out"
if grep -q 'c2VjcmV0' <<<"$out"; then echo "FAIL: the secret was printed"; exit 1; fi

set +e
missing=$(INTERLOOK_API_PORT=8080 DOCKER_SOCKET=/run/docker.sock BIND_PORT=5300 HAPROXY_DIR=/run/haproxy \
          "$bin" --conf "$conf" --check-config 2>&1)
rc=$?
set -e
echo "$missing"
[[ $rc -eq 2 ]] || { echo "FAIL: exit status $rc without TSIG_SECRET, expected 2"; exit 1; }
grep -q 'environment variable TSIG_SECRET is not set' <<<"$missing"
echo "ok"

#!/usr/bin/env bash
# A throw-away HAProxy (2.6, Debian's package, installed by tools/setup) in
# master-worker mode, for tests. Everything lives in DIR:
#
#   haproxy-peer.sh start DIR [OWNER_PID]
#       runs  haproxy -W -db -S DIR/master.sock -f DIR/main.cfg -f DIR/interlook.cfg
#       (when DIR has no main.cfg, one with a stats socket and defaults only is
#       written; an empty interlook.cfg likewise), logs to DIR/haproxy.log,
#       writes the master's pid to DIR/haproxy.pid, and returns once the
#       master reports "Loading success." (exit 1 with the log when it fails;
#       its CLI may answer a moment later: poll it). With
#       OWNER_PID, HAProxy is stopped when that process goes away, so a
#       crashed test leaves nothing running.
#   haproxy-peer.sh stop DIR
#       SIGTERM to the master (it stops its workers), returns once it is gone
#       (SIGKILL after 10 s).
set -euo pipefail

usage() { echo "usage: $0 start DIR [OWNER_PID] | stop DIR" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1 dir=$2

# Gone, or a zombie nobody reaped yet (init reaps orphans only now and then).
# kill -0 first: in a sandbox's PID namespace /proc may be the host's.
gone() { ! kill -0 "$1" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

# Debian installs haproxy in /usr/sbin, which a non-root PATH (and Bazel's
# strict test environment) leaves out.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

case $cmd in
start)
  command -v haproxy >/dev/null || { echo "haproxy is not installed (run tools/setup)" >&2; exit 1; }
  mkdir -p "$dir"
  if [[ ! -f $dir/main.cfg ]]; then
    cat >"$dir/main.cfg" <<EOF
global
    maxconn 2000
    stats socket $dir/admin.sock mode 600 level admin expose-fd listeners

defaults
    timeout connect 2s
    timeout client 10s
    timeout server 10s
EOF
  fi
  [[ -e $dir/interlook.cfg ]] || : >"$dir/interlook.cfg"
  rm -f "$dir/master.sock"
  log=$dir/haproxy.log
  touch "$log"
  start_line=$(($(wc -l <"$log") + 1))
  haproxy -W -db -S "$dir/master.sock" -f "$dir/main.cfg" -f "$dir/interlook.cfg" >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/haproxy.pid"
  if [[ -n ${3:-} ]]; then
    owner=$3
    ( while ! gone "$owner" && ! gone "$pid"; do sleep 1; done
      gone "$pid" || kill -TERM "$pid" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
  fi
  for _ in $(seq 1 400); do
    if tail -n "+$start_line" "$log" | grep -q 'Loading success'; then exit 0; fi
    if gone "$pid"; then break; fi
    sleep 0.025
  done
  echo "haproxy did not start; its log:" >&2
  tail -n "+$start_line" "$log" >&2
  gone "$pid" || kill -KILL "$pid"
  exit 1
  ;;
stop)
  [[ -f $dir/haproxy.pid ]] || exit 0
  pid=$(cat "$dir/haproxy.pid")
  gone "$pid" || kill -TERM "$pid" 2>/dev/null || true
  # The master's last words, or its disappearance: whichever is seen first.
  for _ in $(seq 1 400); do
    if gone "$pid" || grep -q "($pid) : All workers exited" "$dir/haproxy.log" 2>/dev/null; then
      rm -f "$dir/haproxy.pid"
      exit 0
    fi
    sleep 0.025
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/haproxy.pid"
  ;;
*) usage ;;
esac

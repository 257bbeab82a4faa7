#!/usr/bin/env bash
# A throw-away Docker Engine (Debian's docker.io 20.10, installed by
# tools/setup) in swarm mode, for tests. It runs in a network namespace of its
# own, so it touches neither the host's network nor another instance; tests
# on the host reach it through its unix socket.
#
#   docker-peer.sh start DIR [OWNER_PID] [-- EXTRA_DOCKERD_ARGS...]
#       starts dockerd (data in DIR/data, log in DIR/dockerd.log) in the
#       namespace named in DIR/netns (created on first start), waits for its
#       socket, and on first start makes it a one-node swarm manager and
#       imports the image "interlook-test/busybox" (a rootfs of
#       busybox-static). Prints the socket path (also in DIR/socket). A second
#       start after a stop reuses the data: the swarm and its services are
#       still there. With OWNER_PID, everything is destroyed when that process
#       goes away, so a crashed test leaves nothing running. EXTRA_DOCKERD_ARGS
#       are appended to dockerd's command line (a TLS listener, say).
#   docker-peer.sh stop DIR
#       SIGTERM to dockerd; returns once it is gone (SIGKILL after 20 s). The
#       data, the namespace and the socket's directory stay for a restart.
#   docker-peer.sh destroy DIR
#       stop, then remove the namespace, the data and the short directory.
#   docker-peer.sh certs DIR
#       writes test certificates with the openssl CLI to DIR: ca.pem, a server
#       certificate for 127.0.0.1 and localhost (server.pem, server-key.pem),
#       a client certificate (client.pem, client-key.pem), all signed by ca.pem,
#       and other-ca.pem, a CA that signed none of them. For dockerd's
#       --tlsverify --tlscacert --tlscert --tlskey.
#   docker-peer.sh exec DIR COMMAND...
#       runs COMMAND inside the namespace (nsenter --net), e.g. nc or openssl
#       against a port published there.
#
# Ports inside the namespace are not reachable from the host (and the host's
# loopback is not reachable from inside); unix sockets work from both sides.
set -euo pipefail

usage() { echo "usage: $0 start DIR [OWNER_PID] [-- ARGS...] | stop DIR | destroy DIR | certs DIR | exec DIR CMD..." >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1 dir=$2
shift 2

PATH=/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin:$PATH
# /usr/local/bin/docker, where present, is not Debian's CLI.
DOCKER=/usr/bin/docker

# Gone, or a zombie nobody reaped yet (init reaps orphans only now and then).
gone() { ! kill -0 "$1" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

stop_dockerd() {
  local pid=""
  if [[ -f $dir/dockerd.pid ]]; then
    pid=$(cat "$dir/dockerd.pid")
  elif [[ -f $dir/shortdir && -f $(cat "$dir/shortdir")/dockerd.pid ]]; then
    pid=$(cat "$(cat "$dir/shortdir")/dockerd.pid")  # the one dockerd writes itself
  fi
  [[ -n $pid ]] || return 0
  if ! gone "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 800); do
      gone "$pid" && break
      sleep 0.025
    done
    if ! gone "$pid"; then
      echo "dockerd ($pid) did not stop within 20 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      # Its containerd and shims are in the same process group only when we
      # started them so; kill what is left under our exec root.
      sleep 0.5
    fi
  fi
  # A SIGKILLed dockerd leaves its containerd behind.
  if [[ -f $dir/shortdir ]]; then
    local short
    short=$(cat "$dir/shortdir")
    for p in $(pgrep -f "$short/" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
  fi
  rm -f "$dir/dockerd.pid"
}

case $cmd in
start)
  owner=""
  if [[ $# -gt 0 && $1 != -- ]]; then owner=$1; shift; fi
  [[ $# -gt 0 && $1 == -- ]] && shift
  extra=("$@")
  for tool in dockerd containerd runc nsenter ip busybox; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (run tools/setup)" >&2; exit 1; }
  done
  [[ -x $DOCKER ]] || { echo "$DOCKER is not installed (run tools/setup)" >&2; exit 1; }
  [[ $(id -u) -eq 0 ]] || { echo "dockerd needs root" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # containerd's socket paths must stay under 108 bytes: the exec root and the
  # API socket live in a short directory of their own.
  if [[ ! -f $dir/shortdir ]]; then
    mktemp -d /tmp/ilsw.XXXXXX >"$dir/shortdir"
  fi
  short=$(cat "$dir/shortdir")
  mkdir -p "$short"
  sock=$short/docker.sock
  echo "$sock" >"$dir/socket"
  if [[ ! -f $dir/netns ]]; then
    echo "ilsw-$$-${short##*.}" >"$dir/netns"
  fi
  ns=$(cat "$dir/netns")
  if [[ ! -e /run/netns/$ns ]]; then
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  fi
  mkdir -p "$dir/data"
  # Everything that would otherwise be shared by every dockerd on the machine
  # (/etc/docker/key.json, /etc/docker/daemon.json) is per instance.
  cat >"$dir/daemon.json" <<EOF
{
  "deprecated-key-path": "$dir/key.json",
  "log-level": "warn"
}
EOF
  log=$dir/dockerd.log
  touch "$log"
  rm -f "$sock"
  # `ip netns exec` remounts /sys, which leaves dockerd without the devices
  # cgroup; nsenter only switches the network namespace.
  setsid nsenter --net="/run/netns/$ns" dockerd \
    --data-root "$dir/data" --exec-root "$short/x" --pidfile "$short/dockerd.pid" \
    -H "unix://$sock" --config-file "$dir/daemon.json" "${extra[@]}" \
    >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/dockerd.pid"
  if [[ -n $owner ]]; then
    ( while ! gone "$owner" && [[ -f $dir/dockerd.pid ]]; do sleep 1; done
      gone "$owner" && "$0" destroy "$dir" ) </dev/null >/dev/null 2>&1 &
  fi
  up=""
  for _ in $(seq 1 1200); do
    if [[ -S $sock ]] && $DOCKER -H "unix://$sock" version >/dev/null 2>&1; then up=1; break; fi
    gone "$pid" && break
    sleep 0.025
  done
  if [[ -z $up ]]; then
    echo "dockerd did not start; its log:" >&2
    tail -n 40 "$log" >&2
    stop_dockerd
    exit 1
  fi
  d=("$DOCKER" -H "unix://$sock")
  state=$("${d[@]}" info --format '{{.Swarm.LocalNodeState}}')
  if [[ $state != active ]]; then
    # The swarm's own listener: a free port inside the namespace.
    "${d[@]}" swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >>"$log" 2>&1 || {
      echo "docker swarm init failed; the log:" >&2
      tail -n 40 "$log" >&2
      stop_dockerd
      exit 1
    }
  fi
  if ! "${d[@]}" image inspect interlook-test/busybox >/dev/null 2>&1; then
    # Nothing can be pulled: an image from busybox-static, with its applets
    # linked in /bin and a page for httpd in /www.
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc"
    cp "$(command -v busybox)" "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
      [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
    done
    echo "interlook test page" >"$root/www/index.html"
    echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
    tar -C "$root" -c . | "${d[@]}" import -c 'CMD ["/bin/sh"]' - interlook-test/busybox:latest >>"$log" 2>&1 || {
      echo "docker import failed; the log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    }
  fi
  echo "$sock"
  ;;
stop)
  [[ -d $dir ]] || exit 0
  stop_dockerd
  ;;
destroy)
  [[ -d $dir ]] || exit 0
  stop_dockerd
  if [[ -f $dir/netns ]]; then
    ns=$(cat "$dir/netns")
    if [[ -e /run/netns/$ns ]]; then ip netns del "$ns" 2>/dev/null || true; fi
    rm -f "$dir/netns"
  fi
  # Mounts a killed dockerd may have left under its data root.
  unmount_under() { { grep -F " $1" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done; }
  unmount_under "$dir/data"
  rm -rf "$dir/data" 2>/dev/null || true
  if [[ -f $dir/shortdir ]]; then
    short=$(cat "$dir/shortdir")
    unmount_under "$short/"
    rm -rf "$short"
    rm -f "$dir/shortdir"
  fi
  ;;
certs)
  command -v openssl >/dev/null || { echo "openssl is not installed (run tools/setup)" >&2; exit 1; }
  mkdir -p "$dir"
  cd "$dir"
  q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2 || true; exit 1; }; }
  q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=interlook test CA" -keyout ca-key.pem -out ca.pem
  q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=some other CA" -keyout other-ca-key.pem -out other-ca.pem
  q openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server.pem
  q openssl req -newkey rsa:2048 -nodes -subj "/CN=interlook test client" -keyout client-key.pem -out client.csr
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out client.pem
  rm -f server.csr client.csr server.ext client.ext
  ;;
exec)
  ns=$(cat "$dir/netns")
  exec nsenter --net="/run/netns/$ns" "$@"
  ;;
*) usage ;;
esac

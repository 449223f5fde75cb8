#!/usr/bin/env bash
# make bench: runs the workloads of specs/performance.md §D4 on loopback, peers alternating
# in each repetition, and writes bench/results/<date>.jsonl plus the ratio table
# bench/results/<date>.md. Servers under test run on core 1 (GOMAXPROCS=1); fakerc, loadgen
# and redis-server on core 0. Only the processes this script started are ended.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
WORKLOADS=${WORKLOADS:-"W1 W2 W3 W4 W5 W6 W7 W8"}   # a subset, e.g. WORKLOADS=W1
want() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }
W1_SMALL=${W1_SMALL:-1000} W1_LARGE=${W1_LARGE:-5000}   # users, 2 connections each
W2_USERS=${W2_USERS:-1000} W2_RATE=${W2_RATE:-10000} W2_DUR=${W2_DUR:-8s}  # 3 connections each
W3_RATE=${W3_RATE:-1000} W3_DUR=${W3_DUR:-8s}
W4_USERS=${W4_USERS:-2000}
W5_USERS=${W5_USERS:-5000}   # 2 connections each
W7_SIZES=${W7_SIZES:-"100 500 1000"} W7_RATE=${W7_RATE:-20} W7_DUR=${W7_DUR:-8s}   # room members, 2 connections each
W8_RATE=${W8_RATE:-10000} W8_DUR=${W8_DUR:-8s}
SERVER_CORE=${SERVER_CORE:-1} CLIENT_CORE=${CLIENT_CORE:-0}
FAKERC=127.0.0.1:3190 PEER=127.0.0.1:8190 REDIS_PORT=6390
SECRET=bench-secret-bench-secret-bench-secret

command -v taskset >/dev/null || { echo "bench: taskset (util-linux) is required" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench: redis-server is required (make deps)" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# W8, a full node: as many users x 2 tabs as the gateway's file limit allows. Each user holds
# 3 descriptors in the gateway (2 browser connections and 1 upstream); 200 are left for the
# listener, the REST connections to Rocket.Chat (at most 64), epoll and the rest. The load
# generator (2 per user) and fakerc (1 per user) stay well inside the same limit.
W8_USERS=${W8_USERS:-$(( ($(ulimit -n) - 200) / 3 ))}

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
work=$(mktemp -d)
mkdir -p bench/results
out=bench/results/$stamp.jsonl
bin=$work/bin
go build -o "$bin/" ./bench/fakerc ./bench/floor ./bench/loadgen ./bench/report ./cmd/rcgateway

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() { # host:port
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench: nothing listens on $1" >&2; return 1
}

# The per-user limits are off (0): a benchmark user opens more connections and negotiates
# faster than a person would. rocketchat.ping_interval/ping_timeout keep their defaults
# (5 s / 5 s), so an idle upstream pings fakerc every 5 s as it would ping Rocket.Chat.
gateway_config() { # redis url or empty
  cat > "$work/gateway.yaml" <<YAML
rocketchat:
  url: http://$FAKERC
  admin: {username: admin, password: bench-admin-pass}
user_tokens: {strategy: create_token, create_token_secret: bench, linger: 30s}
auth:
  jwt: {hs256_secret: $SECRET}
http: {listen: "$PEER"}
limits: {max_connections_per_user: 0, negotiates_per_minute: 0, rest_per_second: 0}
log: {level: warn}
YAML
  if [ -n "$1" ]; then printf 'redis: {url: "%s"}\n' "$1" >> "$work/gateway.yaml"; fi
}

server_pid=
start_server() { # peer
  case $1 in
    gateway) gateway_config ""; cmd=("$bin/rcgateway" serve -config "$work/gateway.yaml") ;;
    gateway-redis) gateway_config "redis://127.0.0.1:$REDIS_PORT"; cmd=("$bin/rcgateway" serve -config "$work/gateway.yaml") ;;
    floor) cmd=("$bin/floor" -addr "$PEER" -upstream "ws://$FAKERC/websocket") ;;
  esac
  GOMAXPROCS=1 taskset -c "$SERVER_CORE" "${cmd[@]}" 2>>"$work/server.log" &
  server_pid=$!
  pids+=("$server_pid")
  wait_port "$PEER"
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}
fakerc_args=()
start_fakerc() {
  GOMAXPROCS=1 taskset -c "$CLIENT_CORE" "$bin/fakerc" -addr "$FAKERC" "${fakerc_args[@]}" 2>>"$work/fakerc.log" &
  fakerc_pid=$!
  pids+=("$fakerc_pid")
  wait_port "$FAKERC"
}
stop_fakerc() { kill "$fakerc_pid" 2>/dev/null || true; wait "$fakerc_pid" 2>/dev/null || true; }

loadgen() { # label, then loadgen flags
  local label=$1; shift
  GOMAXPROCS=1 taskset -c "$CLIENT_CORE" "$bin/loadgen" -label "$label" -fakerc "http://$FAKERC" -secret "$SECRET" "$@" | tee -a "$out"
}

# One peer measurement with a fresh fakerc and server. Args: label peer loadgen-flags...
measure() {
  local label=$1 peer=$2; shift 2
  start_fakerc
  if [ "$peer" = ddp ]; then
    loadgen "$label" -mode ddp -target "http://$FAKERC" "$@"
  else
    start_server "$peer"
    local mode=signalr; [ "$peer" = floor ] && mode=raw
    loadgen "$label" -mode "$mode" -target "http://$PEER" -pid "$server_pid" "$@"
    stop_server
  fi
  stop_fakerc
}

GOMAXPROCS=1 taskset -c "$CLIENT_CORE" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=("$!")
wait_port "127.0.0.1:$REDIS_PORT"

for rep in $(seq 1 "$REPS"); do
  # Alternate which peer goes first (ABAB, then BABA).
  if [ $((rep % 2)) -eq 1 ]; then pair=(gateway floor); else pair=(floor gateway); fi
  for p in "${pair[@]}"; do
    if want W1; then
      measure "W1/$p/$rep/small" "$p" -scenario idle -users "$W1_SMALL" -conns 2 -settle 3s
      measure "W1/$p/$rep/large" "$p" -scenario idle -users "$W1_LARGE" -conns 2 -settle 3s
    fi
    want W2 && measure "W2/$p/$rep" "$p" -scenario fanout -users "$W2_USERS" -conns 3 -rate "$W2_RATE" -dur "$W2_DUR" -settle 1s
    # The gateway's connections resume (stateful reconnect, as withStatefulReconnect() in
    # @microsoft/signalr); the floor has no resume and reconnects as new connections.
    resume=(); [ "$p" = gateway ] && resume=(-stateful)
    want W5 && measure "W5/$p/$rep" "$p" -scenario reconnect -users "$W5_USERS" -conns 2 -rate 1000 -dur 6s -settle 1s "${resume[@]}"
  done
  # Upstream side: every gateway-to-Rocket.Chat connection drops while events flow.
  want W5 && measure "W5u/gateway/$rep" gateway -scenario upstream -users "$W5_USERS" -conns 2 -rate 1000 -dur 6s -settle 1s
  if [ $((rep % 2)) -eq 1 ]; then pair=(gateway ddp); else pair=(ddp gateway); fi
  for p in "${pair[@]}"; do
    conns=3; [ "$p" = ddp ] && conns=1
    want W3 && measure "W3/$p/$rep" "$p" -scenario fanout -users 1000 -conns "$conns" -rate "$W3_RATE" -dur "$W3_DUR" -settle 1s
    want W4 && measure "W4/$p/$rep" "$p" -scenario storm -users "$W4_USERS" -conns 1 -concurrency 500
  done
  if [ $((rep % 2)) -eq 1 ]; then pair=(gateway gateway-redis); else pair=(gateway-redis gateway); fi
  for p in "${pair[@]}"; do
    want W6 && measure "W6/$p/$rep" "$p" -scenario fanout -users "$W2_USERS" -conns 3 -rate "$W2_RATE" -dur "$W2_DUR" -settle 1s
  done
  # W7, the big room: every user is a member of one channel and has 2 tabs open; messages
  # go into the channel, so Rocket.Chat sends each to every member's upstream. Its CPU per
  # delivered push is set against W2's gateway figure of this repetition.
  if want W7; then
    want W2 || measure "W2/gateway/$rep" gateway -scenario fanout -users "$W2_USERS" -conns 3 -rate "$W2_RATE" -dur "$W2_DUR" -settle 1s
    fakerc_args=(-room big)
    for n in $W7_SIZES; do
      measure "W7/gateway/$rep/$n" gateway -scenario room -users "$n" -conns 2 -rate "$W7_RATE" -dur "$W7_DUR" -settle 2s
    done
    fakerc_args=()
  fi
  # W8, a full node: W8_USERS users x 2 tabs, 10,000 events/s over them; the floor at the
  # same size is the same run's reference for latency and memory. Events start once the
  # server is quiet (under 20% of its core for a second): after a mass login the gateway
  # still runs every user's first resync and room subscriptions, and live events wait behind
  # a user's resync; that start-up is reported (quiet_s), the steady state is measured.
  if want W8; then
    if [ $((rep % 2)) -eq 1 ]; then pair=(gateway floor); else pair=(floor gateway); fi
    for p in "${pair[@]}"; do
      measure "W8/$p/$rep" "$p" -scenario fanout -users "$W8_USERS" -conns 2 -rate "$W8_RATE" -dur "$W8_DUR" -settle 3s -quiet 0.2 -concurrency 200
    done
  fi
done

"$bin/report" -in "$out" > "bench/results/$stamp.md"
echo
cat "bench/results/$stamp.md"
echo "bench: results in $out and bench/results/$stamp.md"

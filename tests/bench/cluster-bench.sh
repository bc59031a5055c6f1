#!/bin/sh
# cluster-bench.sh TMPDIR SECS SEED: three nats-server (JetStream
# clustered, on loopback) and three refguardd in cluster mode
# (docs/cluster.md); refguard-bench drives the three nodes at once, 8
# connections x depth 8 each, then one node alone at 1 connection x depth
# 1. Prints RESULT lines (total rps, and p50/p99 of both runs) that
# run-bench.sh puts beside the single-node figures of the same run.
# Exits 0 without figures, saying so, when nats-server is not installed.
#
# Environment: REFGUARDD, REFGUARD_BENCH, RULES_DIR (as run-bench.sh).

set -u
TMP=$1
SECS=$2
SEED=$3
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
if [ ! -x "$NATS" ]; then
	echo "cluster-bench: nats-server not installed: no cluster figures"
	exit 0
fi

D=$TMP/cluster
mkdir -p "$D"
PIDS=
cleanup_cluster() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
}
trap cleanup_cluster EXIT

# Free loopback ports: 3 client, 3 route, 3 monitoring.
PORTS=$(python3 -c 'import socket
s = [socket.socket() for _ in range(9)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
set -- $PORTS
C0=$1 C1=$2 C2=$3 R0=$4 R1=$5 R2=$6 M0=$7 M1=$8 M2=$9
URLS="nats://127.0.0.1:$C0,nats://127.0.0.1:$C1,nats://127.0.0.1:$C2"

for i in 0 1 2; do
	eval c=\$C$i r=\$R$i m=\$M$i
	routes=
	for j in 0 1 2; do
		[ "$j" = "$i" ] && continue
		eval rj=\$R$j
		routes="$routes${routes:+, }nats://127.0.0.1:$rj"
	done
	cat > "$D/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$c
http: 127.0.0.1:$m
jetstream { store_dir: "$D/n$i" }
cluster { name: rgbench, listen: 127.0.0.1:$r, routes: [$routes] }
EOF
	"$NATS" -c "$D/n$i.conf" > "$D/n$i.log" 2>&1 &
	PIDS="$PIDS $!"
done
for m in $M0 $M1 $M2; do
	n=0
	until curl -sf "http://127.0.0.1:$m/healthz?js-enabled-only=true" \
	    > /dev/null; do
		n=$((n + 1))
		[ $n -gt 600 ] && { echo "cluster-bench: nats-server not ready" >&2; exit 1; }
		sleep 0.05
	done
done

for i in 0 1 2; do
	mkdir -p "$D/r$i/state"
	cat > "$D/r$i/refguard.conf" <<EOF
socket = $D/r$i/rg.sock
state_dir = $D/r$i/state
rules = $RULES_DIR
hash_secret_file = $D/secret
sync = full
log_level = warning
map_max = 64g
cluster_nats_url = $URLS
cluster_stream = RGBENCH
cluster_node = r$i
EOF
	"$REFGUARDD" -f -c "$D/r$i/refguard.conf" 2> "$D/r$i/stderr" &
	PIDS="$PIDS $!"
	# one at a time: the first creates the secret the others share
	if ! "$REFGUARD_BENCH" wait -s "$D/r$i/rg.sock" -t 60 > /dev/null; then
		echo "cluster-bench: refguardd r$i did not start:" >&2
		cat "$D/r$i/stderr" >&2
		exit 1
	fi
done

echo "== (8) 3-node cluster: 3 x (8 connections x depth 8) at once"
for i in 0 1 2; do
	"$REFGUARD_BENCH" run -s "$D/r$i/rg.sock" -c 8 -d 8 -t "$SECS" -w 2 \
	    -S $((SEED * 10 + i + 1)) -g c8n$i > "$D/c8n$i.out" 2>&1 &
	eval B$i=$!
done
wait "$B0" "$B1" "$B2"
cat "$D/c8n0.out"
awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "=");
	if (kv[1] == "rps") s += kv[2]; if (kv[1] == "p50_us") p50 = kv[2];
	if (kv[1] == "p99_us") p99 = kv[2] } }
    END { printf "RESULT cluster_rps=%.0f cluster_p50_us=%s cluster_p99_us=%s\n",
	s, p50, p99 }' "$D/c8n0.out" "$D/c8n1.out" "$D/c8n2.out"

echo "== (8b) 3-node cluster: 1 connection x depth 1 on one node"
"$REFGUARD_BENCH" run -s "$D/r0/rg.sock" -c 1 -d 1 -t "$SECS" -w 1 \
    -S $((SEED * 10 + 7)) -g c8b > "$D/c8b.out" 2>&1
cat "$D/c8b.out"
sed -n 's/^RESULT .*p50_us=\([^ ]*\).*/\1/p' "$D/c8b.out" | head -1 |
    awk '{ printf "RESULT cluster_lat_p50_us=%s ", $1 }'
sed -n 's/^RESULT .*p99_us=\([^ ]*\).*/\1/p' "$D/c8b.out" | head -1 |
    awk '{ printf "cluster_lat_p99_us=%s\n", $1 }'
exit 0

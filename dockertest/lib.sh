# lib.sh: shared settings and helpers of dockertest/build.sh and run.sh.
# Sourced, not run.

# One private Docker engine for both halves: the image built by build.sh (with
# network) is in the same data root when run.sh starts the engine again inside
# a network namespace. Nothing here touches a system dockerd.
DT_STATE=${DT_STATE:-/var/lib/pxe-dockertest}
DT_CACHE=${DT_CACHE:-/var/cache/pxe-dockertest}
DT_RUN=${DT_RUN:-/run/pxe-dockertest}
DT_SOCK=unix://$DT_RUN/docker.sock
DT_IMAGE=${DT_IMAGE:-pxeproxy:dockertest}
# The engine's data root: build.sh keeps one (base image and build cache);
# run.sh points this at a fresh directory per run.
DT_DATA=${DT_DATA:-$DT_STATE/build-data}
GO_VERSION=$(/usr/local/go/bin/go env GOVERSION)
DT_BASE_IMAGE=pxeproxy-build-base:bookworm-$GO_VERSION
export DOCKER_HOST=$DT_SOCK
# The compose plugin and the CLI's own config stay out of root's ~/.docker.
export DOCKER_CONFIG=$DT_STATE/cli-config
mkdir -p "$DOCKER_CONFIG"
ln -sfn /usr/local/lib/docker/cli-plugins "$DOCKER_CONFIG/cli-plugins"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '%s dockertest: %s\n' "$(date +%T)" "$*" >&2; }

# start_dockerd [CMD-PREFIX...]: starts the private dockerd, optionally under a
# prefix such as "ip netns exec NS", and waits for its API. Sets DOCKERD_PID.
# No bridge, no iptables: containers use host networking (of the namespace the
# engine runs in) or none, so the engine changes nothing on the network.
start_dockerd() {
	mkdir -p "$DT_DATA" "$DT_RUN/exec"
	rm -f "$DT_RUN/docker.sock" "$DT_RUN/dockerd.pid"
	"$@" dockerd \
		--data-root "$DT_DATA" \
		--exec-root "$DT_RUN/exec" \
		--pidfile "$DT_RUN/dockerd.pid" \
		-H "$DT_SOCK" \
		--bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
		--userland-proxy=false \
		>"$DT_RUN/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	local i
	for i in $(seq 1 100); do
		if docker version >/dev/null 2>&1; then
			log "dockerd up (pid $DOCKERD_PID)"
			return 0
		fi
		if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
			break
		fi
		sleep 0.3
	done
	log "dockerd did not start; its log:"
	tail -n 30 "$DT_RUN/dockerd.log" >&2
	return 1
}

# stop_dockerd: SIGTERM to our dockerd by PID (it stops its own containerd),
# SIGKILL after 30 s.
stop_dockerd() {
	[[ -n ${DOCKERD_PID:-} ]] || return 0
	kill -TERM "$DOCKERD_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 60); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		log "dockerd ignored SIGTERM; killing pid $DOCKERD_PID"
		kill -KILL "$DOCKERD_PID" 2>/dev/null || true
	fi
	wait "$DOCKERD_PID" 2>/dev/null || true
	DOCKERD_PID=
}

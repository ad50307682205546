#!/usr/bin/env bash
# build.sh: the half of the container test that needs the network. Run as
# root, outside any network namespace, before run.sh:
#   1. builds the docker compose v2 plugin from the Go module proxy (once);
#   2. makes the build-stage base image: debootstrap bookworm minbase (tarball
#      cached in $DT_CACHE) plus this machine's /usr/local/go, docker import;
#   3. starts a private dockerd (no bridge, no iptables), builds the image from
#      a scratch copy of the repo with vendored modules (the Go module proxy is
#      reached through this machine's own CA, which a container does not trust;
#      apt inside the build uses Debian's mirror over plain http), stops it.
# Only HTTP(S) to the module proxy and deb.debian.org leaves the machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export PATH=/usr/local/go/bin:$PATH

[[ $(id -u) == 0 ]] || { echo "build.sh: run as root" >&2; exit 1; }

t0=$(date +%s)
"$here/install-compose.sh"
t_compose=$(($(date +%s) - t0))

# --- base image rootfs -------------------------------------------------------
mkdir -p "$DT_CACHE" "$DT_RUN"
rootfs_tar=$DT_CACHE/debootstrap-bookworm-minbase.tar
t0=$(date +%s)
if [[ ! -s $rootfs_tar ]]; then
	log "debootstrap bookworm minbase (cached afterwards in $rootfs_tar)"
	rootfs=$(mktemp -d /tmp/pxe-debootstrap.XXXXXX)
	trap 'rm -rf "$rootfs"' EXIT
	debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$DT_CACHE/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$DT_CACHE/debootstrap.log" >&2; exit 1; }
	# apt caches are not part of the image.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
	tar -C "$rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
	rm -rf "$rootfs"
	trap - EXIT
fi
t_debootstrap=$(($(date +%s) - t0))

# --- engine --------------------------------------------------------------------
DOCKERD_PID=
ctx=
cleanup() {
	stop_dockerd
	[[ -n $ctx ]] && rm -rf "$ctx"
}
trap cleanup EXIT
start_dockerd

t0=$(date +%s)
if ! docker image inspect "$DT_BASE_IMAGE" >/dev/null 2>&1; then
	log "importing $DT_BASE_IMAGE (debootstrap + /usr/local/go)"
	ctx=$(mktemp -d /tmp/pxe-baseimg.XXXXXX)
	tar -C "$ctx" -xf "$rootfs_tar"
	mkdir -p "$ctx/usr/local"
	cp -a /usr/local/go "$ctx/usr/local/go"
	tar -C "$ctx" -cf - . | docker import \
		--change 'ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV GOTOOLCHAIN=local' \
		- "$DT_BASE_IMAGE" >/dev/null
	rm -rf "$ctx"
	ctx=
fi
t_import=$(($(date +%s) - t0))

# --- build context: the working tree's files, modules vendored -----------------
ctx=$(mktemp -d /tmp/pxe-dockerctx.XXXXXX)
# Tracked and untracked-but-not-ignored files, as CI's checkout would have
# them; files deleted in the working tree are skipped.
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	tar --null -T - -cf -) | tar -C "$ctx" -xf -
(cd "$ctx" && go mod vendor)

t0=$(date +%s)
log "docker build (GO_IMAGE=$DT_BASE_IMAGE)"
# BuildKit, because only it keeps the binary's file capability through
# COPY --from. Debian's docker.io CLI has it built in; a newer CLI on PATH
# (e.g. /usr/local/bin/docker 28) needs the buildx plugin for it instead.
build_cli=docker
if ! docker buildx version >/dev/null 2>&1; then
	build_cli=/usr/bin/docker
fi
DOCKER_BUILDKIT=1 "$build_cli" build --progress=plain --network host \
	--build-arg GO_IMAGE="$DT_BASE_IMAGE" -t "$DT_IMAGE" "$ctx"
t_build=$(($(date +%s) - t0))
# Earlier builds' images, now untagged, would pile up in the data root.
docker image prune -f >/dev/null

# run.sh loads this into a fresh engine inside its network namespace.
docker save -o "$DT_CACHE/pxeproxy-image.tar.tmp" "$DT_IMAGE" && mv "$DT_CACHE/pxeproxy-image.tar.tmp" "$DT_CACHE/pxeproxy-image.tar"
# The capability is what lets uid 65532 bind ports 67, 69 and 4011: a build
# that lost it must fail here, not later in a confusing bind error.
# (grep -c reads to the end: with -q, pipefail would see tar's SIGPIPE.)
caps=$(tar -xOf "$DT_CACHE/pxeproxy-image.tar" | grep -ac 'SCHILY.xattr.security.capability' || true)
if [[ ${caps:-0} -eq 0 ]]; then
	log "the image's /pxeproxy lost its file capability (legacy builder?)"
	exit 1
fi
size=$(docker image inspect -f '{{.Size}}' "$DT_IMAGE")
log "image $DT_IMAGE: $size bytes"
log "timings: compose plugin ${t_compose}s, debootstrap ${t_debootstrap}s, base import ${t_import}s, image build ${t_build}s"

#!/usr/bin/env bash
# install-compose.sh: builds the docker compose v2 CLI plugin from the Go module
# proxy (it is not packaged in Debian bookworm) and installs it where every
# docker CLI looks for plugins. Needs network (module proxy). Skips the build
# when the installed plugin already reports the pinned version.
set -euo pipefail

COMPOSE_VERSION=${COMPOSE_VERSION:-v2.40.3}
PLUGIN_DIR=${PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
PLUGIN=$PLUGIN_DIR/docker-compose
export PATH=/usr/local/go/bin:$PATH

if [[ -x $PLUGIN ]] && "$PLUGIN" version 2>/dev/null | grep -q "${COMPOSE_VERSION}\b"; then
	echo "compose plugin $COMPOSE_VERSION already installed at $PLUGIN"
	exit 0
fi

work=$(mktemp -d /tmp/pxe-compose-build.XXXXXX)
# The module cache is read-only by default; make it removable.
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOPATH=$work/gopath GOMODCACHE=$work/gopath/pkg/mod GOCACHE=${COMPOSE_GOCACHE:-$work/gocache}
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0
cd "$work"

start=$(date +%s)
dir=$(go mod download -json "github.com/docker/compose/v2@${COMPOSE_VERSION}" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $dir ]] || { echo "install-compose: module download gave no directory" >&2; exit 1; }
echo "compose module downloaded in $(($(date +%s) - start))s"

cd "$dir"
# The version string is what "docker compose version" prints; upstream sets it
# the same way in its Makefile.
go build -trimpath -o "$work/docker-compose" \
	-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=${COMPOSE_VERSION}" ./cmd
install -D -m 0755 "$work/docker-compose" "$PLUGIN"
echo "compose plugin $COMPOSE_VERSION built and installed in $(($(date +%s) - start))s"
"$PLUGIN" version

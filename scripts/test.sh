#!/usr/bin/env bash
# test.sh is the one command that runs every test on a fresh machine (as
# root): it installs what the tests need, then runs the whole suite inside a
# private network namespace (unshare --net), so no DHCP or TFTP packet of a
# test can ever reach a real network.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
bash scripts/setup.sh
# The container image: needs the package mirrors and the Go module proxy
# (image build); sends no DHCP or TFTP. dockertest/run.sh tests it inside.
bash dockertest/build.sh
exec unshare --net -- bash scripts/test-inside.sh "$@"

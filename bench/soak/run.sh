#!/usr/bin/env bash
# Soak: pxeproxy under rounds of every hostile-LAN flood with honest DHCP and
# TFTP clients, for PXEPROXY_SOAK (default 30m), sampling RSS, goroutines and
# open files every 10 s (hostile/soak_test.go). As root; everything runs in a
# private network namespace. Not part of CI.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
. "$(dirname "$0")/../lib.sh"
need_root
need go unshare ip
cd "$repo"
export PXEPROXY_SOAK=${PXEPROXY_SOAK:-30m}
# go test's own time limit is left wide: the soak ends itself.
exec unshare --net -- sh -c "ip link set lo up; go test -count=1 -v -timeout 24h -run '^TestSoak\$' ./hostile/"

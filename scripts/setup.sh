#!/usr/bin/env bash
# setup.sh installs everything the tests need on a fresh Debian 12 machine
# (run as root): Debian packages, Go modules. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export DEBIAN_FRONTEND=noninteractive

# Installing a daemon package must never start it on the real network.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi

pkgs=(qemu-system-x86 qemu-system-arm qemu-efi-aarch64 ipxe-qemu ovmf ipxe dnsmasq-base isc-dhcp-server isc-dhcp-relay
      kea-dhcp6-server radvd debian-installer-12-netboot-amd64 chromium shim-signed grub-efi-amd64-signed jq
      atftp atftpd tftp-hpa curl tcpdump iproute2 bridge-utils procps debootstrap docker.io)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# tftpd-hpa conflicts with atftpd as a package; the benchmark only needs its
# binary, so unpack it beside the system instead of installing it.
if [ ! -x /opt/tftpd-hpa/usr/sbin/in.tftpd ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq tftpd-hpa >/dev/null && dpkg -x tftpd-hpa_*.deb /opt/tftpd-hpa)
  rm -rf "$tmp"
fi

go mod download
# staticcheck, pinned, for the lint suite.
if ! "$(go env GOPATH)/bin/staticcheck" -version 2>/dev/null | grep -q "(0.8.2)"; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# Build the test binaries now: inside `unshare --net` nothing can be fetched.
go test -count=1 -run '^$' ./... >/dev/null

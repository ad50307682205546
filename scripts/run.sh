#!/usr/bin/env bash
# run.sh builds and runs pxeproxy on this host without Docker (as root, or
# with CAP_NET_BIND_SERVICE): it installs Debian's iPXE builds if missing,
# builds the binary, and serves iPXE (and memtest86+ when the host has
# Debian's memtest86+ package: installing it here would add an entry to the
# host's own GRUB menu) as built-in defaults behind PXE_TFTP_ROOT; iPXE
# clients get the menu pxeproxy generates from the boot folder. Every PXE_*
# variable set in the environment is passed through, e.g.:
#   sudo PXE_INTERFACES=eth1 scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
if [ ! -f /usr/lib/ipxe/undionly.kpxe ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ipxe >/dev/null
fi
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/pxeproxy .
defaults=$(pwd)/bin/tftp-defaults
mkdir -p "$defaults"
cp /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/ipxe.efi /usr/lib/ipxe/snponly.efi "$defaults/"
if [ -f /boot/memtest86+x64.bin ]; then
  mkdir -p "$defaults/memtest"
  cp /boot/memtest86+x64.bin /boot/memtest86+x64.efi "$defaults/memtest/"
fi
export PXE_TFTP_DEFAULTS=${PXE_TFTP_DEFAULTS:-$defaults}
exec bin/pxeproxy "$@"

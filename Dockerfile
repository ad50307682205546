# pxeproxy container image: a static binary, iPXE boot files and a default
# menu on an empty (scratch) base. See docker-compose.yml for how to run it.
# Build with BuildKit (Docker's default builder since 23.0): see setcap below.
#
# GO_IMAGE can be swapped for a local image with Go installed (CI builds one
# with debootstrap because no registry is reachable there; dockertest/build.sh).
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
# iPXE comes from Debian's ipxe package rather than from git: the binaries stay
# out of the tree and get Debian's fixes on rebuild. libcap2-bin provides
# setcap (see below).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ipxe libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /out/tftp /out/srv/tftp \
 && cp /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/ipxe.efi /usr/lib/ipxe/snponly.efi /out/tftp/

WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
# Module download in its own layer, redone only when go.mod/go.sum change. A
# context that carries vendor/ (offline builds) skips it: the "[t]" pattern
# copies vendor/modules.txt only when it exists, and go.mod guarantees the
# instruction always matches something.
COPY go.mod go.sum vendor/modules.tx[t] ./
RUN if [ -f modules.txt ]; then rm modules.txt; echo "vendor/ present: offline build"; else go mod download; fi

COPY . .
# Ports 67, 69 and 4011 are privileged. A non-root process gets no
# capabilities from Docker's cap_add alone (Docker sets no ambient
# capabilities, so they are dropped when the process starts), but a file
# capability on the binary grants the one it needs, bounded by the
# container's capability set. BuildKit keeps the xattr through COPY --from;
# the legacy builder drops it (seen with Docker 20.10) and the container then
# cannot bind. The cache mount only speeds up rebuilds.
RUN --mount=type=cache,target=/root/.cache/go-build \
    mod=; if [ -d vendor ]; then mod=-mod=vendor; fi \
 && go build $mod -trimpath -ldflags='-s -w' -o /out/pxeproxy . \
 && setcap cap_net_bind_service=+ep /out/pxeproxy

FROM scratch
COPY --from=build /out/pxeproxy /pxeproxy
COPY --from=build /out/tftp/ /usr/share/pxeproxy/tftp/
COPY boot/boot.ipxe /usr/share/pxeproxy/tftp/boot.ipxe
# An empty mount point: with nothing mounted the built-in files are served.
COPY --from=build /out/srv/ /srv/
ENV PXE_TFTP_ROOT=/srv/tftp \
    PXE_TFTP_DEFAULTS=/usr/share/pxeproxy/tftp
# Numeric, so no /etc/passwd is needed; 65532 is the usual "nonroot" id.
USER 65532:65532
EXPOSE 67/udp 69/udp 4011/udp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/pxeproxy", "healthcheck"]
ENTRYPOINT ["/pxeproxy"]

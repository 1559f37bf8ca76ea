#!/usr/bin/env bash
# Build the opsroom container image from ./Containerfile without a Docker daemon:
# buildah (chroot isolation, vfs storage) on a Debian base made with debootstrap, because
# this machine reaches Debian's archive and PyPI but no container registry.
#
#   bash scripts/build-image.sh            # -> dist/opsroom-<version>.image.tar (docker-archive)
#
# Load the archive elsewhere with `docker load -i …`, `podman load -i …` or `skopeo copy`.
# (Docker format, not OCI: OCI images cannot carry the HEALTHCHECK.)
# On a machine with Docker, `docker build -f Containerfile .` builds the same image from the
# official python:3.11-slim base instead.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install buildah debootstrap)" >&2; exit 3; }
done

CACHE=${OPSROOM_IMAGE_CACHE:-$HOME/.cache/opsroom-image}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
STORAGE=(--storage-driver vfs)
VERSION=$(python3 -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
BASE=localhost/opsroom-base:bookworm
OUT=dist/opsroom-$VERSION.image.tar
mkdir -p "$CACHE" dist

# 1. The base: Debian bookworm (Python 3.11) with the venv module, made once and cached.
if ! buildah "${STORAGE[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  rootfs_tar="$CACHE/bookworm-python.tar"
  if [ ! -s "$rootfs_tar" ]; then
    echo "› debootstrap: Debian bookworm with python3 (about a minute)"
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$MIRROR" >/dev/null
    # The host's trust store: PyPI is reached through the same TLS setup as the host's pip.
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$rootfs_tar" .
    rm -rf "$rootfs"
  fi
  echo "› base image $BASE"
  ctr=$(buildah "${STORAGE[@]}" from scratch)
  buildah "${STORAGE[@]}" add "$ctr" "$rootfs_tar" / >/dev/null
  buildah "${STORAGE[@]}" commit --quiet "$ctr" "$BASE" >/dev/null
  buildah "${STORAGE[@]}" rm "$ctr" >/dev/null
fi

# 2. The image itself, from the Containerfile (both stages).
echo "› building opsroom $VERSION ($COMMIT)"
printf '%s\n' "$COMMIT" > src/opsroom/COMMIT
trap 'rm -f src/opsroom/COMMIT' EXIT
buildah "${STORAGE[@]}" build --quiet --isolation chroot --layers=false --format docker \
  --build-arg "BASE=$BASE" --build-arg "VERSION=$VERSION" --build-arg "COMMIT=$COMMIT" \
  -f Containerfile -t "localhost/opsroom:$VERSION" . >/dev/null

rm -f "$OUT"
buildah "${STORAGE[@]}" push --quiet "localhost/opsroom:$VERSION" "docker-archive:$OUT:opsroom:$VERSION"
echo "✓ $OUT ($(du -m "$OUT" | cut -f1) MiB; image localhost/opsroom:$VERSION)"

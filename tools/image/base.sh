#!/usr/bin/env bash
# A stand-in for the image's base, python:3.11-slim, for machines that cannot reach Docker Hub
# but reach Debian's packages: Debian bookworm's own Python 3.11 (python3, venv, pip through
# ensurepip), bootstrapped with mmdebstrap and committed to buildah's storage as $BASE_IMAGE.
# The host's CA bundle replaces the image's, so pip inside the build trusts what the host
# trusts (a TLS-inspecting proxy's certificate included). Does nothing when $BASE_IMAGE exists.
#
#   tools/image/base.sh            # then: tools/image/build.sh (make image does both)
set -euo pipefail
BASE_IMAGE=${BASE_IMAGE:-localhost/planrrr-python-base:3.11-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}

if buildah inspect --type image "$BASE_IMAGE" > /dev/null 2>&1; then
    echo "base image $BASE_IMAGE is there"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# What python:3.11-slim has that matters here: python (3.11) with venv and pip, CA certificates,
# groupadd/useradd (passwd), UTF-8. Documentation, man pages and locales stay out, as in -slim.
mmdebstrap --variant=minbase --mode=root --quiet \
    --include=python3,python3-venv,python-is-python3,ca-certificates,passwd \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    bookworm "$work/rootfs.tar" "$MIRROR"
container=$(buildah from scratch)
buildah add --quiet "$container" "$work/rootfs.tar" /
buildah config --env LANG=C.UTF-8 --cmd '["python3"]' \
    --label "org.opencontainers.image.description=python:3.11-slim stand-in: Debian bookworm's Python 3.11" \
    "$container"
buildah commit --quiet --rm "$container" "$BASE_IMAGE" > /dev/null
echo "base image $BASE_IMAGE committed"

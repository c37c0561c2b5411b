#!/usr/bin/env bash
# Builds the Dockerfile with buildah: no Docker engine, chroot isolation, the vfs storage driver
# (what works inside a container or an unprivileged CI machine), cached layers. The base is
# $BASE_IMAGE, the python:3.11-slim stand-in tools/image/base.sh makes; BASE_IMAGE=python:3.11-slim
# builds on the real one where Docker Hub is reachable. Prints the image's size and the build's time.
#
#   tools/image/build.sh           # make image: base.sh, then this
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE_IMAGE=${BASE_IMAGE:-localhost/planrrr-python-base:3.11-bookworm}
IMAGE=${IMAGE:-localhost/planrrr:local}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}

started=$(date +%s%N)
buildah bud --isolation chroot --layers --format docker --quiet \
    --build-arg "BASE=$BASE_IMAGE" \
    --build-arg "VERSION=$(git describe --always --dirty 2> /dev/null || echo unknown)" \
    --tag "$IMAGE" --file Dockerfile . > /dev/null
finished=$(date +%s%N)
size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -1)
tenths=$(( (finished - started) / 100000000 ))
printf 'image %s built in %d.%d s: %s\n' "$IMAGE" $((tenths / 10)) $((tenths % 10)) "$size"

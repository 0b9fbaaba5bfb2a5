#!/usr/bin/env bash
# packaging/linux/install.sh [PREFIX]: install the bundle in dist/courier with its desktop entry,
# icons (hicolor sizes) and AppStream metadata.  PREFIX defaults to ~/.local (no root needed).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="${1:-$HOME/.local}"
[ -x "$root/dist/courier/courier" ] || { echo "install: build the bundle first (packaging/build-bundle.sh)" >&2; exit 1; }
mkdir -p "$prefix/lib" "$prefix/bin" "$prefix/share/applications" "$prefix/share/metainfo"
rm -rf "$prefix/lib/courier"
cp -a "$root/dist/courier" "$prefix/lib/courier"
ln -sf "$prefix/lib/courier/courier" "$prefix/bin/courier"
sed "s|^Exec=courier|Exec=$prefix/bin/courier|" "$root/packaging/linux/courier.desktop" \
    > "$prefix/share/applications/courier.desktop"
cp "$root/packaging/linux/io.github.courier.Courier.metainfo.xml" "$prefix/share/metainfo/"
for size in 16 32 48 64 128 256; do
    dir="$prefix/share/icons/hicolor/${size}x${size}/apps"
    mkdir -p "$dir"
    cp "$root/app/resources/courier-$size.png" "$dir/courier.png"
done
mkdir -p "$prefix/share/icons/hicolor/scalable/apps"
cp "$root/app/resources/courier.svg" "$prefix/share/icons/hicolor/scalable/apps/courier.svg"
echo "installed Courier under $prefix (run: courier)"

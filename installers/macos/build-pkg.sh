#!/bin/sh
# Builds the signed macOS installer. Run on a Mac with Xcode command-line tools:
#   installers/macos/build-pkg.sh VERSION "Developer ID Installer: ..."
set -eu
VERSION="$1"
SIGN="${2:-}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
cargo build --release -p smartcard-selfservice --target aarch64-apple-darwin
cargo build --release -p smartcard-selfservice --target x86_64-apple-darwin
mkdir -p target/macos
lipo -create -output target/macos/smartcard-selfservice \
  target/aarch64-apple-darwin/release/smartcard-selfservice target/x86_64-apple-darwin/release/smartcard-selfservice
installers/macos/stage-payload.sh target/macos/smartcard-selfservice target/macos/stage
pkgbuild --root target/macos/stage/payload --scripts target/macos/stage/scripts \
  --identifier uk.nhs.smartcard-selfservice.host --version "$VERSION" target/macos/host.pkg
productbuild --distribution installers/macos/distribution.xml --package-path target/macos \
  ${SIGN:+--sign "$SIGN"} "dist/smartcard-selfservice-$VERSION.pkg"
echo "Now notarise: xcrun notarytool submit dist/smartcard-selfservice-$VERSION.pkg --wait; xcrun stapler staple ..."

#!/bin/sh
# Stages the macOS pkg payload: system-wide files only, no per-user writes.
#   stage-payload.sh HOST_BINARY OUT_DIR
# The manifests come from the host itself (`smartcard-selfservice manifest`), so names and ids
# have one source. On a Mac, build-pkg.sh runs this, then pkgbuild and productbuild.
set -eu
HOST="$1"
OUT="$2"
APP="/Library/Application Support/Smartcard Self-Service"
PROGRAM="$APP/smartcard-selfservice"
rm -rf "$OUT"
mkdir -p "$OUT/payload$APP"
cp "$HOST" "$OUT/payload$PROGRAM"
chmod 0755 "$OUT/payload$PROGRAM"
for dir in "/Library/Google/Chrome/NativeMessagingHosts" "/Library/Microsoft/Edge/NativeMessagingHosts" "/Library/Application Support/Chromium/NativeMessagingHosts"; do
  mkdir -p "$OUT/payload$dir"
  "$HOST" manifest --browser chromium --program "$PROGRAM" > "$OUT/payload$dir/smartcard_selfservice.json"
  chmod 0644 "$OUT/payload$dir/smartcard_selfservice.json"
done
dir="/Library/Application Support/Mozilla/NativeMessagingHosts"
mkdir -p "$OUT/payload$dir"
"$HOST" manifest --browser firefox --program "$PROGRAM" > "$OUT/payload$dir/smartcard_selfservice.json"
chmod 0644 "$OUT/payload$dir/smartcard_selfservice.json"
mkdir -p "$OUT/scripts"
cp "$(dirname "$0")/scripts/postinstall" "$OUT/scripts/postinstall"
chmod 0755 "$OUT/scripts/postinstall"

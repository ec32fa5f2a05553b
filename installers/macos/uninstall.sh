#!/bin/sh
# Removes everything the macOS package installed (run with sudo).
set -u
rm -f "/Library/Google/Chrome/NativeMessagingHosts/smartcard_selfservice.json" \
      "/Library/Microsoft/Edge/NativeMessagingHosts/smartcard_selfservice.json" \
      "/Library/Application Support/Chromium/NativeMessagingHosts/smartcard_selfservice.json" \
      "/Library/Application Support/Mozilla/NativeMessagingHosts/smartcard_selfservice.json"
rm -rf "/Library/Application Support/Smartcard Self-Service"
pkgutil --forget uk.nhs.smartcard-selfservice.host 2>/dev/null || true
echo "Smartcard Self-Service removed."

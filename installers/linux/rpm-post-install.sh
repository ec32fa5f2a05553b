# Links the host's manifest into the Chromium-family browsers' folders (see postinst).
# SMARTCARD_SELFSERVICE_ROOT is unset in real installs; the package tests set it to a scratch root.
for dir in /etc/opt/chrome/native-messaging-hosts /etc/opt/edge/native-messaging-hosts /etc/chromium/native-messaging-hosts; do
  mkdir -p "${SMARTCARD_SELFSERVICE_ROOT:-}$dir"
  ln -sf /usr/share/smartcard-selfservice/smartcard_selfservice.chromium.json "${SMARTCARD_SELFSERVICE_ROOT:-}$dir/smartcard_selfservice.json"
done

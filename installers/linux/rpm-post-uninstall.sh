# On erase ($1 = 0, not on upgrade), removes the links and any folder left empty.
if [ "$1" = 0 ]; then
  for dir in /etc/opt/chrome/native-messaging-hosts /etc/opt/edge/native-messaging-hosts /etc/chromium/native-messaging-hosts; do
    rm -f "${SMARTCARD_SELFSERVICE_ROOT:-}$dir/smartcard_selfservice.json"
    rmdir --ignore-fail-on-non-empty -p "${SMARTCARD_SELFSERVICE_ROOT:-}$dir" 2>/dev/null || true
  done
fi

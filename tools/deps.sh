#!/bin/sh
# Installs the Debian packages that building, running and testing quell need.
# Idempotent and quiet when everything is already present.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev
libevent-dev libssl-dev libpcre2-dev zlib1g-dev libbrotli-dev libzstd-dev libpsl-dev libisal-dev
libcmocka-dev openssl curl nginx python3 python3-pytest
webext-ublock-origin-firefox chromium libnss3-tools"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
# Packaged daemons (nginx) must not start on install: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d; created_policy=1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
[ -n "${created_policy:-}" ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0

#!/usr/bin/env bash
# Build the Debian package: `npm run deb` → dist/callhook_<version>_<arch>.deb
#
# It carries, for this machine's architecture (the native SQLite module is compiled here):
#   /opt/callhook                          the built code and its production node_modules
#   /usr/bin/callhook                      the command line
#   /lib/systemd/system/callhook.service   the unit (Type=notify, hardened)
#   /usr/lib/sysusers.d/callhook.conf      the callhook user
#   /usr/lib/tmpfiles.d/callhook.conf      /etc/callhook and /var/lib/callhook, owners and modes
#   /etc/callhook/callhook.yaml            a minimal, valid config (a conffile: upgrades keep your edits)
#   /etc/callhook/callhook.env             KEY=value lines for ${KEY} in the YAML (a conffile)
# postinst creates the user and directories; it does not enable or start the daemon.
# Install: sudo apt install ./dist/callhook_<version>_<arch>.deb (Depends: nodejs >= 20).
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(node -p "require('$src/package.json').version")"
arch="$(dpkg --print-architecture)"
out="${1:-$src/dist/callhook_${version}_${arch}.deb}"

work="$(mktemp -d "${TMPDIR:-/tmp}/callhook-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
pkg="$work/pkg"
mkdir -p "$pkg"
chmod 0755 "$work" "$pkg"

bash "$src/scripts/stage.sh" "$pkg/opt/callhook"
chmod -R go-w "$pkg/opt/callhook"

install -d -m 0755 "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/usr/lib/sysusers.d" "$pkg/usr/lib/tmpfiles.d" "$pkg/usr/share/doc/callhook"
ln -s /opt/callhook/dist/src/cli.js "$pkg/usr/bin/callhook"
install -m 0644 "$src/systemd/callhook.service" "$pkg/lib/systemd/system/callhook.service"
install -m 0644 "$src/systemd/callhook.sysusers" "$pkg/usr/lib/sysusers.d/callhook.conf"
install -m 0644 "$src/systemd/callhook.tmpfiles" "$pkg/usr/lib/tmpfiles.d/callhook.conf"
install -d -m 0750 "$pkg/etc/callhook"
install -m 0640 "$src/config/callhook.minimal.yaml" "$pkg/etc/callhook/callhook.yaml"
install -m 0640 "$src/config/callhook.env" "$pkg/etc/callhook/callhook.env"
cat >"$pkg/usr/share/doc/callhook/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: callhook
License: MIT (the licenses of the bundled node_modules are in /opt/callhook/node_modules/*/)
EOF

install -d -m 0755 "$pkg/DEBIAN"
size="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat >"$pkg/DEBIAN/control" <<EOF
Package: callhook
Version: ${version}
Architecture: ${arch}
Maintainer: callhook developers <callhook@localhost>
Depends: nodejs (>= 20)
Section: comm
Priority: optional
Installed-Size: ${size}
Description: PBX call events (Asterisk AMI, FreeSWITCH ESL) to durable, signed webhooks
 callhook runs beside an Asterisk or FreeSWITCH PBX, turns its call signals into
 INITIAL / RINGING / CONNECTED / ON_HOLD / HANGUP events and delivers them as
 signed webhooks (or RabbitMQ messages) from a durable outbox.
EOF
printf '/etc/callhook/callhook.yaml\n/etc/callhook/callhook.env\n' >"$pkg/DEBIAN/conffiles"

cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers /usr/lib/sysusers.d/callhook.conf
  elif ! getent passwd callhook >/dev/null; then
    adduser --system --group --no-create-home --home /var/lib/callhook --shell /usr/sbin/nologin callhook
  fi
  if command -v systemd-tmpfiles >/dev/null; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/callhook.conf
  else
    chgrp callhook /etc/callhook /etc/callhook/callhook.yaml /etc/callhook/callhook.env
    install -d -m 0750 -o callhook -g callhook /var/lib/callhook
  fi
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
  cat <<'MSG'
callhook is installed, not started. Next:
  1. edit /etc/callhook/callhook.yaml (the PBX secret goes in /etc/callhook/callhook.env)
  2. sudo bash -c 'set -a; . /etc/callhook/callhook.env; callhook check --config /etc/callhook/callhook.yaml'
  3. sudo systemctl enable --now callhook
  4. journalctl -u callhook -f -o cat | callhook logs
  5. http://127.0.0.1:9466/view   (the web view; ssh -L 9466:127.0.0.1:9466 from your desk)
Guide: /opt/callhook/docs/operations.md
MSG
fi
EOF
cat >"$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl disable --now callhook.service >/dev/null 2>&1 || true
fi
EOF
cat >"$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  # the store (undelivered webhooks included) and the configuration go with a purge, the user stays
  rm -rf /var/lib/callhook /etc/callhook
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
EOF
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "built $out ($(du -h "$out" | cut -f1))"

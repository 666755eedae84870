#!/usr/bin/env bash
# Install callhook as a systemd service on a Debian/Ubuntu host with Node.js >= 20.
# Run from a checkout (or unpacked release) of callhook, as root:
#
#   sudo scripts/install.sh            # build, install, enable (does not start)
#   sudo scripts/install.sh --start    # ... and start it (after you configured it)
#
# Layout:
#   /opt/callhook                  code: dist/, node_modules/ (production only), package.json, docs/, demo/
#   /usr/local/bin/callhook        the command line (run, check, deliveries, replay, send-test, ...)
#   /etc/callhook/callhook.yaml    configuration: a minimal one if absent (every option: config/callhook.example.yaml)
#   /etc/callhook/callhook.env     optional KEY=value lines for ${KEY} in the YAML (created if absent)
#   /etc/callhook/*.secret         secrets for secret_file: (root:callhook 0640)
#   /var/lib/callhook              the durable outbox (systemd StateDirectory=)
#   /etc/systemd/system/callhook.service
#   /usr/lib/sysusers.d/callhook.conf, /usr/lib/tmpfiles.d/callhook.conf   the user, the directories
#
# Re-running upgrades the code and the unit; it never overwrites /etc/callhook files.
# Options: --start (start/restart the service), --no-systemd (files only: containers, CI),
#          --prefix DIR (install under DIR instead of /: a dry run you can inspect).
set -euo pipefail

start=0
systemd=1
root=""
while [ $# -gt 0 ]; do
  case "$1" in
    --start) start=1 ;;
    --no-systemd) systemd=0 ;;
    --prefix) root="${2:?--prefix needs a directory}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
opt="$root/opt/callhook"
etc="$root/etc/callhook"
unitdir="$root/etc/systemd/system"
bindir="$root/usr/local/bin"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

[ -n "$root" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo $0), or use --prefix DIR for a dry run"
command -v node >/dev/null || die "Node.js >= 20 is needed: https://github.com/nodesource/distributions (or apt install nodejs on Debian 13 / Ubuntu 24.04)"
command -v npm >/dev/null || die "npm is needed (apt install npm, or the NodeSource nodejs package)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is needed, this is $(node --version)"
node_bin="$(command -v node)"

# Everything is built in a staging copy (scripts/stage.sh): the checkout is only read (no
# root-owned node_modules/ or dist/ left in it), and npm ci runs once.
say "building in a staging copy of $src"
stage="$(mktemp -d "${TMPDIR:-/tmp}/callhook-install.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
bash "$src/scripts/stage.sh" "$stage/opt"

say "installing the code in $opt"
mkdir -p "$(dirname "$opt")"
rm -rf "$opt.new"
cp -a "$stage/opt" "$opt.new"
rm -rf "$opt.old"
[ -d "$opt" ] && mv "$opt" "$opt.old"
mv "$opt.new" "$opt"
rm -rf "$opt.old"
chown -R root:root "$opt" 2>/dev/null || true
chmod -R go-w "$opt"

mkdir -p "$bindir"
ln -sfn /opt/callhook/dist/src/cli.js "$bindir/callhook"

say "service user and configuration in $etc"
# the user and directories are declared for systemd (sysusers.d, tmpfiles.d) and applied now
install -D -m 0644 "$src/systemd/callhook.sysusers" "$root/usr/lib/sysusers.d/callhook.conf"
install -D -m 0644 "$src/systemd/callhook.tmpfiles" "$root/usr/lib/tmpfiles.d/callhook.conf"
mkdir -p "$root/etc"
if command -v systemd-sysusers >/dev/null; then
  systemd-sysusers ${root:+--root="$root"} "$root/usr/lib/sysusers.d/callhook.conf"
elif [ -z "$root" ] && ! getent passwd callhook >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/callhook --shell /usr/sbin/nologin \
    --comment "callhook - PBX call events to webhooks" callhook
fi
group=callhook
[ -n "$root" ] && group="$(id -gn)"
install -d -m 0750 -o root -g "$group" "$etc" 2>/dev/null || install -d -m 0750 "$etc"
if [ ! -e "$etc/callhook.yaml" ]; then
  # a minimal live config: the local Asterisk, no receivers yet (the full example with every
  # option is /opt/callhook/config/callhook.example.yaml)
  install -m 0640 -o root -g "$group" "$src/config/callhook.minimal.yaml" "$etc/callhook.yaml" 2>/dev/null ||
    install -m 0640 "$src/config/callhook.minimal.yaml" "$etc/callhook.yaml"
  echo "    created $etc/callhook.yaml (minimal): set your PBX, trunks and webhooks"
else
  echo "    kept $etc/callhook.yaml"
fi
if [ ! -e "$etc/callhook.env" ]; then
  install -m 0640 "$src/config/callhook.env" "$etc/callhook.env"
  chown root:"$group" "$etc/callhook.env" 2>/dev/null || true
fi

# owners and modes of /etc/callhook and /var/lib/callhook, as tmpfiles.d declares them
if command -v systemd-tmpfiles >/dev/null; then
  systemd-tmpfiles ${root:+--root="$root"} --create "$root/usr/lib/tmpfiles.d/callhook.conf"
fi

say "systemd unit"
mkdir -p "$unitdir"
sed "s#^\(Exec[A-Za-z]*=\)/usr/bin/node #\1$node_bin #" "$src/systemd/callhook.service" >"$unitdir/callhook.service"
chmod 0644 "$unitdir/callhook.service"
[ "$node_bin" = /usr/bin/node ] || echo "    node is $node_bin: ExecStart= and ExecReload= point there"

if [ "$systemd" = 1 ] && ! { command -v systemctl >/dev/null && [ -d /run/systemd/system ]; }; then
  echo "    no systemd on this host: the unit is in place, not enabled (run callhook run --config $etc/callhook.yaml yourself)"
  systemd=0
fi
if [ "$systemd" = 1 ] && [ -z "$root" ]; then
  systemctl daemon-reload
  systemctl enable callhook.service
  if [ "$start" = 1 ]; then
    systemctl restart callhook.service
    systemctl --no-pager --lines=5 status callhook.service || true
  fi
fi

cat <<EOF

callhook is installed. Next:
  1. edit $etc/callhook.yaml (secrets: $etc/callhook.env or $etc/*.secret, root:callhook 0640)
  2. callhook check --config /etc/callhook/callhook.yaml
  3. systemctl start callhook            (later: systemctl reload callhook after each edit)
  4. journalctl -u callhook -f -o cat | callhook logs
  5. curl -s 127.0.0.1:9466/readyz
Guide: /opt/callhook/docs/operations.md
EOF

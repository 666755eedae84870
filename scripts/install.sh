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
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
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

# Everything is built in a staging copy: the checkout is only read (no root-owned
# node_modules/ or dist/ left in it), and npm ci runs once; the dev dependencies are then
# pruned, so the native module is compiled once.
say "building in a staging copy of $src"
stage="$(mktemp -d "${TMPDIR:-/tmp}/callhook-install.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage" # mktemp makes it 0700: the service user must read the code
(cd "$src" && tar --exclude=./node_modules --exclude=./dist --exclude=./.git -cf - .) | tar -C "$stage" -xf -
(cd "$stage" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund)
rm -rf "$stage/dist/test" "$stage/dist/bench" "$stage/src" "$stage/test" "$stage/bench" "$stage/tsconfig.json"

say "installing the code in $opt"
chmod 0755 "$stage/dist/src/cli.js"
mkdir -p "$(dirname "$opt")"
rm -rf "$opt.new"
cp -a "$stage" "$opt.new"
rm -rf "$opt.old"
[ -d "$opt" ] && mv "$opt" "$opt.old"
mv "$opt.new" "$opt"
rm -rf "$opt.old"
chown -R root:root "$opt" 2>/dev/null || true
chmod -R go-w "$opt"

mkdir -p "$bindir"
ln -sfn /opt/callhook/dist/src/cli.js "$bindir/callhook"

say "service user and configuration in $etc"
if [ -z "$root" ] && ! getent passwd callhook >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/callhook --shell /usr/sbin/nologin \
    --comment "callhook PBX webhooks" callhook
fi
group=callhook
[ -n "$root" ] && group="$(id -gn)"
install -d -m 0750 -o root -g "$group" "$etc" 2>/dev/null || install -d -m 0750 "$etc"
if [ ! -e "$etc/callhook.yaml" ]; then
  # a minimal live config: the local Asterisk, no receivers yet (the full example with every
  # option is /opt/callhook/config/callhook.example.yaml)
  cat >"$stage/callhook.yaml" <<'EOF'
# yaml-language-server: $schema=/opt/callhook/schema/callhook.schema.json
# callhook: the PBX to watch and where its call events go. Every option, with comments:
# /opt/callhook/config/callhook.example.yaml; the guide: /opt/callhook/docs/operations.md
pbx:
  - name: pbx1
    type: asterisk              # or freeswitch (then no username; port 8021)
    host: 127.0.0.1
    username: callhook          # the [callhook] user of /etc/asterisk/manager.conf
    secret: ${AMI_SECRET}       # set in /etc/callhook/callhook.env
    trunks: ["PJSIP/trunk*"]    # channel globs of your carrier legs
webhooks: []                    # add receivers here, e.g.
#  - name: crm
#    url: https://crm.example.com/hooks/callhook
#    events: ["*"]
#    signing_secret: ${CRM_SIGNING_SECRET}
EOF
  install -m 0640 -o root -g "$group" "$stage/callhook.yaml" "$etc/callhook.yaml" 2>/dev/null ||
    install -m 0640 "$stage/callhook.yaml" "$etc/callhook.yaml"
  echo "    created $etc/callhook.yaml (minimal): set your PBX, trunks and webhooks"
else
  echo "    kept $etc/callhook.yaml"
fi
if [ ! -e "$etc/callhook.env" ]; then
  cat >"$etc/callhook.env" <<'EOF'
# KEY=value lines, read by systemd (EnvironmentFile=) for ${KEY} references in callhook.yaml.
# root:callhook 0640. Example:
AMI_SECRET=
# CRM_SIGNING_SECRET=whsec_...
EOF
  chmod 0640 "$etc/callhook.env"
  chown root:"$group" "$etc/callhook.env" 2>/dev/null || true
fi

say "systemd unit"
mkdir -p "$unitdir"
sed "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" systemd/callhook.service >"$unitdir/callhook.service"
chmod 0644 "$unitdir/callhook.service"
[ "$node_bin" = /usr/bin/node ] || echo "    node is $node_bin: ExecStart= points there"

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
  4. journalctl -u callhook -f -o cat | npx pino-pretty
  5. curl -s 127.0.0.1:9466/readyz
Guide: /opt/callhook/docs/operations.md
EOF

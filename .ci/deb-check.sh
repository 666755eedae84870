#!/usr/bin/env bash
# CI: build the .deb (npm run deb), install it with dpkg -i on this machine, check what an
# operator checks (callhook --version, the user and directories, `callhook check` on the
# installed config, the installed daemon starting as its user and answering /healthz and the
# web view),
# then purge it and check nothing is left. Needs root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(node -p "require('./package.json').version")"
deb="dist/callhook_${version}_$(dpkg --print-architecture).deb"
fail() { echo "deb-check: $*" >&2; exit 1; }

dpkg -s callhook >/dev/null 2>&1 && dpkg --purge callhook >/dev/null
npm run deb
dpkg -i "$deb"

[ "$(callhook --version)" = "$version" ] || fail "callhook --version: $(callhook --version), want $version"
getent passwd callhook >/dev/null || fail "no callhook user after install"
[ "$(stat -c '%U:%G %a' /etc/callhook)" = "root:callhook 750" ] || fail "/etc/callhook is $(stat -c '%U:%G %a' /etc/callhook)"
[ "$(stat -c '%U:%G %a' /etc/callhook/callhook.yaml)" = "root:callhook 640" ] || fail "callhook.yaml is $(stat -c '%U:%G %a' /etc/callhook/callhook.yaml)"
[ "$(stat -c '%U' /var/lib/callhook)" = callhook ] || fail "/var/lib/callhook is not the service user's"
dpkg-query -W -f='${Conffiles}\n' callhook | grep -q '/etc/callhook/callhook.yaml' || fail "callhook.yaml is not a conffile"
[ -f /lib/systemd/system/callhook.service ] || fail "no unit"
# the shipped config is valid once the secret it names is set (and refused while it is not)
if AMI_SECRET= callhook check --config /etc/callhook/callhook.yaml >/dev/null 2>&1; then fail "check passed with AMI_SECRET unset"; fi
AMI_SECRET=ci-secret runuser -u callhook -- env AMI_SECRET=ci-secret callhook check --config /etc/callhook/callhook.yaml

# the installed daemon runs as its user with the installed config (no PBX here: it retries)
log="$(mktemp)"
runuser -u callhook -- env AMI_SECRET=ci-secret /usr/bin/node /opt/callhook/dist/src/cli.js run --config /etc/callhook/callhook.yaml >"$log" 2>&1 &
pid=$!
ok=
for _ in $(seq 1 100); do
  # /healthz answers, and the web view renders from the installed store
  if node -e "Promise.all([fetch('http://127.0.0.1:9466/healthz'), fetch('http://127.0.0.1:9466/view')]).then(async ([h, v]) => process.exit(h.status === 200 && v.status === 200 && (await v.text()).includes('<h1>Calls</h1>') ? 0 : 1), () => process.exit(1))"; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
kill "$pid" 2>/dev/null || true
wait "$pid" || true
[ -n "$ok" ] || { cat "$log" >&2; fail "the installed daemon did not answer /healthz and /view"; }
rm -f "$log"

dpkg --purge callhook
for p in /opt/callhook /usr/bin/callhook /etc/callhook /var/lib/callhook /lib/systemd/system/callhook.service; do
  [ ! -e "$p" ] || fail "$p is left after purge"
done
echo "deb-check: $deb installs, checks, runs and purges: ok"

/**
 * `npm pack` ships what an install needs and nothing else: the built daemon (built by
 * prepack, so a clean clone packs it too), its config example, unit, schema and docs; no
 * tests, benchmarks or fixtures.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

it('npm pack: dist/src with the CLI, no tests, benchmarks or fixtures', () => {
  // prepack builds dist/ on a clean clone; here `npm test` has built it already, and a rebuild
  // would rewrite dist/ under the other test files' daemons
  expect(JSON.parse(readFileSync('package.json', 'utf8')).scripts.prepack).toBe('npm run build');
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8', timeout: 110_000 });
  expect(r.status, r.stderr).toBe(0);
  const files = (JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
  for (const f of ['dist/src/cli.js', 'dist/src/daemon.js', 'systemd/callhook.service', 'config/callhook.example.yaml', 'docs/events.md', 'README.md', 'package.json']) {
    expect(files, f).toContain(f);
  }
  expect(files.filter((f) => /^(dist\/(test|bench)|test|bench)\//.test(f))).toEqual([]);
});

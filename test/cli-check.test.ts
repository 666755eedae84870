/**
 * `callhook check` as an operator runs it: exit 0 with a summary for a good file, exit 78
 * (EX_CONFIG) with one FILE:LINE:COL: message per problem for a bad one.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { writeConfig } from './helpers/config.js';

const check = (file: string, env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['dist/src/cli.js', 'check', '--config', file], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });

describe('callhook check', () => {
  it('accepts a valid file', () => {
    const file = writeConfig(`pbx:\n  - name: pbx1\n    type: asterisk\n    username: callhook\n    secret: x\nwebhooks:\n  - name: crm\n    url: http://127.0.0.1:8080/hook\n    events: ["*"]\n`);
    const r = check(file);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('OK (1 pbx, 1 webhooks)');
  });

  it('names every problem as FILE:LINE:COL and exits 78', () => {
    const file = writeConfig(
      [
        'pbx:',
        '  - name: pbx1',
        '    type: asterisk',
        '    username: callhook',
        '    secret: ${AMI_SECRET}', // line 5: missing env
        '    port: "five"', // line 6: wrong type
        'webhooks:',
        '  - name: crm',
        '    url: https://crm.example.com/hooks',
        '    events: [call.ringin]', // line 10: unknown event
        '    timout: 5s', // line 11: unknown key
        '',
      ].join('\n'),
    );
    const r = check(file);
    expect(r.status).toBe(78);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const l of lines) expect(l).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    expect(r.stderr).toMatch(/:5:\d+: .*AMI_SECRET/);
    expect(r.stderr).toMatch(/:6:\d+: .*port/);
    expect(r.stderr).toMatch(/:10:\d+: .*call\.ringin/);
    expect(r.stderr).toMatch(/:11:\d+: .*timout.*unknown key/);
  });

  it('rejects a template with an unknown field, and one that does not fill in to valid JSON', () => {
    const base = 'pbx:\n  - {name: p, type: asterisk, username: u, secret: s}\nwebhooks:\n  - name: t\n    url: http://127.0.0.1:9/x\n    events: ["*"]\n    format: template\n';
    const unknown = check(writeConfig(`${base}    template: '{"agent": "{{agnet}}"}'\n`));
    expect(unknown.status).toBe(78);
    expect(unknown.stderr).toMatch(/:8:\d+: webhooks\[0\]\.template: .*agnet/);
    const broken = check(writeConfig(`${base}    template: '{"a": {{src}}, "b": "{{dst}}"'\n`));
    expect(broken.status).toBe(78);
    expect(broken.stderr).toMatch(/:8:\d+: webhooks\[0\]\.template: template is not valid JSON/);
  });

  it('reports bad YAML syntax with its position', () => {
    const file = writeConfig('pbx:\n  - name: pbx1\n    type: [asterisk\nwebhooks: []\n');
    const r = check(file);
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/callhook\.yaml:\d+:\d+: /);
  });

  it('run refuses a bad config with the same messages and exit 78 (so systemd does not restart it)', () => {
    const file = writeConfig('pbx: []\nwebhooks:\n  - name: x\n    url: ftp://nope\n    events: ["*"]\n');
    const r = spawnSync(process.execPath, ['dist/src/cli.js', 'run', '--config', file], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/callhook\.yaml:4:\d+: .*url/);
  });
});

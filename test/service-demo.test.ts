/**
 * `callhook demo` as a newcomer runs it: the built CLI in a child process, to completion.
 * It must print the PBX connection, each call, every webhook with its HTTP status, a summary
 * that adds up, and where to go next.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');

beforeAll(() => {
  if (!existsSync(CLI)) spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'ignore' });
}, 120_000);

describe('callhook demo', () => {
  it('replays the bundled calls through the real pipeline and prints a summary', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--speed', '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(err).toBe('');
    expect(code).toBe(0);

    expect(out).toMatch(/^connected to PBX demo-asterisk \(Asterisk AMI 127\.0\.0\.1:\d+/m);
    // the FreeSWITCH PBX joins the running daemon through a config reload
    expect(out).toMatch(/^config edited \(\+ pbx demo-freeswitch\) and reloaded: ok$/m);
    expect(out).toMatch(/^connected to PBX demo-freeswitch \(FreeSWITCH ESL 127\.0\.0\.1:\d+/m);
    const calls = out.match(/^call \d+\/\d+ {2}.+$/gm) ?? [];
    expect(calls.length).toBe(12);
    expect(calls.filter((c) => c.includes('(demo-freeswitch:')).length).toBe(6);
    const webhooks = out.match(/^ {2}(call|agent)\.\S+\s+\S+\s+→ \d{3} in +\d+ ms {2}\S*$/gm) ?? [];
    expect(out).toMatch(/^ {2}call\.connected +LOCAL_USER +→ 200 in +\d+ ms {2}agent1$/m);
    expect(out).toMatch(/^ {2}call\.missed +QUEUE +→ 200 in +\d+ ms {2}support$/m);
    // the columns line up, long numbers included: every arrow at the same place
    expect(new Set(webhooks.map((l) => l.indexOf('→'))).size).toBe(1);
    expect(webhooks.some((l) => /\d{10,}$/.test(l))).toBe(true);

    const summary = /^summary: (\d+) calls, (\d+) events, (\d+) webhooks delivered, (\d+) failed attempts, (\d+) pending; the receiver got (\d+) requests \((\d+) bad signatures\)/m.exec(out);
    expect(summary).not.toBeNull();
    const [, nCalls, nEvents, delivered, failed, pending, received, bad] = summary!.map(Number);
    expect(nCalls).toBe(12);
    expect(delivered).toBe(webhooks.length);
    expect(delivered).toBe(nEvents);
    expect(received).toBe(delivered);
    expect([failed, pending, bad]).toEqual([0, 0, 0]);
    // one body in full, valid JSON, and the legend of contexts
    const body = /^one webhook body in full \((\S+), (\S+), call_id (\S+)\); every field: docs\/events\.md\n((?: {2}.*\n)+)/m.exec(out);
    expect(body).not.toBeNull();
    const ev = JSON.parse(body![4]) as Record<string, unknown>;
    expect([ev.event_name, ev.context, ev.call_id]).toEqual([body![1], body![2], body![3]]);
    expect(Object.keys(ev)).toEqual(expect.arrayContaining(['id', 'sequence', 'state', 'queue', 'pbx', 'signal']));
    for (const c of ['LOCAL_USER', 'QUEUE', 'CALL']) expect(out).toMatch(new RegExp(`^ {2}${c} +\\S`, 'm'));
    expect(out).toContain('config/callhook.example.yaml');
    expect(out).toContain('docs/operations.md');
  }, 60_000);
});

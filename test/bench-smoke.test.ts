/**
 * CI smoke run of the benchmarks (`node dist/bench/run.js --smoke`): proves all eight still
 * run end to end on loopback and report a result. No timing is asserted (the machine is
 * shared and noisy); only that each benchmark produced its numbers and that every webhook
 * the daemon owed arrived (the e2e run fails otherwise) and no finished call was kept.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const RUN = join(ROOT, 'dist/bench/run.js');

/** dist/bench is built by `npm test` (npm run build); build it here when missing or older than bench/. */
function ensureBuilt(): void {
  const newest = Math.max(...readdirSync(join(ROOT, 'bench')).map((f) => statSync(join(ROOT, 'bench', f)).mtimeMs));
  if (existsSync(RUN) && statSync(RUN).mtimeMs >= newest) return;
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'pipe' });
  } catch {
    // tsc emits even when some file has type errors; the run below shows whether it works
  }
}

describe('npm run bench -- --smoke', () => {
  it('prints all eight results and writes them as JSON', async () => {
    ensureBuilt();
    const json = join(tmpdir(), `callhook-bench-smoke-${process.pid}.json`);
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [RUN, '--smoke', '--json', json], { timeout: 110_000, cwd: ROOT }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(stderr).not.toContain('bench failed');
    expect(code).toBe(0);
    for (const row of ['1. AMI', '2. ESL', '3. end to end, 1 webhook', '3. end to end, 3 webhooks', '4. latency', '4b. latency', '5a. memory', '5b. RSS', '5c. heap per open call', '6. sustained', '7. kill window', '8. RabbitMQ publish']) expect(stdout).toContain(row);

    const out = JSON.parse(readFileSync(json, 'utf8'));
    rmSync(json, { force: true });
    expect(out.rows).toHaveLength(12);
    expect(out.results.memory.readSizes.map((r: { readSize: number }) => r.readSize)).toEqual([512, 4096, 65_536]);
    expect(out.results.ami.oursPerSec).toBeGreaterThan(0);
    expect(out.results.ami.peerPerSec).toBeGreaterThan(0);
    expect(out.results.ami.callEvents).toBeGreaterThan(0);
    if (out.results.esl !== null) {
      expect(out.results.esl.oursPerSec).toBeGreaterThan(0);
      expect(out.results.esl.callEvents).toBeGreaterThan(0);
    }
    expect(out.results.e2e.throughput.webhooks).toBeGreaterThan(0);
    expect(out.results.e2e.throughput.limitPerSec).toBeGreaterThan(0);
    expect(out.results.e2e.latency.webhooks).toBeGreaterThan(0);
    expect(Number.isFinite(out.results.e2e.latency.p99)).toBe(true);
    expect(out.results.e2e.eventLatency.webhooks).toBeGreaterThan(0);
    expect(Number.isFinite(out.results.e2e.eventLatency.afterFirstSecond.p99)).toBe(true);
    // the HTTP floor at the same pace, measured in the same run
    expect(out.results.e2e.latency.limit.p99).toBeGreaterThan(0);
    expect(out.results.e2e.eventLatency.limit.p99).toBeGreaterThan(0);
    expect(out.results.e2e.throughput3.webhooks).toBe(3 * out.results.e2e.throughput.webhooks);
    expect(out.results.e2e.sustained.deliveries).toBeGreaterThan(0);
    expect(out.results.e2e.sustained.rss.settled).toBeGreaterThan(0);
    // the kill window has no tolerance: an event counted and not stored is a bug at any size
    expect(out.results.kill.kills).toBe(2);
    expect(out.results.kill.totalLost).toBe(0);
    expect(out.results.memory.rssOpenMb).toBeGreaterThan(0);
    expect(out.results.memory.leftOpen).toBe(0);
  }, 180_000);
});

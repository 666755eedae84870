/**
 * Test helper: the real daemon as a child process (`node dist/src/cli.js run`), with its
 * JSON log lines collected, and a way to wait for what a user would watch for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface DaemonProcess {
  proc: ChildProcess;
  /** parsed JSON log lines (stdout) */
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  /** resolves with the exit code (or the signal name) */
  exited: Promise<number | string>;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export const CLI = 'dist/src/cli.js';

export function spawnDaemon(configPath: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): DaemonProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run "npm run build" first (npm test does)`);
  const proc = spawn(process.execPath, [CLI, 'run', '--config', configPath, ...extraArgs], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const l = JSON.parse(line) as Record<string, unknown>;
        logs.push(l);
        for (const w of [...waiters]) if (w.pred(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      } catch {
        stderr.push(line);
      }
    }
  });
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString('utf8')));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return {
    proc,
    logs,
    stderr,
    exited,
    waitForLog(pred, timeoutMs = 10_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr.join('').slice(-2000)}`));
          }
        }, timeoutMs).unref();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Poll until `pred()` is true (or throw after timeoutMs). */
export async function until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * systemd's readiness protocol (`Type=notify`): READY=1 once the config is loaded and the
 * store is open, STATUS= with each PBX's connection state (what `systemctl status` shows),
 * RELOADING=1 … READY=1 around a reload, STOPPING=1 at shutdown.
 *
 * Sent with systemd's own `systemd-notify` (Node cannot send on a unix datagram socket, and a
 * compiled add-on would have to be built on the user's machine). It waits until the manager
 * has read the message (sd_notify_barrier, systemd ≥ 246), so the unit's `NotifyAccess=all`
 * can attribute it. Messages go out one at a time, in order. Without NOTIFY_SOCKET (not
 * started by systemd) nothing is sent.
 */
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

const NOTIFY_TIMEOUT_MS = 10_000;

export class SystemdNotifier {
  private chain: Promise<void> = Promise.resolve();
  private lastStatus: string | null = null;
  private warned = false;

  constructor(
    private readonly logger: Logger,
    private readonly socket: string | undefined = process.env.NOTIFY_SOCKET,
    private readonly command = 'systemd-notify',
  ) {}

  get enabled(): boolean {
    return Boolean(this.socket);
  }

  ready(status: string): void {
    this.lastStatus = status;
    this.send([`READY=1`, `STATUS=${status}`]);
  }

  /** sent only when it changed */
  status(status: string): void {
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    this.send([`STATUS=${status}`]);
  }

  reloading(): void {
    this.send(['RELOADING=1', 'STATUS=reloading the configuration']);
    this.lastStatus = null;
  }

  stopping(): void {
    this.send(['STOPPING=1', 'STATUS=stopping: finishing in-flight webhooks']);
  }

  /** resolves when every message so far has been handed to the manager (or failed) */
  flushed(): Promise<void> {
    return this.chain;
  }

  private send(fields: string[]): void {
    if (!this.socket) return;
    this.chain = this.chain.then(
      () =>
        new Promise<void>((resolve) => {
          execFile(this.command, fields, { timeout: NOTIFY_TIMEOUT_MS, env: { ...process.env, NOTIFY_SOCKET: this.socket } }, (err, _out, stderr) => {
            if (err && !this.warned) {
              this.warned = true;
              const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
              this.logger.warn(
                { err: err.message, stderr: String(stderr).trim() || undefined, fields: fields.map((f) => f.split('=')[0]) },
                missing
                  ? `NOTIFY_SOCKET is set but ${this.command} is not installed: systemd cannot learn that callhook is ready (install the systemd package)`
                  : `${this.command} failed: systemd may not learn callhook's state`,
              );
            }
            resolve();
          });
        }),
    );
  }
}

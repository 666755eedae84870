/**
 * The daemon's own small HTTP server on `http.listen` (loopback by default), read-only:
 *
 *   GET /healthz      200 while the process is alive (JSON: version, uptime)
 *   GET /readyz       200 when every enabled PBX is connected and the store is writable,
 *                     503 otherwise; JSON details either way
 *   GET /metrics      Prometheus text (prom-client, the daemon's own registry)
 *   GET /calls        live calls: [{pbx, call_id, started_at, queue, legs: [...]}]
 *   GET /calls/:id    one of them, or 404
 *   GET /view         the web view (HTML): recent and live calls, and per call its legs'
 *                     states, timeline and deliveries with their attempts (web.ts)
 *   GET /             redirects to /view
 *
 * Anything else is 404 (405 for other methods). A failing handler answers 500 and logs;
 * it never takes the daemon down.
 *
 * With http.token set (required when listen is not a loopback address), /metrics, /calls and
 * /view answer 401 without `Authorization: Bearer <token>`, and /readyz gives only its status.
 */
import { timingSafeEqual } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { SinkState } from '../delivery/amqp-sender.js';
import { isLoopbackHost } from '../util/loopback.js';
import { renderCall, renderCallList, type CallView, type WebSource } from './web.js';

export interface PbxState {
  name: string;
  type: string;
  enabled: boolean;
  connected: boolean;
  reconnects: number;
}

export type { CallView } from './web.js';

/** What the server reads from the daemon on each request. */
export interface ObservedDaemon {
  version: string;
  startedAt: number;
  pbxStates(): PbxState[];
  storagePath(): string;
  /** throws when the store cannot be read */
  outboxPending(): number;
  metrics(): Promise<{ contentType: string; body: string }>;
  calls(): CallView[];
  /** the amqp sinks' broker connections (not ready while one is down) */
  sinks?(): SinkState[];
  /** what the web view shows (none: /view is 404) */
  web?: WebSource;
}

export interface Readiness {
  ready: boolean;
  pbx: PbxState[];
  store: { path: string; writable: boolean; pending: number | null; error: string | null };
  amqp?: SinkState[];
}

export interface ObserveServer {
  /** e.g. http://127.0.0.1:9466 */
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** "127.0.0.1:9466", "[::1]:9466", "localhost:0", ":9466" (every interface) -> host, port */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`http.listen: expected host:port, got "${listen}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`http.listen: port ${port} is out of range`);
  const host = m[1] ?? (m[2] || undefined);
  return { host, port };
}

export function readiness(d: ObservedDaemon): Readiness {
  const pbx = d.pbxStates();
  const path = d.storagePath();
  let writable = false;
  let pending: number | null = null;
  let error: string | null = null;
  try {
    accessSync(path, constants.W_OK);
    pending = d.outboxPending();
    writable = true;
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const sinks = d.sinks?.() ?? [];
  const ready = writable && pbx.filter((p) => p.enabled).every((p) => p.connected) && sinks.every((s) => s.connected);
  return { ready, pbx, store: { path, writable, pending, error }, ...(sinks.length ? { amqp: sinks } : {}) };
}

export async function startObserveServer(listen: string, daemon: ObservedDaemon, logger: Logger, token: string | null = null): Promise<ObserveServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer((req, res) => {
    handle(req, res, daemon, token).catch((err: unknown) => {
      logger.error({ err, path: req.url }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'http server error'));
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}`;
  logger.info({ url, listen }, `http server listening on ${url} (/healthz /readyz /metrics /calls, web view ${url}/view)`);
  if (!isLoopbackHost(host ?? '')) {
    logger.warn({ url, listen }, `http server on ${listen} is reachable from other hosts: /metrics and /calls need the bearer token (http.token)`);
  }
  return {
    url,
    host: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** whether the request carries the bearer token (always true without one configured) */
function authorized(req: IncomingMessage, token: string | null): boolean {
  if (token === null) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

async function handle(req: IncomingMessage, res: ServerResponse, d: ObservedDaemon, token: string | null): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/+$/, '') || '/';
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    sendJson(res, 405, { error: 'method not allowed: this server is read-only' });
    return;
  }
  const allowed = authorized(req, token);
  if (path === '/healthz') {
    sendJson(res, 200, { status: 'ok', version: d.version, uptime_s: Math.round((Date.now() - d.startedAt) / 1000) });
  } else if (path === '/readyz') {
    const r = readiness(d);
    sendJson(res, r.ready ? 200 : 503, allowed ? r : { ready: r.ready });
  } else if (!allowed && (path === '/metrics' || path === '/calls' || path.startsWith('/calls/') || path === '/' || path === '/view' || path.startsWith('/view/'))) {
    res.setHeader('www-authenticate', 'Bearer realm="callhook"');
    sendJson(res, 401, { error: 'this needs Authorization: Bearer <http.token>' });
  } else if (path === '/metrics') {
    const m = await d.metrics();
    res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : m.body);
  } else if (path === '/calls') {
    sendJson(res, 200, { calls: d.calls() });
  } else if (path.startsWith('/calls/')) {
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/calls/'.length));
    } catch {
      sendJson(res, 400, { error: 'bad call id' });
      return;
    }
    const call = d.calls().find((c) => c.call_id === id);
    if (call) sendJson(res, 200, call);
    else sendJson(res, 404, { error: `no live call ${id}` });
  } else if (d.web && path === '/') {
    res.writeHead(302, { location: '/view' }).end();
  } else if (d.web && path === '/view') {
    sendHtml(res, 200, renderCallList(d.web));
  } else if (d.web && path.startsWith('/view/call/')) {
    let key: string;
    try {
      key = decodeURIComponent(path.slice('/view/call/'.length));
    } catch {
      sendHtml(res, 400, '<!doctype html><title>bad call key</title><p>bad call key</p>');
      return;
    }
    const html = renderCall(d.web, key);
    sendHtml(res, html ? 200 : 404, html ?? `<!doctype html><title>no such call</title><p>No call ${escapeHtml(key)} in the store. <a href="/view">Calls</a></p>`);
  } else {
    sendJson(res, 404, { error: 'not found', paths: ['/healthz', '/readyz', '/metrics', '/calls', '/calls/:id', '/view', '/view/call/:key'] });
  }
}

const escapeHtml = (v: string) => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // nothing runs on these pages, and they are never framed
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
  });
  res.end(res.req.method === 'HEAD' ? undefined : html);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

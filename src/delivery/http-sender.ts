/**
 * One webhook attempt over HTTP: an undici Pool per origin (redirects are never followed:
 * a 3xx is an answer like any other), the Standard Webhooks headers signed per attempt, a
 * per-attempt timeout, and at most 64 KiB of the response read (its first bytes kept for
 * `callhook deliveries`). The timeout is undici's own (headers, then body). It decides nothing: the dispatcher does, from the outcome.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { WebhookConfig } from '../config/types.js';
import { RESPONSE_SNIPPET_BYTES, type DeliveryRow } from './outbox.js';
import { parseRetryAfter } from './retry.js';
import { signatureHeaders } from './signing.js';

/** response bytes read before the rest is discarded */
const MAX_RESPONSE_READ = 64 * 1024;

export class HttpSender {
  private readonly pools = new Map<string, Pool>();
  /** abortAll() was called: the requests it cut short are the shutdown's, not failures */
  private aborting = false;

  constructor(
    private readonly userAgent: string,
    private readonly now: () => number,
  ) {}

  async send(row: DeliveryRow, wh: WebhookConfig, url: URL): Promise<RequestOutcome> {
    const at = this.now();
    const body = row.method === 'GET' ? null : row.body;
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (body !== null) headers['content-type'] = row.content_type ?? 'application/json';
    for (const [k, v] of Object.entries(wh.headers)) headers[k.toLowerCase()] = v;
    Object.assign(headers, signatureHeaders(wh.signing_secret, row.event_id, Math.floor(at / 1000), body));

    const t0 = performance.now();
    try {
      const res = await this.pool(url.origin).request({
        path: url.pathname + url.search,
        method: row.method,
        headers,
        body: body ?? undefined,
        // the attempt's timeout, kept by undici itself: no timer object per request
        headersTimeout: wh.timeout_ms,
        bodyTimeout: wh.timeout_ms,
      });
      const chunks: Buffer[] = [];
      let kept = 0;
      let read = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (kept < RESPONSE_SNIPPET_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
        read += chunk.length;
        if (read > MAX_RESPONSE_READ) break; // discard the rest (closes the connection)
      }
      const snippet = Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8');
      return {
        at,
        ms: Math.round(performance.now() - t0),
        status: res.statusCode,
        retryAfter: parseRetryAfter(res.headers['retry-after'], this.now()),
        error: null,
        snippet: snippet.length > 0 ? snippet : null,
        aborted: null,
      };
    } catch (err) {
      const code = (err as { code?: string }).code;
      const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
      return {
        at,
        ms: Math.round(performance.now() - t0),
        status: null,
        retryAfter: null,
        error: timedOut ? `timeout after ${wh.timeout_ms} ms` : describeRequestError(err),
        snippet: null,
        aborted: this.aborting ? 'shutdown' : null,
      };
    }
  }


  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      // a Pool never follows redirects (undici 7 only does with the redirect interceptor)
      p = new Pool(origin, { pipelining: 1 });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** cuts every request in flight short (the end of a shutdown's grace) */
  async abortAll(): Promise<void> {
    this.aborting = true;
    await this.close();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}

export interface RequestOutcome {
  /** epoch ms the attempt started */
  at: number;
  ms: number;
  status: number | null;
  retryAfter: number | null;
  error: string | null;
  snippet: string | null;
  aborted: 'shutdown' | null;
}

function describeRequestError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e?.code && e.message && !e.message.includes(e.code)) return `${e.code}: ${e.message}`;
  return e?.message ?? String(err);
}


/**
 * One webhook attempt over HTTP: an undici Pool per origin (redirects are never followed:
 * a 3xx is an answer like any other), the Standard Webhooks headers signed per attempt, a
 * per-attempt timeout, and at most 64 KiB of the response read (its first bytes kept for
 * `callhook deliveries`). It decides nothing: the dispatcher does, from the outcome.
 */
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
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
    const answer = await this.dispatch(url, row.method, headers, body, wh.timeout_ms);
    const ms = Math.round(performance.now() - t0);
    if (answer.status !== null) {
      const snippet = Buffer.concat(answer.chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8');
      return { at, ms, status: answer.status, retryAfter: parseRetryAfter(answer.retryAfter, this.now()), error: null, snippet: snippet.length > 0 ? snippet : null, aborted: null };
    }
    const code = (answer.error as { code?: string }).code;
    const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
    return {
      at,
      ms,
      status: null,
      retryAfter: null,
      error: timedOut ? `timeout after ${wh.timeout_ms} ms` : describeRequestError(answer.error),
      snippet: null,
      aborted: this.aborting ? 'shutdown' : null,
    };
  }

  /**
   * One request through undici's dispatch verb with a handler of our own: the answer's
   * status, Retry-After and first bytes, without a body stream, an async iterator or an
   * async resource per request. The timeout is undici's own (headers, then body).
   */
  private dispatch(url: URL, method: 'GET' | 'POST', headers: Record<string, string>, body: string | null, timeoutMs: number): Promise<Answer> {
    return new Promise<Answer>((resolve) => {
      let status: number | null = null;
      let retryAfter: string | undefined;
      const chunks: Buffer[] = [];
      let kept = 0;
      let read = 0;
      let done = false;
      const finish = (a: Answer) => {
        if (!done) {
          done = true;
          resolve(a);
        }
      };
      const handler: Dispatcher.DispatchHandler = {
        // (undici tells this handler shape from its legacy one by this hook)
        onRequestStart() {},
        onResponseStart(_c, statusCode, resHeaders) {
          if (statusCode < 200) return; // 1xx: the answer is still to come
          status = statusCode;
          const ra = resHeaders['retry-after'];
          retryAfter = Array.isArray(ra) ? ra[0] : ra;
        },
        onResponseData(controller, chunk) {
          if (kept < RESPONSE_SNIPPET_BYTES) {
            chunks.push(chunk);
            kept += chunk.length;
          }
          read += chunk.length;
          // enough read: the answer is what we have, the rest is discarded (the connection closes)
          if (read > MAX_RESPONSE_READ) {
            finish({ status, retryAfter, chunks, error: null });
            controller.abort(new Error('response body past the read limit'));
          }
        },
        onResponseEnd() {
          finish({ status, retryAfter, chunks, error: null });
        },
        onResponseError(_c, error) {
          finish({ status: null, retryAfter: undefined, chunks: [], error });
        },
      };
      this.pool(url.origin).dispatch(
        { path: url.pathname + url.search, method, headers, body: body ?? undefined, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
        handler,
      );
    });
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

/** what came back: a status (and the first bytes), or the error that stopped the request */
interface Answer {
  status: number | null;
  retryAfter: string | undefined;
  chunks: Buffer[];
  error: unknown;
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


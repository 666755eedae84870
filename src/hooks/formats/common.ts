/**
 * What every payload format shares: the rendered result, the per-event render cache, the
 * POST-JSON / GET-query rendering of a format's payload object, and the small time and
 * endpoint helpers the vendor formats need.
 */
import type { CallEvent } from '../../calls/events.js';
import type { WebhookConfig } from '../../config/types.js';

/** One event rendered for one webhook: what goes on the wire. */
export interface RenderedPayload {
  /** request body (POST), or null for GET */
  body: string | null;
  /** full URL (for GET it carries the query string) */
  url: string;
  contentType: string | null;
}

/**
 * Serialized payloads of one event, shared by all webhooks that use the same format and
 * method (key: format name + method). The router makes one per routed event.
 */
export type RenderCache = Map<string, string>;

export const JSON_CONTENT_TYPE = 'application/json';

/** A format that turns the canonical event into a vendor-shaped object. */
export interface PayloadFormat {
  name: string;
  /** false: this format has no event for `ev`, nothing is sent */
  sends(ev: CallEvent): boolean;
  /** the payload object (for `sharedAcrossWebhooks` formats it must not depend on `webhook`) */
  payload(ev: CallEvent, webhook: WebhookConfig): unknown;
  /** true when the payload is the same for every webhook, so it is serialized once per event */
  sharedAcrossWebhooks: boolean;
}

/** POST: the payload as JSON; GET: the payload as query parameters on the URL (default: the webhook's). */
export function renderFormat(
  fmt: PayloadFormat,
  ev: CallEvent,
  webhook: WebhookConfig,
  cache?: RenderCache,
  url: string = webhook.url,
): RenderedPayload | null {
  if (!fmt.sends(ev)) return null;
  const get = webhook.method === 'GET';
  const key = cache && fmt.sharedAcrossWebhooks ? (get ? `${fmt.name}?` : fmt.name) : null;
  let text = key ? cache!.get(key) : undefined;
  if (text === undefined) {
    const p = fmt.payload(ev, webhook);
    text = get ? toQuery(p) : JSON.stringify(p);
    if (key) cache!.set(key, text);
  }
  return get
    ? { body: null, url: appendQuery(url, text), contentType: null }
    : { body: text, url, contentType: JSON_CONTENT_TYPE };
}

/**
 * Flattens a payload into a query string: nested objects and arrays get dotted keys
 * (`queue.name`, `legs.0.endpoint`), null becomes an empty value, keys and values are
 * percent-encoded (spaces as %20, `+` as %2B so phone numbers survive).
 */
export function toQuery(value: unknown): string {
  const parts: string[] = [];
  flatten(value, '', parts);
  return parts.join('&');
}

function flatten(value: unknown, prefix: string, out: string[]): void {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (const [k, v] of entries) {
      if (v === undefined) continue;
      flatten(v, prefix ? `${prefix}.${k}` : k, out);
    }
    return;
  }
  if (!prefix) return;
  out.push(`${encodeURIComponent(prefix)}=${value === null || value === undefined ? '' : encodeURIComponent(String(value))}`);
}

export function appendQuery(url: string, query: string): string {
  if (!query) return url;
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  const frag = hash === -1 ? '' : url.slice(hash);
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}${query}${frag}`;
}

const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/;

/** Canonical ISO time -> a normalized UTC ISO string (null when missing or unparsable). */
export function normalizedIso(iso: string | null | undefined): string | null {
  return normIso(iso);
}

function normIso(iso: string | null | undefined): string | null {
  if (!iso) return null;
  if (ISO_Z.test(iso)) return iso;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** "2026-11-21 10:15:02" (UTC), as PHP-style platforms write times. */
export function ymdHis(iso: string | null | undefined): string | null {
  const s = normIso(iso);
  return s && `${s.slice(0, 10)} ${s.slice(11, 19)}`;
}

/** "2026-11-21T10:15:02Z": ISO 8601 UTC to the second. */
export function isoSeconds(iso: string | null | undefined): string | null {
  const s = normIso(iso);
  return s && `${s.slice(0, 19)}Z`;
}

/** Epoch microseconds as a decimal string ("1795256102123000"), null when unknown. */
export function epochMicros(iso: string | null | undefined): string | null {
  const s = normIso(iso);
  if (!s) return null;
  const ms = Date.parse(s);
  // sub-millisecond digits, when the PBX gave them, are kept
  const frac = /\.(\d+)Z$/.exec(s)?.[1] ?? '';
  const micros = frac.length > 3 ? Number(frac.slice(3, 6).padEnd(3, '0')) : 0;
  return (BigInt(ms) * 1000n + BigInt(micros)).toString();
}

/**
 * The extension number of an endpoint: PJSIP/1001 -> "1001", sofia/internal/1001@10.0.0.1
 * -> "1001", SIP/agent1 -> "agent1". Null for no endpoint.
 */
export function endpointNumber(endpoint: string | null): string | null {
  if (!endpoint) return null;
  const last = endpoint.slice(endpoint.lastIndexOf('/') + 1);
  const at = last.indexOf('@');
  return (at === -1 ? last : last.slice(0, at)) || null;
}

/**
 * Which party of the call this leg's local endpoint is: the caller ("src") or the callee
 * ("dst"). Outbound legs are the caller's, inbound legs the callee's; for internal calls the
 * endpoint's own number is compared with the caller number.
 */
export function localSide(ev: CallEvent): 'src' | 'dst' | null {
  if (!ev.endpoint) return null;
  if (ev.direction === 'out') return 'src';
  if (ev.direction === 'in') return 'dst';
  const num = endpointNumber(ev.endpoint);
  if (num !== null && num === ev.src) return 'src';
  return 'dst';
}

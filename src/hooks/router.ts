/**
 * The router: decides which webhooks get an event (enabled, event name listed or "*",
 * filter matches) and renders one delivery per webhook. Everything that can be prepared
 * is prepared when the webhooks are set (event sets, filter predicates, glob matchers,
 * compiled templates); per event, webhooks sharing a format share one serialization.
 */
import type { CallEvent } from '../calls/events.js';
import type { WebhookConfig, WebhookFilter } from '../config/types.js';
import { globMatcher } from '../util/glob.js';
import type { RenderedDelivery } from '../delivery/types.js';
import { compileWebhook, type CompiledWebhook, type RenderCache } from './render.js';

type Predicate = (ev: CallEvent) => boolean;

interface Route {
  name: string;
  sink: 'http' | 'amqp';
  method: 'POST' | 'GET';
  /** null: every event ("*") */
  events: Set<string> | null;
  filter: Predicate[];
  compiled: CompiledWebhook;
}

export interface RouterOptions {
  /** called when rendering an event for a webhook throws (the other webhooks still get it) */
  onRenderError?: (err: unknown, webhook: string, ev: CallEvent) => void;
}

/** The ordering key of a delivery: one call (or one agent's state changes) on one PBX. */
export function callKeyOf(ev: CallEvent): string {
  return `${ev.pbx.name}:${ev.call_id ?? ev.agent?.member ?? 'agent'}`;
}

/**
 * Where an event goes on a broker: the routing key `<pbx>.<context>.<event_name>` (kept as
 * the delivery's url) and the message headers a consumer sorts and deduplicates by.
 */
export function amqpAddress(ev: CallEvent): { url: string; headers: string } {
  return {
    url: `${ev.pbx.name}.${ev.context}.${ev.event_name}`,
    headers: JSON.stringify({ call_id: ev.call_id, sequence: ev.sequence, pbx: ev.pbx.name }),
  };
}

/** The filter as predicates, all of which must hold; a key matches when any entry does. */
export function compileFilter(filter: WebhookFilter | null): Predicate[] {
  if (!filter) return [];
  const out: Predicate[] = [];
  if (filter.context?.length) {
    const s = new Set<string>(filter.context);
    out.push((ev) => s.has(ev.context));
  }
  if (filter.direction?.length) {
    const s = new Set<string>(filter.direction);
    out.push((ev) => ev.direction !== null && s.has(ev.direction));
  }
  if (filter.queue?.length) {
    const s = new Set(filter.queue);
    out.push((ev) => {
      const q = ev.queue?.name ?? ev.agent?.queue ?? null;
      return q !== null && s.has(q);
    });
  }
  if (filter.pbx?.length) {
    const s = new Set(filter.pbx);
    out.push((ev) => s.has(ev.pbx.name));
  }
  if (filter.src?.length) {
    const m = globMatcher(filter.src);
    out.push((ev) => ev.src !== null && m(ev.src));
  }
  if (filter.dst?.length) {
    const m = globMatcher(filter.dst);
    out.push((ev) => ev.dst !== null && m(ev.dst));
  }
  return out;
}

function compileRoutes(webhooks: WebhookConfig[]): Route[] {
  return webhooks
    .filter((w) => w.enabled)
    .map((w) => ({
      name: w.name,
      sink: w.sink,
      method: w.method,
      events: w.events.includes('*') ? null : new Set<string>(w.events),
      filter: compileFilter(w.filter),
      compiled: compileWebhook(w),
    }));
}

export class Router {
  private routes: Route[];
  private readonly onRenderError: RouterOptions['onRenderError'];
  /** renders that threw (also reported through onRenderError) */
  renderErrors = 0;

  /** Throws (naming the webhook) when a webhook's template or URL cannot be compiled. */
  constructor(webhooks: WebhookConfig[], opts: RouterOptions = {}) {
    this.routes = compileRoutes(webhooks);
    this.onRenderError = opts.onRenderError;
  }

  /** Applies a new set of webhooks; when one does not compile it throws and the old set stays. */
  update(webhooks: WebhookConfig[]): void {
    this.routes = compileRoutes(webhooks);
  }

  /** names of the webhooks that are routed to (enabled ones) */
  get webhookNames(): string[] {
    return this.routes.map((r) => r.name);
  }

  /**
   * One rendered delivery per webhook that wants `ev`, in configuration order. `cache` holds
   * what is already serialized for this event (the pipeline passes the canonical JSON).
   */
  route(ev: CallEvent, cache: RenderCache = new Map()): RenderedDelivery[] {
    const out: RenderedDelivery[] = [];
    let callKey: string | undefined;
    for (const r of this.routes) {
      if (r.events !== null && !r.events.has(ev.event_name)) continue;
      let pass = true;
      for (const p of r.filter) {
        if (!p(ev)) {
          pass = false;
          break;
        }
      }
      if (!pass) continue;
      let rendered;
      try {
        rendered = r.compiled.render(ev, cache);
      } catch (err) {
        this.renderErrors++;
        this.onRenderError?.(err, r.name, ev);
        continue;
      }
      if (!rendered) continue;
      callKey ??= callKeyOf(ev);
      out.push({
        eventId: ev.id,
        webhook: r.name,
        callKey,
        eventName: ev.event_name,
        method: r.method,
        ...(r.sink === 'amqp' ? amqpAddress(ev) : { url: rendered.url }),
        body: rendered.body,
        contentType: rendered.contentType,
      });
    }
    return out;
  }
}

/**
 * `format: template`: bodies and URLs written by the operator, with `{{field}}` and
 * Engage-Voice-style `#field#` tags for any canonical field (`{{src}}`, `{{queue.name}}`,
 * `#endpoint#`). The tag syntax and the list of known fields live in config/schema.ts, so
 * `callhook check` and the renderer agree on them.
 *
 * Values are escaped for where they land:
 * - JSON bodies (a template starting with `{` or `[`): inside a JSON string (`"{{src}}"`) a
 *   value is JSON-string-escaped without quotes (null -> empty); bare (`{{duration}}`) it is
 *   the JSON literal (number, true, null, "string", or an object for `{{queue}}`). The
 *   filled-in body must be valid JSON; compiling checks that on a sample event.
 * - URLs and GET query templates: percent-encoded (null -> empty).
 * - other bodies (plain text): the raw value (null -> empty), sent as text/plain.
 *
 * Why not mustache/handlebars: neither knows where a tag sits (inside a JSON string or bare),
 * both escape for HTML, mustache's escape hook is global to the library, handlebars compiles
 * templates to JavaScript functions, and neither has `#field#` tags. What is needed here is a
 * tokenizer (the shared TEMPLATE_TAG regex), a JSON-string-state scan and a lookup: a few
 * dozen lines. Safe by construction: fields must be in TEMPLATE_FIELDS (so `{{constructor}}`
 * or `{{__proto__}}` are unknown), values are read with own-property lookups only, nothing
 * is evaluated, and each template is compiled once per webhook.
 */
import type { CallEvent } from '../../calls/events.js';
import type { WebhookConfig } from '../../config/types.js';
import { TEMPLATE_FIELDS, TEMPLATE_TAG } from '../../config/schema.js';
import { sampleEvent } from '../sample.js';
import { appendQuery, JSON_CONTENT_TYPE, toQuery, type RenderedPayload } from './common.js';

const KNOWN = new Set(TEMPLATE_FIELDS);

/** how a value is written where its tag stands */
type Slot = 'json-string' | 'json-value' | 'text' | 'url';

interface Tag {
  path: string[];
  slot: Slot;
}

export type TemplateKind = 'json' | 'text' | 'url';

export interface CompiledTemplate {
  kind: TemplateKind;
  /** the fields the template uses, in order of first appearance */
  fields: string[];
  /** true when the template has no tags (render always returns the source) */
  constant: boolean;
  render(ev: CallEvent): string;
}

export class TemplateError extends Error {}

/** A body template starting with `{` or `[` is JSON; anything else is plain text. */
export function bodyKind(template: string): 'json' | 'text' {
  const c = template.trimStart()[0];
  return c === '{' || c === '[' ? 'json' : 'text';
}

/**
 * Compiles a template once. Throws TemplateError naming unknown fields. (JSON validity of the
 * filled-in result is checked by `compileBodyTemplate`, which has a sample event at hand.)
 */
export function compileTemplate(source: string, kind: TemplateKind): CompiledTemplate {
  const parts: Array<string | Tag> = [];
  const fields: string[] = [];
  const unknown: string[] = [];
  let last = 0;
  // JSON string state, carried across literal parts
  let inString = false;
  let escaped = false;
  const scan = (lit: string) => {
    if (kind !== 'json') return;
    for (let i = 0; i < lit.length; i++) {
      const ch = lit[i];
      if (escaped) escaped = false;
      else if (inString && ch === '\\') escaped = true;
      else if (ch === '"') inString = !inString;
    }
  };
  for (const m of source.matchAll(TEMPLATE_TAG)) {
    const field = (m[1] ?? m[2]).trim();
    const lit = source.slice(last, m.index);
    scan(lit);
    if (lit) parts.push(lit);
    last = m.index + m[0].length;
    if (!KNOWN.has(field)) {
      if (!unknown.includes(field)) unknown.push(field);
      continue;
    }
    if (!fields.includes(field)) fields.push(field);
    const slot: Slot = kind === 'url' ? 'url' : kind === 'text' ? 'text' : inString ? 'json-string' : 'json-value';
    parts.push({ path: field.split('.'), slot });
  }
  if (unknown.length > 0) {
    throw new TemplateError(
      `unknown template field${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => `"${f}"`).join(', ')}`,
    );
  }
  const tail = source.slice(last);
  if (tail) parts.push(tail);
  const constant = parts.every((p) => typeof p === 'string');
  return {
    kind,
    fields,
    constant,
    render: constant
      ? () => source
      : (ev) => {
          let out = '';
          for (const p of parts) out += typeof p === 'string' ? p : write(lookup(ev, p.path), p.slot);
          return out;
        },
  };
}

/** Own-property walk over plain data; anything missing is null. */
export function lookup(ev: CallEvent, path: string[]): unknown {
  let cur: unknown = ev;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return null;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur === undefined ? null : cur;
}

function asText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function write(v: unknown, slot: Slot): string {
  switch (slot) {
    case 'json-value':
      return v === null || v === undefined ? 'null' : JSON.stringify(v);
    case 'json-string': {
      if (v === null || v === undefined) return '';
      const s = JSON.stringify(typeof v === 'string' ? v : asText(v));
      return s.slice(1, -1);
    }
    case 'url':
      return encodeURIComponent(asText(v));
    case 'text':
      return asText(v);
  }
}

/**
 * A webhook's compiled body template: JSON or text as `bodyKind` says, or, for GET
 * webhooks whose template is not JSON, a query-string template (values percent-encoded).
 * JSON templates are rendered on `sample` and must parse.
 */
export function compileBodyTemplate(source: string, method: 'POST' | 'GET', sample: CallEvent): CompiledTemplate {
  const kind = bodyKind(source);
  const t = compileTemplate(source, kind === 'text' && method === 'GET' ? 'url' : kind);
  if (kind === 'json') {
    const filled = t.render(sample);
    try {
      JSON.parse(filled);
    } catch (err) {
      throw new TemplateError(`template is not valid JSON once filled in (${(err as Error).message}): ${filled.slice(0, 200)}`);
    }
  }
  return t;
}

/**
 * Renders one event with a compiled body template and URL template.
 * POST: the filled-in body (application/json or text/plain). GET: a JSON template's result
 * flattened into query parameters (like the other formats), a text template's result
 * appended as the query string; no body.
 */
export function renderTemplate(body: CompiledTemplate, url: CompiledTemplate, ev: CallEvent, method: 'POST' | 'GET'): RenderedPayload {
  const u = url.render(ev);
  const text = body.render(ev);
  if (method === 'GET') {
    return { body: null, url: appendQuery(u, body.kind === 'json' ? toQuery(JSON.parse(text)) : text), contentType: null };
  }
  return { body: text, url: u, contentType: body.kind === 'json' ? JSON_CONTENT_TYPE : 'text/plain; charset=utf-8' };
}

const compiled = new WeakMap<WebhookConfig, { body: CompiledTemplate; url: CompiledTemplate }>();

/** Compiles a `format: template` webhook's body and URL templates (throws TemplateError). */
export function compileWebhookTemplates(webhook: WebhookConfig): { body: CompiledTemplate; url: CompiledTemplate } {
  let c = compiled.get(webhook);
  if (!c) {
    if (webhook.template === null) throw new TemplateError('format: template needs a template');
    c = {
      body: compileBodyTemplate(webhook.template, webhook.method, sampleEvent('call.connected')),
      url: compileTemplate(webhook.url, 'url'),
    };
    compiled.set(webhook, c);
  }
  return c;
}

/** One-shot render for a `format: template` webhook (compiled once per webhook object). */
export function render(ev: CallEvent, webhook: WebhookConfig): RenderedPayload {
  const c = compileWebhookTemplates(webhook);
  return renderTemplate(c.body, c.url, ev, webhook.method);
}

/**
 * The one template engine: webhook bodies (`format: template`), webhook URLs and
 * `calls.recording_url` are all written with `{{field}}` or Engage-Voice-style `#field#`
 * tags for any canonical field (`{{src}}`, `{{queue.name}}`, `#endpoint#`). A template is
 * compiled once (unknown fields, unclosed `{{` and, for JSON bodies, invalid JSON once
 * filled in are errors that `callhook check` reports), then rendered the same way wherever
 * it is used.
 *
 * Values are escaped for where they land:
 * - JSON bodies (a template starting with `{` or `[`): inside a JSON string (`"{{src}}"`) a
 *   value is JSON-string-escaped without quotes (null -> empty); bare (`{{duration}}`) it is
 *   the JSON literal (number, true, null, "string", or an object for `{{queue}}`).
 * - URLs and GET query templates: percent-encoded (null -> empty).
 * - other bodies (plain text): the raw value (null -> empty), sent as text/plain.
 *
 * Why not mustache/handlebars: neither knows where a tag sits (inside a JSON string or bare),
 * both escape for HTML, mustache's escape hook is global to the library, handlebars compiles
 * templates to JavaScript functions, and neither has `#field#` tags. What is needed here is a
 * tokenizer, a JSON-string-state scan and a lookup: a few dozen lines. Safe by construction:
 * fields must be in TEMPLATE_FIELDS (so `{{constructor}}` or `{{__proto__}}` are unknown),
 * values are read with own-property lookups only, and nothing is evaluated.
 */
import type { AgentInfo, CallEvent, DtmfInfo, QueueInfo, Reporting } from '../calls/events.js';
import { closest } from '../util/closest.js';
import { appendQuery, JSON_CONTENT_TYPE, toQuery, type RenderedPayload } from './formats/common.js';

// ---- the fields a template may use ---------------------------------------------------------

type AllOf<T, L extends readonly unknown[]> = [Exclude<T, L[number]>] extends [never] ? true : never;

const EVENT_KEYS = [
  'id', 'event_name', 'event_time', 'sequence', 'call_id', 'leg_id', 'context', 'state',
  'previous_state', 'direction', 'src', 'src_name', 'dst', 'dst_name', 'endpoint', 'queue',
  'start_time', 'ringing_at', 'connected_at', 'ended_at', 'duration', 'ring_duration',
  'talk_duration', 'hangup_cause', 'hangup_cause_code', 'sip_status', 'dtmf', 'hold', 'digits',
  'recording_url', 'pbx', 'signal', 'reporting', 'agent', 'ivr', 'transfer', 'wrapup',
] as const satisfies readonly (keyof CallEvent)[];
const QUEUE_KEYS = ['name', 'position', 'wait_seconds', 'disposition'] as const satisfies readonly (keyof QueueInfo)[];
const DTMF_KEYS = ['digit', 'pressed_by', 'duration_ms'] as const satisfies readonly (keyof DtmfInfo)[];
const AGENT_KEYS = ['member', 'name', 'queue', 'reason'] as const satisfies readonly (keyof AgentInfo)[];
const REPORTING_KEYS = [
  'type', 'created_at', 'start_at', 'answer_at', 'end_at', 'duration', 'ring_duration',
  'billing_duration', 'cause', 'answered_by', 'legs', 'segments', 'did', 'ivr',
] as const satisfies readonly (keyof Reporting)[];
// Compile-time guards: adding a field to CallEvent (or its parts) without listing it here fails tsc.
const fieldListsComplete: [
  AllOf<keyof CallEvent, typeof EVENT_KEYS>, AllOf<keyof QueueInfo, typeof QUEUE_KEYS>,
  AllOf<keyof DtmfInfo, typeof DTMF_KEYS>, AllOf<keyof AgentInfo, typeof AGENT_KEYS>,
  AllOf<keyof Reporting, typeof REPORTING_KEYS>,
] = [true, true, true, true, true];
void fieldListsComplete;

/** Every field name a template may use: CallEvent keys and dotted paths. */
export const TEMPLATE_FIELDS: readonly string[] = [
  ...EVENT_KEYS,
  ...QUEUE_KEYS.map((k) => `queue.${k}`),
  ...DTMF_KEYS.map((k) => `dtmf.${k}`),
  'hold.by',
  'pbx.name', 'pbx.type',
  'signal.source', 'signal.event', 'signal.reconciled',
  ...AGENT_KEYS.map((k) => `agent.${k}`),
  'ivr.name', 'ivr.digits',
  'transfer.kind', 'transfer.by_leg', 'transfer.by_endpoint', 'transfer.transferee_leg', 'transfer.to',
  'wrapup.state', 'wrapup.seconds', 'wrapup.call_id',
  ...REPORTING_KEYS.map((k) => `reporting.${k}`),
];

/**
 * `calls.recording_url` may also use `{{recording_file}}`: the file name (no directory) of the
 * recording the PBX reported, and `{{recording_path}}`: the path as the PBX reported it.
 */
export const RECORDING_FIELDS: readonly string[] = [...TEMPLATE_FIELDS, 'recording_file', 'recording_path'];

/**
 * A template tag: `{{ field }}` (anything up to `}}`, trimmed) or an Engage-Voice-style
 * `#field#` (letters, digits, `_` and `.` only, so a lone `#` stays literal).
 * Group 1 holds a `{{…}}` field, group 2 a `#…#` field.
 */
const TEMPLATE_TAG = /\{\{([^{}]*)\}\}|#([A-Za-z_][A-Za-z0-9_.]*)#/g;

// ---- compiling -----------------------------------------------------------------------------
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
  render(ev: CallEvent | Record<string, unknown>): string;
}

export class TemplateError extends Error {}

/** A body template starting with `{` or `[` is JSON; anything else is plain text. */
export function bodyKind(template: string): 'json' | 'text' {
  const c = template.trimStart()[0];
  return c === '{' || c === '[' ? 'json' : 'text';
}

export interface CompileOptions {
  /** the field names allowed (default TEMPLATE_FIELDS) */
  fields?: readonly string[];
}

/**
 * Compiles a template once. Throws TemplateError naming unknown fields (with a did-you-mean)
 * and unclosed or stray `{{` / `}}`. (JSON validity of the filled-in result is checked by
 * `compileBodyTemplate`, which has a sample event at hand.)
 */
export function compileTemplate(source: string, kind: TemplateKind, opts: CompileOptions = {}): CompiledTemplate {
  const known = opts.fields ? new Set(opts.fields) : KNOWN;
  const parts: Array<string | Tag> = [];
  const fields: string[] = [];
  const unknown: string[] = [];
  const stray: string[] = [];
  let last = 0;
  // JSON string state, carried across literal parts
  let inString = false;
  let escaped = false;
  const literal = (lit: string) => {
    const brace = /\{\{|\}\}/.exec(lit);
    if (brace) stray.push(`${brace[0] === '{{' ? 'unclosed "{{"' : 'stray "}}"'} near "${excerpt(lit, brace.index)}"`);
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
    literal(lit);
    if (lit) parts.push(lit);
    last = m.index + m[0].length;
    if (!known.has(field)) {
      if (!unknown.includes(field)) unknown.push(field);
      continue;
    }
    if (!fields.includes(field)) fields.push(field);
    const slot: Slot = kind === 'url' ? 'url' : kind === 'text' ? 'text' : inString ? 'json-string' : 'json-value';
    parts.push({ path: field.split('.'), slot });
  }
  const tail = source.slice(last);
  literal(tail);
  const problems: string[] = [];
  if (unknown.length > 0) {
    const list = unknown.map((f) => {
      const hint = closest(f, [...known]);
      return `"${f}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
    });
    problems.push(`unknown field${unknown.length > 1 ? 's' : ''} ${list.join(', ')}`);
  }
  problems.push(...stray);
  if (problems.length > 0) throw new TemplateError(problems.join('; '));
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

function excerpt(text: string, at: number): string {
  return text.slice(at, at + 24);
}

/** Own-property walk over plain data; anything missing is null. */
export function lookup(ev: object, path: string[]): unknown {
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

/** `calls.recording_url`: a URL template that may also use {{recording_file}} and {{recording_path}}. */
export function compileRecordingTemplate(source: string): CompiledTemplate {
  return compileTemplate(source, 'url', { fields: RECORDING_FIELDS });
}

/**
 * The recording URL of an event: the template filled in with the event's fields and the
 * recording the PBX reported (`ev.recording_url` as the tracker set it), or null when the
 * call was not recorded.
 */
export function recordingUrlFor(tpl: CompiledTemplate, ev: CallEvent): string | null {
  const path = ev.recording_url;
  if (path === null) return null;
  const file = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  return tpl.render({ ...ev, recording_path: path, recording_file: file });
}

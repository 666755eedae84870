/**
 * The configuration schema (DESIGN §4): one zod schema that both validates a parsed YAML file
 * (unknown keys are errors, defaults applied, durations turned into milliseconds) and is
 * exported as JSON Schema for editors. Cross-field rules that zod would skip on an object with
 * other errors (https-only URLs, unique names, template fields, AMI username) live in
 * `crossFieldProblems`, which runs on the raw file so that every problem is reported at once.
 * Also the template tag syntax (`{{field}}` and `#field#`) shared with the payload renderer.
 */
import { z } from 'zod';
import { EVENT_NAMES } from '../calls/events.js';
import type {
  AgentInfo, CallEvent, DtmfInfo, EventContext, Direction, QueueInfo, Reporting,
} from '../calls/events.js';
import type { Config } from './types.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';

// ---------------------------------------------------------------------------------------------
// Template fields and tags

type AllOf<T, L extends readonly unknown[]> = [Exclude<T, L[number]>] extends [never] ? true : never;

const EVENT_KEYS = [
  'id', 'event_name', 'event_time', 'sequence', 'call_id', 'leg_id', 'context', 'state',
  'previous_state', 'direction', 'src', 'src_name', 'dst', 'dst_name', 'endpoint', 'queue',
  'start_time', 'ringing_at', 'connected_at', 'ended_at', 'duration', 'ring_duration',
  'talk_duration', 'hangup_cause', 'hangup_cause_code', 'sip_status', 'dtmf', 'hold', 'digits',
  'recording_url', 'pbx', 'signal', 'reporting', 'agent', 'ivr',
] as const satisfies readonly (keyof CallEvent)[];
const QUEUE_KEYS = ['name', 'position', 'wait_seconds', 'disposition'] as const satisfies readonly (keyof QueueInfo)[];
const DTMF_KEYS = ['digit', 'pressed_by', 'duration_ms'] as const satisfies readonly (keyof DtmfInfo)[];
const AGENT_KEYS = ['member', 'name', 'queue', 'reason'] as const satisfies readonly (keyof AgentInfo)[];
const REPORTING_KEYS = [
  'type', 'created_at', 'start_at', 'answer_at', 'end_at', 'duration', 'ring_duration',
  'billing_duration', 'cause', 'answered_by', 'legs', 'did', 'ivr',
] as const satisfies readonly (keyof Reporting)[];
// Compile-time guards: adding a field to CallEvent (or its parts) without listing it here fails tsc.
const fieldListsComplete: [
  AllOf<keyof CallEvent, typeof EVENT_KEYS>, AllOf<keyof QueueInfo, typeof QUEUE_KEYS>,
  AllOf<keyof DtmfInfo, typeof DTMF_KEYS>, AllOf<keyof AgentInfo, typeof AGENT_KEYS>,
  AllOf<keyof Reporting, typeof REPORTING_KEYS>,
] = [true, true, true, true, true];
void fieldListsComplete;

/** Every field name a template or a templated URL may use: CallEvent keys and dotted paths. */
export const TEMPLATE_FIELDS: readonly string[] = [
  ...EVENT_KEYS,
  ...QUEUE_KEYS.map((k) => `queue.${k}`),
  ...DTMF_KEYS.map((k) => `dtmf.${k}`),
  'hold.by',
  'pbx.name', 'pbx.type',
  'signal.source', 'signal.event', 'signal.reconciled',
  ...AGENT_KEYS.map((k) => `agent.${k}`),
  'ivr.name', 'ivr.digits',
  ...REPORTING_KEYS.map((k) => `reporting.${k}`),
];
const KNOWN_FIELDS = new Set(TEMPLATE_FIELDS);

/**
 * A template tag: `{{ field }}` (anything up to `}}`, trimmed) or an Engage-Voice-style
 * `#field#` (letters, digits, `_` and `.` only, so a lone `#` stays literal).
 * Group 1 holds a `{{…}}` field, group 2 a `#…#` field.
 */
export const TEMPLATE_TAG = /\{\{([^{}]*)\}\}|#([A-Za-z_][A-Za-z0-9_.]*)#/g;

/** The distinct field names a template refers to, in order of first appearance. */
export function templateFields(template: string): string[] {
  const seen = new Set<string>();
  for (const m of template.matchAll(TEMPLATE_TAG)) seen.add((m[1] ?? m[2]).trim());
  return [...seen];
}

/** Replaces every tag in `template` with `valueOf(field)`; the renderer's substitution step. */
export function replaceTemplateTags(template: string, valueOf: (field: string) => string): string {
  return template.replace(TEMPLATE_TAG, (_tag, a: string | undefined, b: string | undefined) =>
    valueOf((a ?? b ?? '').trim()));
}

/** The fields of `template` that are not known CallEvent fields. */
export function unknownTemplateFields(template: string): string[] {
  return templateFields(template).filter((f) => !KNOWN_FIELDS.has(f));
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const DURATION_HINT = 'expected a duration like 5s (250ms, 5s, 5m, 2h, 7d or a number of seconds)';

/** A duration as written in the file; parses to milliseconds. */
const duration = z
  .union([
    z.number({ error: DURATION_HINT }).nonnegative({ error: DURATION_HINT }),
    z.string({ error: DURATION_HINT }).regex(DURATION_PATTERN, { error: DURATION_HINT }),
  ], { error: DURATION_HINT })
  .transform((v) => parseDuration(v) as number);

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const name = z.string().regex(NAME_PATTERN, {
  error: 'expected a name of letters, digits, "_", "." or "-" (starting with a letter or digit)',
});
const nonEmpty = z.string().min(1, { error: 'must not be empty' });
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LISTEN_PATTERN = /^(off|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):\d{1,5})$/;

export const EVENT_CONTEXTS = ['LOCAL_USER', 'QUEUE', 'CALL', 'AGENT', 'IVR'] as const satisfies readonly EventContext[];
export const DIRECTIONS = ['in', 'out', 'internal'] as const satisfies readonly Direction[];
export const WEBHOOK_FORMATS = ['default', 'voipstudio', 'voiso', 'ziwo', 'template'] as const;
export const DEFAULT_RETRY_SCHEDULE = ['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h'];
export const DEFAULT_PORTS = { asterisk: 5038, freeswitch: 8021 } as const;

const stringList = z.array(nonEmpty).min(1, { error: 'must not be empty (leave the key out instead)' });

// ---------------------------------------------------------------------------------------------
// Sections

const pbxSchema = z
  .strictObject({
    name: name.describe('Unique name of this PBX connection (used in logs, metrics, filters, payloads)'),
    type: z.enum(['asterisk', 'freeswitch']).describe('asterisk (AMI) or freeswitch (ESL)'),
    host: nonEmpty.default('127.0.0.1').describe('AMI/ESL host'),
    port: z.int().min(1).max(65535).optional().describe('Default 5038 (asterisk) / 8021 (freeswitch)'),
    username: nonEmpty.optional().describe('AMI username (asterisk only, required there)'),
    secret: nonEmpty.optional().describe('AMI secret / ESL password; ${ENV} allowed. Or use secret_file'),
    secret_file: nonEmpty.optional().describe('File holding the secret (trimmed); relative to the config file'),
    trunks: z.array(nonEmpty).default([])
      .describe('Channel-name globs (* and ?) of legs to carriers/gateways, e.g. PJSIP/provider-*'),
    event_format: z.enum(['plain', 'json']).default('json').describe('ESL event format subscribed (freeswitch)'),
    action_timeout: duration.prefault('10s').describe('Timeout of AMI actions / ESL api commands'),
    ping_interval: duration.prefault('20s').describe('Keepalive ping interval'),
    orphan_timeout: duration.prefault('4h').describe('Legs with no event for this long are closed'),
    ivrs: z
      .array(
        z.strictObject({
          name: nonEmpty.describe('IVR name, as sent in ivr.start / ivr.end and call.reporting'),
          exten: nonEmpty.describe('Extension (Asterisk) / destination number (FreeSWITCH) the caller dialled to reach it'),
          context: nonEmpty.optional().describe('Dialplan context it runs in (optional)'),
        }),
      )
      .default([])
      .describe('IVRs: a call whose first leg dialled one of these is in that IVR from the answer until it is dialled onward, queued or hung up'),
    enabled: z.boolean().default(true),
  })
  .transform((p) => ({
    name: p.name,
    type: p.type,
    host: p.host,
    port: p.port ?? DEFAULT_PORTS[p.type],
    username: p.username ?? null,
    secret: p.secret ?? '',
    trunks: p.trunks,
    event_format: p.event_format,
    action_timeout_ms: p.action_timeout,
    ping_interval_ms: p.ping_interval,
    orphan_timeout_ms: p.orphan_timeout,
    ivrs: p.ivrs.map((i) => ({ name: i.name, exten: i.exten, context: i.context ?? null })),
    enabled: p.enabled,
  }));

const filterSchema = z
  .strictObject({
    context: z.array(z.enum(EVENT_CONTEXTS)).min(1, { error: 'must not be empty' }).optional(),
    direction: z.array(z.enum(DIRECTIONS)).min(1, { error: 'must not be empty' }).optional(),
    queue: stringList.optional().describe('Queue names'),
    pbx: stringList.optional().describe('PBX names (from pbx[].name)'),
    src: stringList.optional().describe('Caller-number globs, e.g. "+4420*"'),
    dst: stringList.optional().describe('Dialled-number globs'),
  })
  .describe('Only events matching every given key are sent; a key matches when any list entry does');

const webhookSchema = z
  .strictObject({
    name: name.describe('Unique webhook name (logs, metrics, delivery records)'),
    url: nonEmpty.describe('https URL (http only for loopback hosts or with allow_http); may hold {{field}} tags'),
    method: z.enum(['POST', 'GET']).default('POST').describe('GET sends the fields as query parameters'),
    events: z.array(z.enum([...EVENT_NAMES, '*'])).min(1, { error: 'must list at least one event (or "*")' })
      .describe('Event names to send, or ["*"] for all'),
    filter: filterSchema.nullable().optional(),
    format: z.enum(WEBHOOK_FORMATS).default('default').describe('Payload format'),
    template: nonEmpty.optional().describe('Body template with {{field}} or #field# tags (format: template only)'),
    token: nonEmpty.optional().describe('Shared key sent in the payload where the format has one'),
    token_file: nonEmpty.optional().describe('File holding the token (trimmed)'),
    signing_secret: nonEmpty.optional().describe('Standard Webhooks HMAC-SHA256 signing secret'),
    signing_secret_file: nonEmpty.optional().describe('File holding the signing secret (trimmed)'),
    headers: z.record(z.string().regex(HEADER_NAME, { error: 'not a valid HTTP header name' }), z.string())
      .default({}).describe('Extra HTTP headers; ${ENV} allowed in values'),
    timeout: duration.prefault('5s').describe('Per-attempt HTTP timeout'),
    retry: z
      .strictObject({
        schedule: z.array(duration).min(1, { error: 'must have at least one delay' })
          .prefault(DEFAULT_RETRY_SCHEDULE).describe('Delays before each attempt; its length is the number of attempts'),
      })
      .prefault({}),
    allow_http: z.boolean().default(false).describe('Allow plain http to a non-loopback host'),
    enabled: z.boolean().default(true),
  })
  .transform((w) => ({
    name: w.name,
    url: w.url,
    method: w.method,
    events: w.events,
    filter: w.filter ?? null,
    format: w.format,
    template: w.template ?? null,
    token: w.token ?? null,
    signing_secret: w.signing_secret ?? null,
    headers: w.headers,
    timeout_ms: w.timeout,
    retry: { schedule_ms: w.retry.schedule },
    allow_http: w.allow_http,
    enabled: w.enabled,
  }));

/** The whole file. Parsing yields the resolved Config minus `file`. */
export const configSchema = z
  .strictObject({
    pbx: z.array(pbxSchema).min(1, { error: 'must list at least one PBX' }).describe('PBX connections'),
    webhooks: z.array(webhookSchema).default([]).describe('Webhook receivers'),
    storage: z
      .strictObject({
        path: nonEmpty.default('/var/lib/callhook').describe('Directory of the durable outbox'),
        sync: z.enum(['normal', 'full']).default('normal').describe('SQLite synchronous mode'),
        retention: duration.prefault('7d').describe('How long finished deliveries are kept'),
      })
      .prefault({})
      .transform((s) => ({ path: s.path, sync: s.sync, retention_ms: s.retention })),
    http: z
      .strictObject({
        listen: z.string()
          .regex(LISTEN_PATTERN, { error: 'expected host:port like 127.0.0.1:9466, or off' })
          .nullable()
          .default('127.0.0.1:9466')
          .describe('Address of /healthz and /metrics; null or off disables'),
      })
      .prefault({})
      .transform((h) => ({ listen: h.listen === 'off' ? null : h.listen })),
    log: z
      .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
      .prefault({}),
    calls: z
      .strictObject({
        recording_variable: nonEmpty.nullable().default(null)
          .describe('Channel variable holding the recording file/URL, e.g. MIXMONITOR_FILENAME'),
        recording_url: nonEmpty.nullable().default(null)
          .describe('Template for recording_url, e.g. https://pbx.example.com/rec/{{call_id}}.wav'),
      })
      .prefault({}),
  })
  .describe('callhook configuration');

// The parsed schema must be exactly the resolved Config (minus the file it came from).
const outputMatchesConfig = (c: z.output<typeof configSchema>): Omit<Config, 'file'> => c;
void outputMatchesConfig;

/** JSON Schema (draft 2020-12) of the config file, for editors (yaml-language-server). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
  return { ...schema, title: 'callhook configuration' };
}

// ---------------------------------------------------------------------------------------------
// Cross-field rules, on the raw (env-substituted) file

export type Path = Array<string | number>;
export interface PathProblem { path: Path; message: string; /** point at the key, not its value */ atKey?: boolean }

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Loopback hosts that may be called over plain http. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function urlProblem(url: string, allowHttp: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url.replace(TEMPLATE_TAG, 'x'));
  } catch {
    return 'not a valid URL (expected https://host/path)';
  }
  if (parsed.protocol === 'https:') return null;
  if (parsed.protocol !== 'http:') return `unsupported scheme "${parsed.protocol.replace(/:$/, '')}" (expected https)`;
  if (allowHttp || isLoopbackHost(parsed.hostname)) return null;
  return `plain http to non-loopback host "${parsed.hostname}": use https, or set allow_http: true`;
}

/** The known fields, compactly: `id, ..., queue.{name,position,...}, ...`. */
function knownFieldsText(): string {
  const groups = new Map<string, string[]>();
  for (const f of TEMPLATE_FIELDS) {
    const [head, tail] = f.split('.');
    if (tail === undefined) groups.set(head, groups.get(head) ?? []);
    else groups.get(head)?.push(tail);
  }
  return [...groups].map(([head, tails]) => (tails.length ? `${head}, ${head}.{${tails.join(',')}}` : head)).join(', ');
}

function fieldsProblem(template: string): string | null {
  const unknown = unknownTemplateFields(template);
  if (unknown.length === 0) return null;
  const list = unknown.map((f) => {
    const hint = closest(f, TEMPLATE_FIELDS);
    return `"${f}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
  }).join(', ');
  return `unknown field${unknown.length > 1 ? 's' : ''} ${list} (known: ${knownFieldsText()})`;
}

function duplicates(list: unknown, what: string, section: string): PathProblem[] {
  const out: PathProblem[] = [];
  if (!Array.isArray(list)) return out;
  const first = new Map<string, number>();
  list.forEach((item, i) => {
    if (!isObj(item) || typeof item.name !== 'string') return;
    const prev = first.get(item.name);
    if (prev === undefined) first.set(item.name, i);
    else out.push({ path: [section, i, 'name'], message: `duplicate ${what} name "${item.name}" (also ${section}[${prev}])` });
  });
  return out;
}

/** Rules spanning several keys; checks only values of the right type (zod reports the rest). */
export function crossFieldProblems(raw: unknown): PathProblem[] {
  const out: PathProblem[] = [];
  if (!isObj(raw)) return out;
  const pbxNames = new Set<string>();
  if (Array.isArray(raw.pbx)) {
    raw.pbx.forEach((p, i) => {
      if (!isObj(p)) return;
      if (typeof p.name === 'string') pbxNames.add(p.name);
      if (p.type === 'asterisk' && p.username === undefined) {
        out.push({ path: ['pbx', i, 'username'], message: 'required for type: asterisk (the AMI user)' });
      }
      if (p.type === 'freeswitch' && p.username !== undefined) {
        out.push({ path: ['pbx', i, 'username'], message: 'only used with type: asterisk (ESL has just a password)', atKey: true });
      }
      if (p.secret === undefined) {
        out.push({ path: ['pbx', i, 'secret'], message: 'required (set secret or secret_file)' });
      }
    });
  }
  out.push(...duplicates(raw.pbx, 'pbx', 'pbx'));
  out.push(...duplicates(raw.webhooks, 'webhook', 'webhooks'));
  if (Array.isArray(raw.webhooks)) {
    raw.webhooks.forEach((w, i) => {
      if (!isObj(w)) return;
      if (typeof w.url === 'string' && w.url !== '') {
        const problem = fieldsProblem(w.url) ?? urlProblem(w.url, w.allow_http === true);
        if (problem) out.push({ path: ['webhooks', i, 'url'], message: problem });
      }
      if (w.format === 'template') {
        if (w.template === undefined) out.push({ path: ['webhooks', i, 'template'], message: 'required with format: template' });
      } else if (w.template !== undefined) {
        out.push({ path: ['webhooks', i, 'template'], message: 'only used with format: template', atKey: true });
      }
      if (typeof w.template === 'string') {
        const problem = fieldsProblem(w.template);
        if (problem) out.push({ path: ['webhooks', i, 'template'], message: problem });
      }
      if (isObj(w.filter) && Array.isArray(w.filter.pbx) && pbxNames.size > 0) {
        w.filter.pbx.forEach((n, j) => {
          if (typeof n === 'string' && !pbxNames.has(n)) {
            out.push({ path: ['webhooks', i, 'filter', 'pbx', j], message: `no pbx named "${n}" (known: ${[...pbxNames].join(', ')})` });
          }
        });
      }
    });
  }
  if (isObj(raw.calls) && typeof raw.calls.recording_url === 'string') {
    const problem = fieldsProblem(raw.calls.recording_url);
    if (problem) out.push({ path: ['calls', 'recording_url'], message: problem });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// "did you mean"

/** The candidate nearest to `word` (case-insensitive edit distance <= 2), if any. */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance && d < Math.max(c.length, 2)) { best = c; bestDistance = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * The configuration schema (DESIGN §4): one zod schema that both validates a parsed YAML file
 * (unknown keys are errors, defaults applied, durations turned into milliseconds) and is
 * exported as JSON Schema for editors. Cross-field rules that zod would skip on an object with
 * other errors (unique names, AMI username, format: template) live in
 * `crossFieldProblems`, which runs on the raw file so that every problem is reported at once.
 * What only the renderer can judge (templates, URLs) is checked by hooks/check.ts, which the
 * loader is given.
 */
import { z } from 'zod';
import { EVENT_NAMES } from '../calls/events.js';
import { isLoopbackHost } from '../util/loopback.js';
import type { EventContext, Direction } from '../calls/events.js';
import type { Config } from './types.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';

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
/**
 * Standard Webhooks secrets are `whsec_` + base64 of 24..64 random bytes: the only form the
 * spec's verifier libraries accept, so the receiver can verify what callhook signs.
 */
const SIGNING_SECRET_HINT =
  'expected a Standard Webhooks secret: "whsec_" + base64 of 24 to 64 random bytes (make one with: echo "whsec_$(openssl rand -base64 32)")';
export function isSigningSecret(s: string): boolean {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s);
  if (!m || m[1].length % 4 !== 0) return false;
  const bytes = Buffer.from(m[1], 'base64').length;
  return bytes >= 24 && bytes <= 64;
}
const signingSecret = z.string().refine(isSigningSecret, { error: SIGNING_SECRET_HINT });
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
    event_format: z.enum(['plain', 'json']).default('plain').describe('ESL event format subscribed (freeswitch)'),
    action_timeout: duration.prefault('10s').describe('Timeout of AMI actions / ESL api commands'),
    ping_interval: duration.prefault('20s').describe('Keepalive ping interval'),
    orphan_timeout: duration.prefault('4h').describe('Legs with no event for this long are closed'),
    wrapup_time: duration.prefault('0s')
      .describe("Queue wrap-up time, as the PBX has it (queues.conf wrapuptime, mod_callcenter wrap-up-time): queue.wrapup TIMEOUT comes this long after START. 0: no queue.wrapup, except for members the PBX gives their own"),
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
    wrapup_ms: p.wrapup_time,
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

/** What a webhook and an amqp sink share: which events, in what payload, signed how, retried when. */
const sinkFields = {
  events: z.array(z.enum([...EVENT_NAMES, '*'])).min(1, { error: 'must list at least one event (or "*")' })
    .describe('Event names to send, or ["*"] for all'),
  filter: filterSchema.nullable().optional(),
  format: z.enum(WEBHOOK_FORMATS).default('default').describe('Payload format'),
  template: nonEmpty.optional().describe('Body template with {{field}} or #field# tags (format: template only)'),
  token: nonEmpty.optional().describe('Shared key sent in the payload where the format has one'),
  token_file: nonEmpty.optional().describe('File holding the token (trimmed)'),
  signing_secret: signingSecret.optional()
    .describe('Standard Webhooks signing secret: whsec_ + base64 of 24..64 random bytes'),
  signing_secret_file: nonEmpty.optional().describe('File holding the signing secret (trimmed)'),
  retry: z
    .strictObject({
      schedule: z.array(duration).min(1, { error: 'must have at least one delay' })
        .prefault(DEFAULT_RETRY_SCHEDULE).describe('Delays before each attempt; its length is the number of attempts'),
    })
    .prefault({}),
  enabled: z.boolean().default(true),
};

/** the resolved fields both kinds share */
function sinkOutput(w: z.output<z.ZodObject<typeof sinkFields>> & { name: string; timeout: number }) {
  return {
    events: w.events,
    filter: w.filter ?? null,
    format: w.format,
    template: w.template ?? null,
    token: w.token ?? null,
    signing_secret: w.signing_secret ?? null,
    timeout_ms: w.timeout,
    retry: { schedule_ms: w.retry.schedule },
    enabled: w.enabled,
  };
}

const webhookSchema = z
  .strictObject({
    name: name.describe('Unique webhook name (logs, metrics, delivery records)'),
    url: nonEmpty.describe('https URL (http only for loopback hosts or with allow_http); may hold {{field}} tags'),
    method: z.enum(['POST', 'GET']).default('POST').describe('GET sends the fields as query parameters'),
    ...sinkFields,
    headers: z.record(z.string().regex(HEADER_NAME, { error: 'not a valid HTTP header name' }), z.string())
      .default({}).describe('Extra HTTP headers; ${ENV} allowed in values'),
    timeout: duration.prefault('5s').describe('Per-attempt HTTP timeout'),
    allow_http: z.boolean().default(false).describe('Allow plain http to a non-loopback host'),
  })
  .transform((w) => ({
    name: w.name,
    sink: 'http' as const,
    url: w.url,
    exchange: null,
    method: w.method,
    ...sinkOutput(w),
    headers: w.headers,
    allow_http: w.allow_http,
  }));

/** An AMQP 0-9-1 broker (RabbitMQ) sink: the same routing, formats and delivery guarantees as a webhook. */
const amqpSchema = z
  .strictObject({
    name: name.describe('Unique sink name (logs, metrics, delivery records; shared with webhooks)'),
    url: nonEmpty.describe('amqps://user:password@host:port/vhost (amqp:// only to a loopback host or with allow_plain); ${ENV} allowed'),
    exchange: nonEmpty.default('callhook').describe('Topic exchange (declared durable) published to; routing key <pbx>.<context>.<event_name>'),
    ...sinkFields,
    timeout: duration.prefault('5s').describe('How long one publish may wait for the broker (connection and confirm)'),
    allow_plain: z.boolean().default(false).describe('Allow amqp:// (no TLS) to a non-loopback host'),
  })
  .superRefine((a, ctx) => {
    let u: URL;
    try {
      u = new URL(a.url);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'not a valid URL (expected amqps://user:password@host:port/vhost)' });
      return;
    }
    if (u.protocol !== 'amqps:' && u.protocol !== 'amqp:') {
      ctx.addIssue({ code: 'custom', path: ['url'], message: `unsupported scheme "${u.protocol.replace(/:$/, '')}" (expected amqps)` });
    } else if (u.protocol === 'amqp:' && !a.allow_plain && !isLoopbackHost(u.hostname)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: `plain amqp to non-loopback host "${u.hostname}": use amqps, or set allow_plain: true` });
    }
  })
  .transform((a) => ({
    name: a.name,
    sink: 'amqp' as const,
    url: a.url,
    exchange: a.exchange,
    method: 'POST' as const,
    ...sinkOutput(a),
    headers: {},
    allow_http: a.allow_plain,
  }));

/** The whole file. Parsing yields the resolved Config minus `file`. */
export const configSchema = z
  .strictObject({
    pbx: z.array(pbxSchema).min(1, { error: 'must list at least one PBX' }).describe('PBX connections'),
    webhooks: z.array(webhookSchema).default([]).describe('Webhook receivers'),
    amqp: z.array(amqpSchema).default([]).describe('RabbitMQ (AMQP 0-9-1) exchanges published to, like webhooks'),
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
          .refine((v) => !/:\d+$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, { error: 'port must be 0..65535 (0: any free port)' })
          .nullable()
          .default('127.0.0.1:9466')
          .describe('Address of /healthz and /metrics; null or off disables'),
        token: z.string().min(16, { error: 'must be at least 16 characters (e.g. openssl rand -hex 24)' }).optional()
          .describe('Bearer token /metrics and /calls require (needed when listen is not a loopback address); ${ENV} allowed'),
      })
      .prefault({})
      .superRefine((h, ctx) => {
        if (h.listen && h.listen !== 'off' && LISTEN_PATTERN.test(h.listen) && !isLoopbackHost(h.listen.slice(0, h.listen.lastIndexOf(':'))) && !h.token) {
          ctx.addIssue({ code: 'custom', path: ['listen'], message: `${h.listen} is reachable from other hosts: set http.token (a bearer token for /metrics and /calls), or listen on 127.0.0.1` });
        }
      })
      .transform((h) => ({ listen: h.listen === 'off' ? null : h.listen, token: h.token ?? null })),
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

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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
  out.push(...duplicates(raw.amqp, 'amqp sink', 'amqp'));
  if (Array.isArray(raw.amqp) && Array.isArray(raw.webhooks)) {
    const hooks = new Set(raw.webhooks.flatMap((w) => (isObj(w) && typeof w.name === 'string' ? [w.name] : [])));
    raw.amqp.forEach((a, i) => {
      if (isObj(a) && typeof a.name === 'string' && hooks.has(a.name)) out.push({ path: ['amqp', i, 'name'], message: `"${a.name}" is also a webhook name: sinks share one namespace` });
    });
  }
  if (Array.isArray(raw.webhooks)) {
    raw.webhooks.forEach((w, i) => {
      if (!isObj(w)) return;
      if (w.format === 'template') {
        if (w.template === undefined) out.push({ path: ['webhooks', i, 'template'], message: 'required with format: template' });
      } else if (w.template !== undefined) {
        out.push({ path: ['webhooks', i, 'template'], message: 'only used with format: template', atKey: true });
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
  return out;
}

/**
 * The validated, resolved configuration (DESIGN §4) that the rest of the daemon sees:
 * defaults applied, ${ENV} and secret_file resolved, durations in milliseconds.
 * The schema in ./schema.ts produces exactly this shape.
 */
import type { EventName, EventContext, Direction } from '../calls/events.js';

export interface PbxConfig {
  name: string;
  type: 'asterisk' | 'freeswitch';
  host: string;
  port: number;
  /** AMI only */
  username: string | null;
  /** AMI secret / ESL password, resolved from secret, ${ENV} or secret_file */
  secret: string;
  /** channel-name globs of trunk legs */
  trunks: string[];
  /** ESL only: plain | json (event format subscribed) */
  event_format: 'plain' | 'json';
  /** action/api timeout */
  action_timeout_ms: number;
  /** keepalive ping interval */
  ping_interval_ms: number;
  /** orphan legs (no event for this long) are closed */
  orphan_timeout_ms: number;
  /** queue wrap-up time (queue.wrapup TIMEOUT after START); 0 = none */
  wrapup_ms: number;
  /** IVRs, recognised by the number the call's first leg dialled (and its dialplan context) */
  ivrs: Array<{ name: string; exten: string; context: string | null }>;
  enabled: boolean;
}

export interface WebhookFilter {
  context?: EventContext[];
  direction?: Direction[];
  queue?: string[];
  pbx?: string[];
  /** globs on numbers, e.g. "+4420*" */
  src?: string[];
  dst?: string[];
}

export type WebhookFormat = 'default' | 'voipstudio' | 'voiso' | 'ziwo' | 'template';

export interface WebhookConfig {
  name: string;
  /** where deliveries go: an HTTP endpoint (webhooks:) or a RabbitMQ exchange (amqp:) */
  sink: 'http' | 'amqp';
  /** http: the URL template; amqp: the broker URL (amqps://user:pass@host:port/vhost) */
  url: string;
  /** amqp only: the durable topic exchange published to */
  exchange: string | null;
  method: 'POST' | 'GET';
  /** event names, or ["*"] */
  events: Array<EventName | '*'>;
  filter: WebhookFilter | null;
  format: WebhookFormat;
  template: string | null;
  token: string | null;
  signing_secret: string | null;
  headers: Record<string, string>;
  timeout_ms: number;
  retry: { schedule_ms: number[] };
  allow_http: boolean;
  enabled: boolean;
}

export interface Config {
  /** absolute path of the file this came from */
  file: string;
  pbx: PbxConfig[];
  /** the webhooks: entries, then the amqp: entries (sink 'amqp'): one delivery path for both */
  webhooks: WebhookConfig[];
  storage: { path: string; sync: 'normal' | 'full'; retention_ms: number };
  /** token: the bearer token /metrics and /calls require, or null (loopback only) */
  http: { listen: string | null; token: string | null };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' };
  calls: {
    /** channel variable holding the recording file/url, e.g. MIXMONITOR_FILENAME */
    recording_variable: string | null;
    /** template for recording_url, e.g. https://pbx.example.com/rec/{{call_id}}.wav */
    recording_url: string | null;
  };
}

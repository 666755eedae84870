/**
 * The web view on `http.listen`: read-only HTML, rendered on the server from the store,
 * no script and no front-end build.
 *
 *   GET /view              recent and live calls
 *   GET /view/call/<key>   one call: each leg's states, the timeline (queue stay, DTMF,
 *                          transfers, hangup causes), and every delivery of it with its
 *                          request (URL, headers with secrets masked, body) and attempts
 *
 * It shows what is on disk: the call's canonical events (the `call_events` history, kept
 * with the deliveries for `storage.retention`) and its deliveries with their attempts.
 */
import type { CallEvent } from '../calls/events.js';
import type { WebhookConfig } from '../config/types.js';
import type { CallEventRow, DeliveryWithAttempts, RecentCall } from '../delivery/outbox.js';

/** a call in progress, as /calls shows it */
export interface CallView {
  pbx: string;
  call_id: string;
  started_at: string;
  queue: string | null;
  legs: Array<{ leg_id: string; endpoint: string; state: string }>;
}

/** what the pages read, on each request */
export interface WebSource {
  version: string;
  liveCalls(): CallView[];
  recentCalls(limit: number): RecentCall[];
  callEvents(callKey: string): CallEventRow[];
  callDeliveries(callKey: string): DeliveryWithAttempts[];
  webhooks(): WebhookConfig[];
  userAgent: string;
}

const MASK = '••••••';

const esc = (v: unknown): string =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const time = (ms: number | string | null): string => {
  if (ms === null || ms === '') return '';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace('T', ' ').replace('Z', '');
};

const viewLink = (callKey: string) => `/view/call/${encodeURIComponent(callKey)}`;

/** a header whose value is a credential: shown masked */
export function isSecretHeader(name: string): boolean {
  return /auth|token|secret|key|pass|cookie|signature|session/i.test(name);
}

/** the value with its scheme kept ("Bearer ••••••") */
export function maskValue(value: string): string {
  const m = /^(Bearer|Basic|Token|Digest)\s+/i.exec(value);
  return m ? `${m[1]} ${MASK}` : MASK;
}

/** a URL with its password and credential-like query values masked */
export function maskUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return raw;
  }
  if (u.password) u.password = 'xxxxxx';
  for (const k of [...u.searchParams.keys()]) if (isSecretHeader(k)) u.searchParams.set(k, 'xxxxxx');
  return u.toString().replace(/xxxxxx/g, MASK);
}

/** the request as it goes out, secrets masked (signature headers are made per attempt) */
export function requestHeaders(row: DeliveryWithAttempts, wh: WebhookConfig | undefined, userAgent: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (row.headers) {
    // amqp: the message headers as stored
    try {
      for (const [k, v] of Object.entries(JSON.parse(row.headers) as Record<string, unknown>)) out.push([k, String(v)]);
    } catch {
      out.push(['headers', row.headers]);
    }
  } else {
    out.push(['user-agent', userAgent]);
    if (row.method !== 'GET') out.push(['content-type', row.content_type ?? 'application/json']);
    for (const [k, v] of Object.entries(wh?.headers ?? {})) out.push([k.toLowerCase(), isSecretHeader(k) ? maskValue(v) : v]);
  }
  if (wh?.signing_secret) {
    out.push(['webhook-id', row.event_id]);
    out.push(['webhook-timestamp', '(the time of each attempt)']);
    out.push(['webhook-signature', `v1,${MASK} (signed per attempt)`]);
  }
  return out;
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.t{white-space:nowrap}code,pre{font:12px/1.35 ui-monospace,monospace}pre{background:#f7f7f7;padding:.5em;overflow:auto;max-width:100em;margin:.3em 0}
.state{display:inline-block;padding:0 .4em;border-radius:3px;background:#e8eef8;margin-right:.2em}
.s-CONNECTED{background:#d8f0d8}.s-ON_HOLD{background:#f8ecd0}.s-HANGUP{background:#eee}.s-RINGING{background:#fdf5c9}
.st-delivered{color:#175e17}.st-dead{color:#a00;font-weight:bold}.st-failed,.st-pending{color:#8a5a00}
.live{color:#175e17;font-weight:bold}.muted{color:#777}details{margin:.3em 0}
`;

function page(title: string, body: string, version: string, refresh = false): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${refresh ? '<meta http-equiv="refresh" content="10">' : ''}<title>${esc(title)} · callhook</title><style>${STYLE}</style></head>
<body><p class="muted"><a href="/view">calls</a> · callhook ${esc(version)}</p>
${body}
</body></html>
`;
}

function parse(rows: CallEventRow[]): CallEvent[] {
  const out: CallEvent[] = [];
  for (const r of rows) {
    try {
      out.push(JSON.parse(r.body) as CallEvent);
    } catch {
      /* a row that is not JSON is skipped (never written so by the daemon) */
    }
  }
  return out;
}

/** the list page: live calls, then the calls most recently heard of */
export function renderCallList(src: WebSource): string {
  const live = src.liveCalls();
  const liveKeys = new Set(live.map((c) => `${c.pbx}:${c.call_id}`));
  const recent = src.recentCalls(100);
  const liveRows = live
    .map(
      (c) => `<tr class="live-call"><td><a href="${viewLink(`${c.pbx}:${c.call_id}`)}">${esc(c.call_id)}</a></td><td>${esc(c.pbx)}</td>
<td>${esc(time(c.started_at))}</td><td>${esc(c.queue ?? '')}</td>
<td>${c.legs.map((l) => `${esc(l.endpoint)} <span class="state s-${esc(l.state)}">${esc(l.state)}</span>`).join('<br>')}</td></tr>`,
    )
    .join('\n');
  const recentRows = recent
    .map((c) => {
      const i = c.call_key.indexOf(':');
      return `<tr class="recent-call" data-call-key="${esc(c.call_key)}"><td><a href="${viewLink(c.call_key)}">${esc(c.call_key.slice(i + 1))}</a></td>
<td>${esc(c.call_key.slice(0, i))}</td><td>${esc(time(c.first_at))}</td><td>${esc(time(c.last_at))}</td><td>${c.events}</td>
<td>${liveKeys.has(c.call_key) ? '<span class="live">live</span>' : 'ended'}</td></tr>`;
    })
    .join('\n');
  return page(
    'calls',
    `<h1>Calls</h1>
<h2>Live (${live.length})</h2>
${live.length ? `<table id="live"><tr><th>Call</th><th>PBX</th><th>Started</th><th>Queue</th><th>Legs</th></tr>\n${liveRows}</table>` : '<p class="muted">No call in progress.</p>'}
<h2>Recent</h2>
${recent.length ? `<table id="recent"><tr><th>Call</th><th>PBX</th><th>First event</th><th>Last event</th><th>Events</th><th></th></tr>\n${recentRows}</table>` : '<p class="muted">No call yet.</p>'}`,
    src.version,
    true,
  );
}

function details(ev: CallEvent): string {
  const bits: string[] = [];
  if (ev.queue?.name) bits.push(`queue ${ev.queue.name}${ev.queue.disposition ? ` (${ev.queue.disposition})` : ''}${ev.queue.wait_seconds !== null ? `, waited ${ev.queue.wait_seconds}s` : ''}`);
  if (ev.dtmf) bits.push(`DTMF ${ev.dtmf.digit} by ${ev.dtmf.pressed_by}`);
  if (ev.hold) bits.push(`hold by ${ev.hold.by}`);
  if (ev.transfer) bits.push(`${ev.transfer.kind} transfer${ev.transfer.to ? ` to ${ev.transfer.to}` : ''}`);
  if (ev.wrapup) bits.push(`wrap-up ${ev.wrapup.state} ${ev.wrapup.seconds}s`);
  if (ev.hangup_cause) bits.push(`cause ${ev.hangup_cause}${ev.sip_status ? ` (SIP ${ev.sip_status})` : ''}`);
  if (ev.signal.reconciled) bits.push('reconciled after a reconnect');
  if (ev.reporting) bits.push(`${ev.reporting.type}, ${ev.reporting.cause}, ${ev.reporting.duration}s, talk ${ev.reporting.billing_duration}s`);
  if (ev.recording_url) bits.push(`recording ${ev.recording_url}`);
  return bits.map(esc).join('; ');
}

function legTable(events: CallEvent[]): string {
  const legs = new Map<string, { endpoint: string; states: Array<[string, string]> }>();
  for (const ev of events) {
    if (ev.leg_id === null || ev.state === null || ev.context !== 'LOCAL_USER') continue;
    let leg = legs.get(ev.leg_id);
    if (!leg) legs.set(ev.leg_id, (leg = { endpoint: ev.endpoint ?? ev.leg_id, states: [] }));
    const last = leg.states[leg.states.length - 1];
    if (!last || last[0] !== ev.state) leg.states.push([ev.state, ev.event_time]);
  }
  if (legs.size === 0) return '<p class="muted">No local leg.</p>';
  const rows = [...legs.entries()].map(
    ([id, l]) =>
      `<tr class="leg" data-leg-id="${esc(id)}"><td>${esc(l.endpoint)}</td><td class="states">${l.states
        .map(([s, t]) => `<span class="state s-${esc(s)}" title="${esc(t)}">${esc(s)}</span>`)
        .join(' → ')}</td></tr>`,
  );
  return `<table id="legs"><tr><th>Leg</th><th>States</th></tr>\n${rows.join('\n')}</table>`;
}

function timeline(events: CallEvent[]): string {
  const rows = events.map(
    (ev) => `<tr class="event" data-event-id="${esc(ev.id)}"><td class="t">${esc(time(ev.event_time))}</td><td>${esc(ev.event_name)}</td><td>${esc(ev.context)}</td>
<td>${esc(ev.endpoint ?? '')}</td><td>${ev.state ? `<span class="state s-${esc(ev.state)}">${esc(ev.state)}</span>` : ''}</td><td>${details(ev)}</td></tr>`,
  );
  return `<table id="timeline"><tr><th>Time</th><th>Event</th><th>Context</th><th>Endpoint</th><th>State</th><th>Details</th></tr>\n${rows.join('\n')}</table>`;
}

function prettyBody(body: string | null): string {
  if (body === null) return '';
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function delivery(d: DeliveryWithAttempts, wh: WebhookConfig | undefined, userAgent: string): string {
  const target =
    wh?.sink === 'amqp'
      ? `publish to ${maskUrl(wh.url)} exchange ${wh.exchange ?? ''}, routing key ${d.url}`
      : `${d.method} ${maskUrl(d.url)}`;
  const headers = requestHeaders(d, wh, userAgent)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  const attempts = d.history.length
    ? `<table class="attempts"><tr><th>#</th><th>At</th><th>Status</th><th>ms</th><th>Error</th><th>Response</th></tr>
${d.history
  .map(
    (a) =>
      `<tr class="attempt"><td>${a.attempt}</td><td class="t">${esc(time(a.at))}</td><td class="http-status">${esc(a.status ?? '-')}</td><td>${esc(a.ms ?? '-')}</td><td>${esc(a.error ?? '')}</td><td><code>${esc(a.response ?? '')}</code></td></tr>`,
  )
  .join('\n')}</table>`
    : `<p class="muted">Not tried yet${d.status === 'dead' ? '' : `: next at ${esc(time(d.next_attempt_at))}`}.</p>`;
  return `<tr class="delivery" data-delivery-id="${d.id}"><td>${d.id}</td><td>${esc(d.webhook)}</td><td>${esc(d.event_name)}</td>
<td class="st-${esc(d.status)} delivery-status">${esc(d.status)}</td><td>${d.attempts}</td>
<td><details><summary>${esc(target)}</summary><pre class="request-headers">${esc(headers)}</pre><pre class="request-body">${esc(prettyBody(d.body))}</pre></details>${attempts}</td></tr>`;
}

/** one call's page, or null when the store has nothing of it */
export function renderCall(src: WebSource, callKey: string): string | null {
  const events = parse(src.callEvents(callKey));
  const deliveries = src.callDeliveries(callKey);
  const liveCall = src.liveCalls().find((c) => `${c.pbx}:${c.call_id}` === callKey);
  if (events.length === 0 && deliveries.length === 0 && !liveCall) return null;
  const first = events[0];
  const byName = new Map(src.webhooks().map((w) => [w.name, w]));
  const summary = first
    ? `<p>${esc(first.direction ?? '')} call from <b>${esc(first.src ?? '?')}</b>${first.src_name ? ` (${esc(first.src_name)})` : ''} to <b>${esc(first.dst ?? '?')}</b>, started ${esc(time(first.start_time ?? first.event_time))}${liveCall ? ' · <span class="live">live</span>' : ''}</p>`
    : '';
  return page(
    `call ${callKey}`,
    `<h1>Call <code>${esc(callKey)}</code></h1>
${summary}
<h2>Legs</h2>
${legTable(events)}
<h2>Timeline</h2>
${events.length ? timeline(events) : '<p class="muted">No event kept (older than storage.retention).</p>'}
<h2>Deliveries (${deliveries.length})</h2>
${deliveries.length ? `<table id="deliveries"><tr><th>ID</th><th>Webhook</th><th>Event</th><th>Status</th><th>Tries</th><th>Request and attempts</th></tr>\n${deliveries.map((d) => delivery(d, byName.get(d.webhook), src.userAgent)).join('\n')}</table>` : '<p class="muted">No delivery.</p>'}`,
    src.version,
  );
}

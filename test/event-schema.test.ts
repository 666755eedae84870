/**
 * The public event reference (#13 point 2) holds for what callhook really sends: every event
 * of every capture (real Asterisk and FreeSWITCH streams of every flow we have), rendered
 * as a `format: default` webhook renders it, is valid against schema/event.schema.json;
 * the schema is strict enough to fail a body that drifts; and docs/asyncapi.yaml is a valid
 * AsyncAPI 3.0.0 document whose channels carry that schema and the headers callhook sets.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EVENT_NAMES, type CallEvent } from '../src/calls/events.js';
import type { PbxType } from '../src/calls/signals.js';
import { configSchema } from '../src/config/schema.js';
import { signatureHeaders } from '../src/delivery/signing.js';
import { renderFor } from '../src/hooks/render.js';
import { amqpAddress } from '../src/hooks/router.js';
import { sampleEvent } from '../src/hooks/sample.js';
import { Pipeline } from '../src/pipeline.js';
import { createDecoder, decodeCapture } from '../src/pbx/capture.js';
import { createLogger } from '../src/observe/logger.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2020) => void;
const SCHEMA = JSON.parse(readFileSync('schema/event.schema.json', 'utf8')) as Record<string, unknown>;
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
const validate = ajv.compile(SCHEMA);

function captures(type: PbxType): string[] {
  const dir = `test/fixtures/${type}`;
  const ext = type === 'asterisk' ? /\.ami$/ : /\.(json|plain)\.esl$|\/live\/.*\.esl$/;
  return [dir, `${dir}/live`].flatMap((d) => readdirSync(d).map((f) => join(d, f))).filter((f) => ext.test(f));
}

/** every event of the capture, as the daemon emits it (recording URLs filled in), until the last call ends */
async function eventsOf(type: PbxType, file: string | Buffer): Promise<CallEvent[]> {
  const out: CallEvent[] = [];
  const config = configSchema.parse({
    pbx: [{
      name: 'pbx1', type, secret: 'x', username: type === 'asterisk' ? 'x' : undefined, wrapup_time: '2s',
      trunks: ['PJSIP/caller*', 'PJSIP/external*', 'sofia/gateway/*', 'sofia/external/*'], ivrs: [{ name: 'main-menu', exten: '300' }],
    }],
    calls: { recording_variable: 'MIXMONITOR_FILENAME', recording_url: 'https://pbx.example.com/rec/{{call_id}}.wav' },
  });
  const pipeline = new Pipeline({ ...config, webhooks: [] }, null, createLogger({ level: 'silent' }), { onEvent: (ev) => out.push(ev) });
  if (typeof file === 'string') pipeline.handle('pbx1', await decodeCapture(type, file, { keepVariables: ['MIXMONITOR_FILENAME'] }));
  else pipeline.handle('pbx1', (await createDecoder(type)).push(file, Date.parse('2026-11-21T10:00:00Z')));
  pipeline.tick(0);
  pipeline.tick(3_600_000);
  return out;
}

const defaultWebhook = configSchema.parse({
  pbx: [{ name: 'pbx1', type: 'asterisk', secret: 'x', username: 'x' }],
  webhooks: [{ name: 'crm', url: 'https://crm.example.com/hooks', events: ['*'] }],
}).webhooks[0];

function body(ev: CallEvent): unknown {
  const r = renderFor(ev, defaultWebhook)!;
  return JSON.parse(r.body!);
}

describe('schema/event.schema.json', () => {
  it('every event of every capture, as the default format sends it, is valid', async () => {
    const seen = new Set<string>();
    let n = 0;
    for (const type of ['asterisk', 'freeswitch'] as const) {
      for (const file of captures(type)) {
        for (const ev of await eventsOf(type, file)) {
          const b = body(ev);
          const ok = validate(b);
          expect(ok, `${file} ${ev.event_name} #${ev.sequence}: ${ajv.errorsText(validate.errors)}`).toBe(true);
          seen.add(ev.event_name);
          n++;
        }
      }
    }
    // queue members' state: no capture holds it (the lab's members were static), so these
    // frames follow the fields of the captures' QueueMemberStatus (as test/ami-agents.test.ts)
    const member = (event: string, extra: string) =>
      `Event: ${event}\r\nPrivilege: agent,all\r\nQueue: support\r\nMemberName: Agent One\r\nInterface: PJSIP/agent1\r\n` +
      `StateInterface: PJSIP/agent1\r\nMembership: dynamic\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nStatus: 1\r\n${extra}\r\n`;
    const agents = Buffer.from('Asterisk Call Manager/13.0.0\r\n' + member('QueueMemberAdded', 'Paused: 0\r\n') +
      member('QueueMemberPause', 'Paused: 1\r\nPausedReason: lunch\r\n') + member('QueueMemberPause', 'Paused: 0\r\n') + member('QueueMemberRemoved', ''));
    for (const ev of await eventsOf('asterisk', agents)) {
      expect(validate(body(ev)), `${ev.event_name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      seen.add(ev.event_name);
    }
    expect(n).toBeGreaterThan(500);
    expect(EVENT_NAMES.filter((e) => !seen.has(e))).toEqual([]);
    expect(validate(body(sampleEvent('call.connected')))).toBe(true);
  });

  it('fails a body that drifts from it: a field missing, a field added, a value out of its set', async () => {
    const ev = body((await eventsOf('asterisk', 'test/fixtures/asterisk/h-queue-answered.ami'))[0]) as Record<string, unknown>;
    expect(validate(ev)).toBe(true);
    const { sip_status: _gone, ...missing } = ev;
    expect(validate(missing)).toBe(false);
    expect(validate({ ...ev, extra: 1 })).toBe(false);
    expect(validate({ ...ev, state: 'TALKING' })).toBe(false);
    expect(validate({ ...ev, event_time: 'yesterday' })).toBe(false);
    expect(validate({ ...ev, event_name: 'call.reporting' })).toBe(false); // without its reporting
  });
});

describe('docs/asyncapi.yaml', () => {
  const file = 'docs/asyncapi.yaml';
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;

  it('is a valid AsyncAPI 3.0.0 document', () => {
    const spec = JSON.parse(readFileSync('node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json', 'utf8')) as Record<string, unknown>;
    const v = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const check = v.compile(spec);
    expect(check(doc), v.errorsText(check.errors)).toBe(true);
    expect(doc.asyncapi).toBe('3.0.0');
  });

  it('carries the event schema and the headers callhook sends on each channel', () => {
    const ev = sampleEvent('call.connected');
    for (const name of ['webhookEvent', 'amqpEvent']) {
      const payload = doc.components.messages[name].payload;
      expect(payload.schemaFormat).toBe('application/schema+json;version=draft-2020-12');
      expect(JSON.parse(readFileSync(resolve(dirname(file), payload.schema.$ref), 'utf8'))).toEqual(SCHEMA);
    }
    const amqpHeaders = Object.keys(JSON.parse(amqpAddress(ev).headers) as object);
    expect(doc.components.messages.amqpEvent.headers.required).toEqual(amqpHeaders);
    const signed = Object.keys(signatureHeaders('whsec_dGVzdA==', ev.id, 1, '{}'));
    for (const h of signed) {
      expect(doc.components.messages.webhookEvent.headers.properties).toHaveProperty(h);
      expect(doc.components.messages.amqpEvent.headers.properties).toHaveProperty(h);
    }
    // the routing key, as the channel address names it
    expect(doc.channels.amqp.address.replace('{pbx}', ev.pbx.name).replace('{context}', ev.context).replace('{event_name}', ev.event_name)).toBe(amqpAddress(ev).url);
  });
});

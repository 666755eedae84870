// Real captures (test/fixtures) through simulate (framer, translator, tracker) and the router,
// rendered in every format: what each receiver would get for real calls.
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import type { PbxType } from '../src/calls/signals.js';
import type { Config, WebhookConfig } from '../src/config/types.js';
import type { RenderedDelivery } from '../src/delivery/types.js';
import { Router } from '../src/hooks/router.js';
import { simulate, simulatedPbx } from '../src/simulate.js';
import { webhookConfig } from './helpers/webhook.js';

function hook(name: string, over: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookConfig({ name, url: `https://example.com/${name}`, ...over });
}

const WEBHOOKS = [
  hook('default'),
  hook('voipstudio', { format: 'voipstudio' }),
  hook('voiso', { format: 'voiso', token: 'voiso-key' }),
  hook('ziwo', { format: 'ziwo' }),
  hook('template', { format: 'template', template: '{"agent":"{{endpoint}}","ani":"{{src}}","queue":{{queue.name}},"dur":{{duration}},"ev":"#event_name#"}' }),
  hook('get', { method: 'GET', url: 'https://example.com/get?k=1' }),
];

async function run(type: PbxType, file: string, trunks: string[]): Promise<{ events: CallEvent[]; out: RenderedDelivery[] }> {
  const config = { pbx: [{ ...simulatedPbx(type), trunks }], calls: { recording_variable: null, recording_url: null } } as unknown as Config;
  const events = await simulate(type, `test/fixtures/${type}/${file}`, config);
  const router = new Router(WEBHOOKS);
  return { events, out: events.flatMap((e) => router.route(e)) };
}

const bodies = (out: RenderedDelivery[], webhook: string) =>
  out.filter((d) => d.webhook === webhook).map((d) => JSON.parse(d.body!) as Record<string, any>);

const YMD_HIS = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;
const ISO_S = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

describe('asterisk a: inbound call answered by agent1, caller hangs up', () => {
  it('every format renders every event it sends', async () => {
    const { events, out } = await run('asterisk', 'a-answered-caller-hangup.ami', ['PJSIP/caller-*']);
    expect(events.length).toBeGreaterThan(3);

    const def = bodies(out, 'default');
    expect(def).toEqual(events.map((e) => JSON.parse(JSON.stringify(e))));
    for (const d of out) expect(d.callKey).toBe(`pbx1:${events[0].call_id}`);
    expect(out.filter((d) => d.webhook === 'default').map((d) => d.eventId)).toEqual(events.map((e) => e.id));

    const vs = bodies(out, 'voipstudio');
    expect(vs.map((b) => b.event_name)).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    for (const b of vs) {
      expect(b.event_time).toMatch(YMD_HIS);
      expect(b.start_time).toMatch(YMD_HIS);
      expect(b.destination).toBe('in');
      expect(b.context).toBe('LOCAL_USER');
      expect(b.src).toBe('+15551230001');
      expect(b.dst_id).toBe('PJSIP/agent1');
      expect(b.src_id).toBeNull();
      expect(b.src_hash).toBe(vs[0].src_hash);
    }
    expect(vs.map((b) => b.state)).toEqual(['INITIAL', 'RINGING', 'CONNECTED', 'HANGUP']);
    expect(vs.map((b) => b.connected_at === null)).toEqual([true, true, false, false]);
    expect(vs[3].t_cause).toBe('Normal Clearing');
    expect(vs[3].duration).toBeGreaterThan(0);

    const vo = bodies(out, 'voiso');
    expect(vo.map((b) => b.event)).toEqual(['inbound.call.answered', 'inbound.call.hangup']);
    for (const b of vo) {
      expect(b.key).toBe('voiso-key');
      expect(b.timestamp).toMatch(ISO_S);
      expect(b.payload.agent).toEqual({ id: 'PJSIP/agent1', name: expect.anything(), extension: 'agent1' });
      expect(b.payload.calling_number).toBe('+15551230001');
    }
    expect(vo[1].payload.disposition).toBe('answered');

    const zi = bodies(out, 'ziwo');
    expect(zi.map((b) => b.type)).toEqual(['initiated', 'ringing', 'answered', 'hangup']);
    for (const b of zi) {
      expect(b.coreUUID).toBe(events[0].call_id);
      expect(b.startedAtEpoch).toMatch(/^\d{16}$/);
      expect(BigInt(b.startedAtEpoch) / 1000n).toBe(BigInt(Date.parse(b.startedAt)));
    }

    const tp = bodies(out, 'template');
    expect(tp).toHaveLength(events.length);
    expect(tp[2]).toMatchObject({ agent: 'PJSIP/agent1', ani: '+15551230001', queue: null, ev: 'call.connected' });

    const get = out.filter((d) => d.webhook === 'get');
    expect(get).toHaveLength(events.length);
    for (const d of get) {
      expect(d.body).toBeNull();
      expect(new URL(d.url).searchParams.get('id')).toBe(d.eventId);
      expect(new URL(d.url).searchParams.get('k')).toBe('1');
    }
  });
});

describe('asterisk h: queue call, agent1 answers while agent2 rings', () => {
  it('voiso gets one answered and one hangup; voipstudio shows the QUEUE stay', async () => {
    const { out } = await run('asterisk', 'h-queue-answered.ami', ['PJSIP/caller-*']);
    const vo = bodies(out, 'voiso');
    expect(vo.map((b) => [b.event, b.payload.agent?.id ?? null])).toEqual([
      ['inbound.call.answered', 'PJSIP/agent1'],
      ['inbound.call.hangup', 'PJSIP/agent1'],
    ]);
    expect(vo[0].payload.queue).toBe('support');
    const queue = bodies(out, 'voipstudio').filter((b) => b.context === 'QUEUE');
    expect(queue.map((b) => b.event_name)).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
  });
});

describe('asterisk i: caller abandons the queue', () => {
  it('voiso reports the abandoned stay as the inbound hangup; voipstudio a QUEUE call.missed', async () => {
    const { out } = await run('asterisk', 'i-queue-abandoned.ami', ['PJSIP/caller-*']);
    const vo = bodies(out, 'voiso');
    expect(vo.map((b) => b.event)).toEqual(['inbound.call.hangup']);
    expect(vo[0].payload.disposition).toBe('abandoned');
    expect(vo[0].payload.queue).toBe('support');
    const missed = bodies(out, 'voipstudio').filter((b) => b.event_name === 'call.missed');
    expect(missed.map((b) => [b.context, b.state])).toContainEqual(['QUEUE', 'HANGUP']);
  });
});

describe('asterisk c: direct call to agent1, nobody answers', () => {
  it('voiso sends one missed inbound hangup; voipstudio call.missed then call.hangup', async () => {
    const { out } = await run('asterisk', 'c-no-answer-dial-timeout.ami', ['PJSIP/caller-*']);
    const vo = bodies(out, 'voiso');
    expect(vo.map((b) => [b.event, b.payload.disposition])).toEqual([['inbound.call.hangup', 'missed']]);
    const vs = bodies(out, 'voipstudio');
    expect(vs.map((b) => b.event_name).slice(-2)).toEqual(['call.missed', 'call.hangup']);
    expect(vs.at(-2)!.connected_at).toBeNull();
  });
});

describe('asterisk g and f: DTMF and hold', () => {
  it('voipstudio dtmf_tag per digit, pressed by the (outside) caller', async () => {
    const { out } = await run('asterisk', 'g-dtmf-info-midcall.ami', ['PJSIP/caller-*']);
    const dtmf = bodies(out, 'voipstudio').filter((b) => b.event_name === 'call.dtmf');
    expect(dtmf.map((b) => b.dtmf_tag)).toEqual(['1', '2', '#']);
    for (const b of dtmf) {
      expect(b.dtmf_target).toBe('caller');
      expect(b.src_id).toBeNull();
    }
    expect(bodies(out, 'ziwo').filter((b) => b.type === 'dtmf').map((b) => b.data.digits)).toEqual(['1', '12', '12#']);
  });

  it('hold/unhold states in voipstudio and ziwo', async () => {
    const { out } = await run('asterisk', 'f-hold-unhold.ami', ['PJSIP/caller-*']);
    const vs = bodies(out, 'voipstudio').filter((b) => b.event_name === 'call.hold' || b.event_name === 'call.unhold');
    expect(vs.length).toBeGreaterThan(0);
    for (const b of vs) expect(b.state).toBe(b.event_name === 'call.hold' ? 'ON_HOLD' : 'CONNECTED');
    expect(bodies(out, 'ziwo').filter((b) => b.type === 'hold').every((b) => b.flags.onHold)).toBe(true);
  });
});

describe('freeswitch a: inbound call answered', () => {
  it('renders FreeSWITCH endpoints and times the same way', async () => {
    const { out } = await run('freeswitch', 'a-answered-caller-bye.plain.esl', ['sofia/internal/1555*']);
    const vs = bodies(out, 'voipstudio');
    expect(vs.map((b) => b.event_name)).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    expect(vs.every((b) => b.dst_id === 'sofia/internal/agent1' && b.destination === 'in')).toBe(true);
    expect(bodies(out, 'voiso').map((b) => b.event)).toEqual(['inbound.call.answered', 'inbound.call.hangup']);
  });
});

describe('filters on real events', () => {
  it('context, direction and number globs select the right deliveries', async () => {
    const config = { pbx: [{ ...simulatedPbx('asterisk'), trunks: ['PJSIP/caller-*'] }], calls: { recording_variable: null, recording_url: null } } as unknown as Config;
    const events = await simulate('asterisk', 'test/fixtures/asterisk/h-queue-answered.ami', config);
    const router = new Router([
      hook('queue-only', { filter: { context: ['QUEUE'] } }),
      hook('agent1-answers', { events: ['call.connected'], filter: { context: ['LOCAL_USER'], direction: ['in'], src: ['+1555*'] } }),
      hook('out-only', { filter: { direction: ['out'] } }),
    ]);
    const out = events.flatMap((e) => router.route(e));
    expect(out.filter((d) => d.webhook === 'queue-only').map((d) => d.eventName)).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    expect(out.filter((d) => d.webhook === 'agent1-answers').map((d) => JSON.parse(d.body!).endpoint)).toEqual(['PJSIP/agent1']);
    expect(out.filter((d) => d.webhook === 'out-only')).toEqual([]);
  });
});

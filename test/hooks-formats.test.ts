// Payload formats, field by field: default (canonical), voipstudio, voiso, ziwo, and GET queries.
import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, type CallEvent, type EventName } from '../src/calls/events.js';
import type { WebhookConfig } from '../src/config/types.js';
import { renderFor } from '../src/hooks/render.js';
import { sampleEvent } from '../src/hooks/sample.js';
import { webhookConfig } from './helpers/webhook.js';

const NOW = Date.UTC(2026, 10, 21, 10, 15, 40); // 2026-11-21T10:15:40.123Z after sampleEvent's +123ms

const hook = webhookConfig;

const ev = (name: EventName, over: Partial<CallEvent> = {}): CallEvent => ({
  ...sampleEvent(name, { name: 'pbx1', type: 'asterisk' }, { now: NOW, id: `evt-${name}` }),
  ...over,
});

function body(e: CallEvent, w: WebhookConfig): Record<string, any> {
  const r = renderFor(e, w);
  expect(r).not.toBeNull();
  expect(r!.contentType).toBe('application/json');
  return JSON.parse(r!.body!);
}

const YMD_HIS = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

describe('default format', () => {
  const CANONICAL_KEYS = [
    'id', 'event_name', 'event_time', 'sequence', 'call_id', 'leg_id', 'context', 'state', 'previous_state',
    'direction', 'src', 'src_name', 'dst', 'dst_name', 'endpoint', 'queue', 'start_time', 'ringing_at',
    'connected_at', 'ended_at', 'duration', 'ring_duration', 'talk_duration', 'hangup_cause',
    'hangup_cause_code', 'sip_status', 'dtmf', 'hold', 'digits', 'recording_url', 'pbx', 'signal',
  ];

  it('is the canonical event as is, every DESIGN §3 field present (null when unknown)', () => {
    for (const name of EVENT_NAMES) {
      const e = ev(name);
      const b = body(e, hook());
      for (const k of CANONICAL_KEYS) expect(b, `${name}.${k}`).toHaveProperty(k);
      expect(b).toEqual(JSON.parse(JSON.stringify(e)));
    }
    const ringing = body(ev('call.ringing'), hook());
    expect(ringing.connected_at).toBeNull();
    expect(ringing.hangup_cause).toBeNull();
    expect(ringing.event_time).toBe('2026-11-21T10:15:40.123Z');
    expect(body(ev('call.reporting'), hook()).reporting.legs).toHaveLength(2);
    expect(body(ev('agent.paused'), hook()).agent).toEqual({ member: 'PJSIP/1001', name: 'Bob Agent', queue: 'support', reason: 'lunch' });
  });

  it('GET sends the fields as query parameters: dotted keys, null empty, + encoded', () => {
    const r = renderFor(ev('call.connected'), hook({ method: 'GET', url: 'https://crm.example.com/hook?key=abc' }))!;
    expect(r.body).toBeNull();
    expect(r.contentType).toBeNull();
    const u = new URL(r.url);
    expect(u.searchParams.get('key')).toBe('abc');
    expect(u.searchParams.get('event_name')).toBe('call.connected');
    expect(u.searchParams.get('src')).toBe('+442071234567');
    expect(r.url).toContain('src=%2B442071234567');
    expect(u.searchParams.get('queue.name')).toBe('support');
    expect(u.searchParams.get('pbx.name')).toBe('pbx1');
    expect(u.searchParams.get('ended_at')).toBe('');
    expect(u.searchParams.get('dtmf')).toBe('');
    expect(u.searchParams.get('sequence')).toBe('3');
    expect(u.searchParams.get('src_name')).toBe('Alice Smith');
    expect(r.url).toContain('src_name=Alice%20Smith');
  });
});

describe('voipstudio format', () => {
  const w = hook({ format: 'voipstudio' });
  const FIELDS = [
    'id', 'event_time', 'event_name', 'call_id', 'state', 'connected_at', 'start_time', 'context', 'destination',
    'duration', 't_cause', 'src', 'src_id', 'src_name', 'src_hash', 'dst', 'dst_id', 'dst_name',
  ];

  it('connected: field names, "Y-m-d H:i:s" UTC times, state, ids', () => {
    const b = body(ev('call.connected'), w);
    expect(Object.keys(b).sort()).toEqual([...FIELDS].sort());
    expect(b.id).toBe('evt-call.connected');
    expect(b.event_name).toBe('call.connected');
    expect(b.event_time).toBe('2026-11-21 10:15:40');
    expect(b.start_time).toBe('2026-11-21 10:15:00');
    expect(b.connected_at).toBe('2026-11-21 10:15:10');
    expect(b.state).toBe('CONNECTED');
    expect(b.context).toBe('LOCAL_USER');
    expect(b.destination).toBe('in');
    expect(b.duration).toBe(0);
    expect(b.t_cause).toBeNull();
    expect(b.src).toBe('+442071234567');
    expect(b.src_name).toBe('Alice Smith');
    expect(b.src_id).toBeNull();
    expect(b.dst).toBe('1001');
    expect(b.dst_id).toBe('PJSIP/1001');
    expect(b.dst_name).toBe('Bob Agent');
    expect(b.src_hash).toMatch(/^[0-9a-f]{32}$/);
    expect(b.call_id).toBe(ev('call.connected').call_id);
  });

  it('src_hash is the same on every event of a call and differs between calls', () => {
    const a = body(ev('call.ringing'), w).src_hash;
    expect(body(ev('call.hangup'), w).src_hash).toBe(a);
    expect(body(ev('call.ringing', { call_id: 'other' }), w).src_hash).not.toBe(a);
  });

  it('ringing: connected_at null; initial: INITIAL', () => {
    const b = body(ev('call.ringing'), w);
    expect(b.state).toBe('RINGING');
    expect(b.connected_at).toBeNull();
    expect(body(ev('call.initial'), w).state).toBe('INITIAL');
  });

  it('hangup and missed: HANGUP, t_cause as text, whole-second duration', () => {
    const h = body(ev('call.hangup'), w);
    expect(h.state).toBe('HANGUP');
    expect(h.t_cause).toBe('Normal Clearing');
    expect(h.duration).toBe(40);
    expect(Number.isInteger(h.duration)).toBe(true);
    const m = body(ev('call.missed'), w);
    expect(m.event_name).toBe('call.missed');
    expect(m.state).toBe('HANGUP');
    expect(m.connected_at).toBeNull();
    expect(m.t_cause).toBe('No Answer');
  });

  it('hold / unhold: ON_HOLD then CONNECTED', () => {
    expect(body(ev('call.hold'), w).state).toBe('ON_HOLD');
    expect(body(ev('call.unhold'), w).state).toBe('CONNECTED');
  });

  it('queue context stays QUEUE; outbound and internal are "out" with src_id the local endpoint', () => {
    expect(body(ev('call.ringing', { context: 'QUEUE', endpoint: null }), w).context).toBe('QUEUE');
    const out = body(ev('call.connected', { direction: 'out', src: '1001', dst: '+15551234' }), w);
    expect(out.destination).toBe('out');
    expect(out.src_id).toBe('PJSIP/1001');
    expect(out.dst_id).toBeNull();
    const internal = body(ev('call.connected', { direction: 'internal', src: '1002', dst: '1001' }), w);
    expect(internal.destination).toBe('out');
    expect(internal.dst_id).toBe('PJSIP/1001');
    expect(internal.src_id).toBeNull();
  });

  it('dtmf: dtmf_tag and dtmf_target, only on call.dtmf', () => {
    const d = body(ev('call.dtmf'), w);
    expect(d.event_name).toBe('call.dtmf');
    expect(d.dtmf_tag).toBe('5');
    expect(d.dtmf_target).toBe('callee');
    expect(d.context).toBe('LOCAL_USER');
    expect(body(ev('call.connected'), w)).not.toHaveProperty('dtmf_tag');
  });

  it('does not send reporting, agent or ivr events', () => {
    for (const n of ['call.reporting', 'agent.login', 'agent.paused', 'ivr.start'] as const) {
      expect(renderFor(ev(n), w), n).toBeNull();
    }
  });
});

describe('voiso format', () => {
  const w = hook({ format: 'voiso', name: 'voiso-crm', token: 'k3y-123' });

  it('inbound answered: envelope {name, event, entity, timestamp, key, payload}', () => {
    const b = body(ev('call.connected'), w);
    expect(Object.keys(b)).toEqual(['name', 'event', 'entity', 'timestamp', 'key', 'payload']);
    expect(b.name).toBe('voiso-crm');
    expect(b.event).toBe('inbound.call.answered');
    expect(b.entity).toBe('call');
    expect(b.timestamp).toBe('2026-11-21T10:15:40Z');
    expect(b.key).toBe('k3y-123');
    const p = b.payload;
    expect(p.id).toBe(ev('call.connected').call_id);
    expect(p.type).toBe('inbound');
    expect(p.start_time).toBe('2026-11-21T10:15:00Z');
    expect(p.agent_start_time).toBe('2026-11-21T10:15:10Z');
    expect(p.end_time).toBeNull();
    expect(p.duration).toEqual({ total: null, queue_time: 5, talk_time: null });
    expect(p.queue).toBe('support');
    expect(p.calling_number).toBe('+442071234567');
    expect(p.called_number).toBe('1001');
    expect(p.agent).toEqual({ id: 'PJSIP/1001', name: 'Bob Agent', extension: '1001' });
    expect(p.disposition).toBeNull();
  });

  it('inbound hangup carries end time, durations and disposition', () => {
    const b = body(ev('call.hangup'), w);
    expect(b.event).toBe('inbound.call.hangup');
    expect(b.payload.end_time).toBe('2026-11-21T10:15:40Z');
    expect(b.payload.duration).toEqual({ total: 40, queue_time: 5, talk_time: 30 });
    expect(b.payload.disposition).toBe('answered');
    expect(b.payload.hangup_cause).toBe('NORMAL_CLEARING');
  });

  it('outbound answered / hangup; agent is the caller side', () => {
    const o = { direction: 'out' as const, src: '1001', src_name: 'Bob Agent', dst: '+15551234', dst_name: null, queue: null };
    const a = body(ev('call.connected', o), w);
    expect(a.event).toBe('outbound.call.answered');
    expect(a.payload.type).toBe('outbound');
    expect(a.payload.agent.name).toBe('Bob Agent');
    expect(a.payload.queue).toBeNull();
    expect(a.payload.duration.queue_time).toBeNull();
    expect(body(ev('call.hangup', o), w).event).toBe('outbound.call.hangup');
  });

  it('an abandoned queue stay is an inbound hangup; other events, internal calls and answered queue stays are not sent', () => {
    const abandoned = ev('call.hangup', {
      context: 'QUEUE', endpoint: null, connected_at: null,
      queue: { name: 'support', position: 1, wait_seconds: 30, disposition: 'abandoned' },
    });
    const b = body(abandoned, w);
    expect(b.event).toBe('inbound.call.hangup');
    expect(b.payload.disposition).toBe('abandoned');
    expect(b.payload.agent).toBeNull();
    expect(renderFor(ev('call.hangup', { context: 'QUEUE', endpoint: null }), w)).toBeNull();
    expect(renderFor(ev('call.connected', { context: 'QUEUE' }), w)).toBeNull();
    expect(renderFor(ev('call.connected', { direction: 'internal' }), w)).toBeNull();
    for (const n of ['call.initial', 'call.ringing', 'call.missed', 'call.hold', 'call.dtmf', 'call.reporting', 'agent.login'] as const) {
      expect(renderFor(ev(n), w), n).toBeNull();
    }
  });

  it('key is null without a token; name and key differ per webhook', () => {
    expect(body(ev('call.connected'), hook({ format: 'voiso' })).key).toBeNull();
  });
});

describe('ziwo format', () => {
  const w = hook({ format: 'ziwo' });
  it('answered: ids, caller/callee, startedAt ISO and startedAtEpoch microseconds string', () => {
    const e = ev('call.connected');
    const b = body(e, w);
    expect(Object.keys(b).sort()).toEqual([
      'calleeIdName', 'calleeIdNumber', 'callerIdName', 'callerIdNumber', 'callID', 'coreUUID', 'data', 'flags',
      'otherLegCallID', 'startedAt', 'startedAtEpoch', 'type',
    ].sort());
    expect(b.coreUUID).toBe(e.call_id);
    expect(b.callID).toBe(e.leg_id);
    expect(b.otherLegCallID).toBeNull();
    expect(b.type).toBe('answered');
    expect(b.callerIdName).toBe('Alice Smith');
    expect(b.callerIdNumber).toBe('+442071234567');
    expect(b.calleeIdName).toBe('Bob Agent');
    expect(b.calleeIdNumber).toBe('1001');
    expect(b.startedAt).toBe('2026-11-21T10:15:00.123Z');
    expect(typeof b.startedAtEpoch).toBe('string');
    expect(b.startedAtEpoch).toBe(String(Date.parse('2026-11-21T10:15:00.123Z') * 1000));
    expect(b.flags).toEqual({ inbound: true, outbound: false, internal: false, queue: true, onHold: false, missed: false, recorded: false });
    expect(b.data.queueName).toBe('support');
    expect(b.data.answeredAt).toBe('2026-11-21T10:15:10.123Z');
    expect(b.data.endedAt).toBeNull();
  });

  it('types per event; hold, missed and dtmf details', () => {
    const types = Object.fromEntries(
      (['call.initial', 'call.ringing', 'call.hold', 'call.unhold', 'call.missed', 'call.hangup', 'call.dtmf'] as const)
        .map((n) => [n, body(ev(n), w).type]),
    );
    expect(types).toEqual({
      'call.initial': 'initiated', 'call.ringing': 'ringing', 'call.hold': 'hold', 'call.unhold': 'unhold',
      'call.missed': 'missed', 'call.hangup': 'hangup', 'call.dtmf': 'dtmf',
    });
    expect(body(ev('call.hold'), w).flags.onHold).toBe(true);
    expect(body(ev('call.hold'), w).data.holdBy).toBe('local');
    expect(body(ev('call.missed'), w).flags.missed).toBe(true);
    const d = body(ev('call.dtmf'), w).data;
    expect(d.dtmfDigit).toBe('5');
    expect(d.dtmfPressedBy).toBe('callee');
    expect(d.digits).toBe('15');
    const h = body(ev('call.hangup'), w);
    expect(h.data.hangupCause).toBe('NORMAL_CLEARING');
    expect(h.data.hangupCauseCode).toBe(16);
    expect(h.flags.recorded).toBe(true);
  });

  it('startedAt/startedAtEpoch null when the start is unknown; reporting and agent events not sent', () => {
    const b = body(ev('call.initial', { start_time: null }), w);
    expect(b.startedAt).toBeNull();
    expect(b.startedAtEpoch).toBeNull();
    expect(renderFor(ev('call.reporting'), w)).toBeNull();
    expect(renderFor(ev('agent.logout'), w)).toBeNull();
  });
});

describe('sample events', () => {
  it('are complete for every event name and both PBX types, with fresh ids', () => {
    for (const type of ['asterisk', 'freeswitch'] as const) {
      for (const name of EVENT_NAMES) {
        const e = sampleEvent(name, { name: 'p', type });
        expect(e.event_name).toBe(name);
        expect(e.pbx).toEqual({ name: 'p', type });
        for (const [k, v] of Object.entries(e)) expect(v, `${type} ${name}.${k}`).not.toBeUndefined();
        expect(Number.isNaN(Date.parse(e.event_time))).toBe(false);
      }
    }
    expect(sampleEvent('call.connected').id).not.toBe(sampleEvent('call.connected').id);
    expect(sampleEvent('call.connected', { name: 'fs', type: 'freeswitch' }).endpoint).toBe('sofia/internal/1001');
  });
});

// Router: event lists, filters (context, direction, queue, pbx, src/dst globs), disabled webhooks, delivery fields.
import { describe, expect, it } from 'vitest';
import type { CallEvent, EventName } from '../src/calls/events.js';
import type { WebhookConfig } from '../src/config/types.js';
import { Router, callKeyOf } from '../src/hooks/router.js';
import { sampleEvent } from '../src/hooks/sample.js';
import { webhookConfig } from './helpers/webhook.js';

const NOW = Date.UTC(2026, 10, 21, 10, 15, 40);

function hook(name: string, over: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookConfig({ name, url: `https://example.com/${name}`, ...over });
}

const ev = (name: EventName, over: Partial<CallEvent> = {}): CallEvent => ({
  ...sampleEvent(name, { name: 'pbx1', type: 'asterisk' }, { now: NOW, id: `evt-${name}` }),
  ...over,
});

const names = (r: Router, e: CallEvent) => r.route(e).map((d) => d.webhook);

describe('Router', () => {
  it('sends to webhooks listing the event or "*", skips disabled ones', () => {
    const r = new Router([
      hook('all'),
      hook('answers', { events: ['call.connected', 'call.hangup'] }),
      hook('off', { enabled: false }),
    ]);
    expect(names(r, ev('call.connected'))).toEqual(['all', 'answers']);
    expect(names(r, ev('call.ringing'))).toEqual(['all']);
    expect(r.webhookNames).toEqual(['all', 'answers']);
  });

  it('fills the delivery: event id as webhook id, callKey, method, url, body, content type', () => {
    const r = new Router([hook('crm'), hook('get', { method: 'GET' })]);
    const e = ev('call.hangup');
    const [post, get] = r.route(e);
    expect(post).toMatchObject({
      eventId: 'evt-call.hangup', webhook: 'crm', callKey: `pbx1:${e.call_id}`, eventName: 'call.hangup',
      method: 'POST', url: 'https://example.com/crm', contentType: 'application/json',
    });
    expect(JSON.parse(post.body!).id).toBe('evt-call.hangup');

    expect(get.method).toBe('GET');
    expect(get.body).toBeNull();
    expect(get.url).toMatch(/^https:\/\/example\.com\/get\?id=evt-call\.hangup&/);
  });

  it('formats with their own ids still use the event id; agent events key on the member', () => {
    const r = new Router([hook('vs', { format: 'voipstudio' }), hook('z', { format: 'ziwo' })]);
    for (const d of r.route(ev('call.connected'))) expect(d.eventId).toBe('evt-call.connected');
    expect(callKeyOf(ev('agent.login'))).toBe('pbx1:PJSIP/1001');
    expect(callKeyOf(ev('agent.login', { agent: undefined }))).toBe('pbx1:agent');
  });

  it('formats that do not send an event produce no delivery', () => {
    const r = new Router([hook('vs', { format: 'voipstudio' }), hook('voiso', { format: 'voiso' }), hook('d')]);
    expect(names(r, ev('call.reporting'))).toEqual(['d']);
    expect(names(r, ev('call.ringing'))).toEqual(['vs', 'd']);
    expect(names(r, ev('call.connected'))).toEqual(['vs', 'voiso', 'd']);
  });

  it('filters on context and direction', () => {
    const r = new Router([
      hook('local-in', { filter: { context: ['LOCAL_USER'], direction: ['in'] } }),
      hook('queue', { filter: { context: ['QUEUE'] } }),
      hook('out', { filter: { direction: ['out', 'internal'] } }),
    ]);
    expect(names(r, ev('call.connected'))).toEqual(['local-in']);
    expect(names(r, ev('call.connected', { context: 'QUEUE' }))).toEqual(['queue']);
    expect(names(r, ev('call.connected', { direction: 'internal' }))).toEqual(['out']);
    expect(names(r, ev('agent.login'))).toEqual([]); // direction null never matches a direction filter
  });

  it('filters on queue names (agent events by their queue) and pbx names', () => {
    const r = new Router([
      hook('support', { filter: { queue: ['support', 'vip'] } }),
      hook('sales', { filter: { queue: ['sales'] } }),
      hook('pbx2', { filter: { pbx: ['pbx2'] } }),
    ]);
    expect(names(r, ev('call.connected'))).toEqual(['support']);
    expect(names(r, ev('agent.paused'))).toEqual(['support']);
    expect(names(r, ev('call.connected', { queue: null }))).toEqual([]);
    expect(names(r, ev('call.connected', { queue: null, pbx: { name: 'pbx2', type: 'freeswitch' } }))).toEqual(['pbx2']);
  });

  it('filters on src/dst number globs; all keys must match', () => {
    const r = new Router([
      hook('uk', { filter: { src: ['+44*'] } }),
      hook('london-to-1xxx', { filter: { src: ['+4420*'], dst: ['1???'] } }),
      hook('us', { filter: { src: ['+1*'] } }),
    ]);
    expect(names(r, ev('call.connected'))).toEqual(['uk', 'london-to-1xxx']);
    expect(names(r, ev('call.connected', { dst: '10011' }))).toEqual(['uk']);
    expect(names(r, ev('call.connected', { src: '+15551234' }))).toEqual(['us']);
    expect(names(r, ev('call.connected', { src: null }))).toEqual([]);
  });

  it('webhooks sharing a format get the same body; per-webhook fields (voiso name, key) differ', () => {
    const r = new Router([hook('a'), hook('b'), hook('c', { format: 'voiso', token: 'ka' }), hook('d', { format: 'voiso', token: 'kb' })]);
    const ds = r.route(ev('call.connected'));
    expect(ds[0].body).toBe(ds[1].body);
    expect(JSON.parse(ds[2].body!).key).toBe('ka');
    expect(JSON.parse(ds[3].body!).key).toBe('kb');
    expect(JSON.parse(ds[3].body!).name).toBe('d');
  });

  it('update() swaps the webhooks; a webhook that does not compile leaves the old set in place', () => {
    const r = new Router([hook('a')]);
    r.update([hook('b')]);
    expect(names(r, ev('call.connected'))).toEqual(['b']);
    expect(() => r.update([hook('c'), hook('bad', { format: 'template', template: '{"x":"{{nope}}"}' })])).toThrow(/webhook "bad".*unknown field "nope"/);
    expect(names(r, ev('call.connected'))).toEqual(['b']);
    expect(() => new Router([hook('bad', { format: 'template', template: null })])).toThrow(/webhook "bad"/);
  });

  it('a render failure for one webhook is counted and reported; the others still get the event', () => {
    const errors: string[] = [];
    const r = new Router([hook('tpl', { format: 'template', template: '{"n":{{sequence}}}' }), hook('ok')], {
      onRenderError: (err, webhook) => errors.push(`${webhook}: ${(err as Error).message}`),
    });
    // a malformed event (a BigInt where a number belongs) makes JSON serialization throw
    const bad = ev('call.connected', { sequence: 10n as unknown as number });
    expect(names(r, bad)).toEqual([]);
    expect(r.renderErrors).toBe(2);
    expect(errors[0]).toMatch(/^tpl: .*BigInt/);
    expect(names(r, ev('call.connected'))).toEqual(['tpl', 'ok']);
  });
});

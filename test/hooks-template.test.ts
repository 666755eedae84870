// format: template — escaping per output (JSON string, JSON literal, URL, query, text), #field# tags, safety.
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import type { WebhookConfig } from '../src/config/types.js';
import { compileWebhook, renderFor } from '../src/hooks/render.js';
import { compileTemplate } from '../src/hooks/template.js';
import { sampleEvent } from '../src/hooks/sample.js';
import { webhookConfig } from './helpers/webhook.js';

const NOW = Date.UTC(2026, 10, 21, 10, 15, 40);

function hook(template: string | null, over: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookConfig({ name: 'tpl', url: 'https://crm.example.com/in', format: 'template', template, ...over });
}

const ev = (over: Partial<CallEvent> = {}): CallEvent => ({
  ...sampleEvent('call.connected', { name: 'pbx1', type: 'asterisk' }, { now: NOW, id: 'evt-1' }),
  ...over,
});

const NASTY = 'Ann "The Boss" O\'Neil\\\nline2\ttab \u0001 ünïcödé ☎ 😀 </script>';

describe('JSON bodies', () => {
  it('a string value inside quotes is JSON-escaped without added quotes; round-trips exactly', () => {
    const r = renderFor(ev({ src_name: NASTY }), hook('{"name":"{{src_name}}","agent":"{{endpoint}}"}'))!;
    expect(r.contentType).toBe('application/json');
    expect(JSON.parse(r.body!)).toEqual({ name: NASTY, agent: 'PJSIP/1001' });
    expect(r.body).toContain('\\"The Boss\\"');
    expect(r.body).toContain('\\n');
    expect(r.body).toContain('\\\\');
  });

  it('bare tags insert JSON literals: number, null, string, object', () => {
    const r = renderFor(
      ev({ duration: 42 }),
      hook('{"d": {{duration}}, "end": {{ended_at}}, "src": {{src}}, "q": {{queue}}, "seq": {{ sequence }}}'),
    )!;
    expect(JSON.parse(r.body!)).toEqual({
      d: 42, end: null, src: '+442071234567', seq: 3,
      q: { name: 'support', position: 1, wait_seconds: 5, disposition: 'answered' },
    });
  });

  it('null inside quotes is empty; numbers inside quotes are their digits', () => {
    const r = renderFor(ev(), hook('{"end":"{{ended_at}}","seq":"{{sequence}}"}'))!;
    expect(JSON.parse(r.body!)).toEqual({ end: '', seq: '3' });
  });

  it('nested fields, {{endpoint}}, {{queue.name}} and #field# tags', () => {
    const r = renderFor(ev(), hook('{"agent":"#endpoint#","queue":"{{queue.name}}","pbx":"#pbx.name#","n":#sequence#,"tag":"#1"}'))!;
    expect(JSON.parse(r.body!)).toEqual({ agent: 'PJSIP/1001', queue: 'support', pbx: 'pbx1', n: 3, tag: '#1' });
  });

  it('quote state survives escaped quotes in the literal text', () => {
    const r = renderFor(ev(), hook('{"a":"say \\"hi\\" {{src}}","b":{{src}}}'))!;
    expect(JSON.parse(r.body!)).toEqual({ a: 'say "hi" +442071234567', b: '+442071234567' });
  });

  it('a template that does not fill in to valid JSON is rejected when compiled', () => {
    expect(() => compileWebhook(hook('{"a": {{src}}'))).toThrow(/webhook "tpl".*not valid JSON/);
    expect(() => compileWebhook(hook('{"a": }'))).toThrow(/not valid JSON/);
  });

  it('an unclosed or stray tag is an error, not literal text', () => {
    expect(() => compileWebhook(hook('{"a": "{{src}"}'))).toThrow(/unclosed "\{\{"/);
    expect(() => compileTemplate('https://x.test/{{endpoint}/a', 'url')).toThrow(/unclosed "\{\{" near "\{\{endpoint\}\/a"/);
    expect(() => compileTemplate('https://x.test/endpoint}}', 'url')).toThrow(/stray "\}\}"/);
  });
});

describe('safety', () => {
  it('prototype and unknown names are unknown fields, refused at compile time', () => {
    for (const f of ['constructor', '__proto__', 'toString', 'queue.constructor', 'pbx.__proto__.x', 'nope']) {
      expect(() => compileWebhook(hook(`{"x":"{{${f}}}"}`)), f).toThrow(/unknown field/);
    }
    expect(() => compileWebhook(hook('{"x":"#constructor#"}'))).toThrow(/unknown field "constructor"/);
  });

  it('no code runs: expressions are just unknown field names', () => {
    expect(() => compileWebhook(hook('{"x":"{{ process.exit(1) }}"}'))).toThrow(/unknown field/);
    expect(() => compileWebhook(hook('{"x":"{{src.length}}"}'))).toThrow(/unknown field/);
  });

  it('a missing nested object reads as null', () => {
    const r = renderFor(ev({ queue: null, dtmf: null }), hook('{"q":{{queue.name}},"d":"{{dtmf.digit}}"}'))!;
    expect(JSON.parse(r.body!)).toEqual({ q: null, d: '' });
  });

  it('a template is compiled once per webhook', () => {
    const t = compileTemplate('{"a":"{{src}}"}', 'json');
    expect(t.fields).toEqual(['src']);
    expect(t.constant).toBe(false);
    expect(compileTemplate('{"a":1}', 'json').constant).toBe(true);
  });
});

describe('URLs and GET', () => {
  it('URL tags are percent-encoded', () => {
    const r = renderFor(
      ev({ src_name: 'A&B =?/#' }),
      hook('{"x":1}', { url: 'https://crm.example.com/calls/{{call_id}}?who={{src_name}}&n=#src#' }),
    )!;
    const u = new URL(r.url);
    expect(u.pathname).toBe(`/calls/${ev().call_id}`);
    expect(u.searchParams.get('who')).toBe('A&B =?/#');
    expect(u.searchParams.get('n')).toBe('+442071234567');
    expect(r.url).toContain('who=A%26B%20%3D%3F%2F%23');
  });

  it('URL tags work for the other formats too', () => {
    const r = renderFor(ev(), hook(null, { format: 'default', url: 'https://crm.example.com/e/{{event_name}}' }))!;
    expect(r.url).toBe('https://crm.example.com/e/call.connected');
    expect(JSON.parse(r.body!).id).toBe('evt-1');
  });

  it('GET with a JSON template: its fields become query parameters', () => {
    const r = renderFor(ev({ src_name: 'Zoë "Z" Smith' }), hook('{"ani":"{{src}}","name":"{{src_name}}","q":{"n":{{queue.name}}},"end":{{ended_at}}}', { method: 'GET' }))!;
    expect(r.body).toBeNull();
    const u = new URL(r.url);
    expect(u.searchParams.get('ani')).toBe('+442071234567');
    expect(u.searchParams.get('name')).toBe('Zoë "Z" Smith');
    expect(u.searchParams.get('q.n')).toBe('support');
    expect(u.searchParams.get('end')).toBe('');
  });

  it('GET with a query-string template: values percent-encoded', () => {
    const r = renderFor(ev({ src_name: 'A&B' }), hook('ani={{src}}&name=#src_name#&agent={{endpoint}}', { method: 'GET', url: 'https://crm.example.com/in?k=1' }))!;
    expect(r.url).toBe('https://crm.example.com/in?k=1&ani=%2B442071234567&name=A%26B&agent=PJSIP%2F1001');
  });
});

describe('text bodies', () => {
  it('a non-JSON template is sent as text/plain with raw values', () => {
    const r = renderFor(ev(), hook('Call from {{src_name}} <{{src}}> to #endpoint#'))!;
    expect(r.contentType).toBe('text/plain; charset=utf-8');
    expect(r.body).toBe('Call from Alice Smith <+442071234567> to PJSIP/1001');
  });
});

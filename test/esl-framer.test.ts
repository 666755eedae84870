// Framer: real captures parse completely; any TCP chunking gives the same messages;
// garbage never throws; Content-Length counts bytes.
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EslFramer, eventOf, type EslMessage } from '../src/pbx/esl/framer.js';

const DIR = new URL('./fixtures/freeswitch/', import.meta.url);
const captures = readdirSync(DIR).filter((f) => f.endsWith('.esl'));

function parseAll(bytes: Buffer, splits: number[] = []): EslMessage[] {
  const f = new EslFramer();
  const out: EslMessage[] = [];
  let prev = 0;
  for (const at of [...splits].sort((a, b) => a - b)) {
    out.push(...f.push(bytes.subarray(prev, at)));
    prev = at;
  }
  out.push(...f.push(bytes.subarray(prev)));
  expect(f.buffered).toBe(0);
  return out;
}

describe('EslFramer', () => {
  it.each(captures)('parses every frame of %s', (file) => {
    const bytes = readFileSync(new URL(file, DIR));
    const msgs = parseAll(bytes);
    const events = msgs.filter((m) => m.headers['Content-Type']?.startsWith('text/event-'));
    for (const m of events) {
      const ev = eventOf(m);
      expect(ev).not.toBeNull();
      expect(ev!['Event-Name']).toMatch(/^[A-Z_]+$/);
    }
    if (file.endsWith('.plain.esl') || file.endsWith('.json.esl')) {
      // the capture README states the event counts; the preamble is 3 frames
      expect(msgs.slice(0, 3).map((m) => m.headers['Content-Type'])).toEqual(['auth/request', 'command/reply', 'command/reply']);
      expect(events.length).toBe(msgs.length - 3);
    }
  });

  it('plain and json captures of a scenario carry the same events, plain values URL-decoded', () => {
    for (const s of ['a-answered-caller-bye', 'k-esl-originate', 'h-queue-answered']) {
      const plain = parseAll(readFileSync(new URL(`${s}.plain.esl`, DIR))).map(eventOf).filter((e) => e);
      const json = parseAll(readFileSync(new URL(`${s}.json.esl`, DIR))).map(eventOf).filter((e) => e);
      expect(plain.length).toBe(json.length);
      for (let i = 0; i < plain.length; i++) {
        expect(plain[i]!['Event-Name']).toBe(json[i]!['Event-Name']);
        expect(plain[i]!['Unique-ID']).toBe(json[i]!['Unique-ID']);
        expect(plain[i]!['Channel-Name']).toBe(json[i]!['Channel-Name']);
        expect(plain[i]!['Event-Date-GMT']).toBe(json[i]!['Event-Date-GMT']);
      }
    }
  });

  it('gives an event body (BACKGROUND_JOB) as _body in both formats', () => {
    for (const fmt of ['plain', 'json']) {
      const evs = parseAll(readFileSync(new URL(`k-esl-originate.${fmt}.esl`, DIR))).map(eventOf);
      const job = evs.find((e) => e?.['Event-Name'] === 'BACKGROUND_JOB');
      expect(job!._body).toBe('+OK e1792cf3-d71b-41c9-af9f-07efe1d1367c\n');
      expect(job!['Job-Command']).toBe('originate');
    }
  });

  it('with keepHeaders decodes only those headers of a plain event, and their values as the full decode does', () => {
    const keep = ['Event-Name', 'Unique-ID', 'Caller-Caller-ID-Name', 'variable_sip_term_status', 'Job-UUID'];
    const plainCaptures = captures.filter((f) => f.endsWith('.plain.esl'));
    expect(plainCaptures.length).toBeGreaterThan(5);
    let decoded = 0;
    for (const file of plainCaptures) {
      const bytes = readFileSync(new URL(file, DIR));
      const full = parseAll(bytes).map(eventOf);
      const f = new EslFramer({ keepHeaders: keep });
      const picked = f.push(bytes).map(eventOf);
      expect(picked.length).toBe(full.length);
      for (let i = 0; i < full.length; i++) {
        const ev = full[i];
        if (!ev) {
          expect(picked[i]).toBeFalsy();
          continue;
        }
        const want = Object.fromEntries(Object.entries(ev).filter(([k]) => keep.includes(k) || k === '_body' || k === 'Content-Length'));
        expect(picked[i]).toEqual(want);
        if (ev['Caller-Caller-ID-Name'] !== undefined) decoded++;
      }
    }
    expect(decoded).toBeGreaterThan(0);
    // URL-decoding and the inner body still apply to what is kept
    const body = 'Event-Name: BACKGROUND_JOB\nJob-UUID: j1\nCaller-Caller-ID-Name: J%C3%BCrgen%20M\nCore-UUID: x\nContent-Length: 4\n\n+OK\n';
    const frame = Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-plain\n\n${body}`);
    expect(eventOf(new EslFramer({ keepHeaders: keep }).push(frame)[0])).toEqual({
      'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': 'j1', 'Caller-Caller-ID-Name': 'Jürgen M', 'Content-Length': '4', _body: '+OK\n',
    });
  });

  it('gives the same messages for any chunking of a capture', () => {
    const bytes = readFileSync(new URL('h-queue-answered.plain.esl', DIR));
    const whole = parseAll(bytes);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 60 }), (splits) => {
        expect(parseAll(bytes, splits)).toEqual(whole);
      }),
      { numRuns: 60 },
    );
  });

  it('counts Content-Length in bytes and splits inside multi-byte UTF-8 characters', () => {
    const name = 'Zoë Ğüneş 東京 🎧';
    const plainBody = `Event-Name: CHANNEL_CREATE\nCaller-Caller-ID-Name: ${encodeURIComponent(name)}\nRaw-Name: ${name}\n`;
    const jsonBody = JSON.stringify({ 'Event-Name': 'CHANNEL_CREATE', 'Caller-Caller-ID-Name': name });
    const frame = (type: string, body: string) =>
      Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: ${type}\n\n${body}`, 'utf8');
    const bytes = Buffer.concat([frame('text/event-plain', plainBody), frame('text/event-json', jsonBody), frame('api/response', name)]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 20 }), (splits) => {
        const msgs = parseAll(bytes, splits);
        expect(msgs).toHaveLength(3);
        expect(eventOf(msgs[0])!['Caller-Caller-ID-Name']).toBe(name);
        expect(eventOf(msgs[0])!['Raw-Name']).toBe(name);
        expect(eventOf(msgs[1])!['Caller-Caller-ID-Name']).toBe(name);
        expect(msgs[2].body).toBe(name);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the raw text of invalid % escapes and survives a -ERR 100% reply', () => {
    const body = 'Event-Name: CUSTOM\nBad: 100%25 ok\nWorse: -ERR 100% broken %E0%A4%A\nGood: a%20b\n';
    const f = new EslFramer();
    const msgs = f.push(
      Buffer.from(
        `Content-Type: api/response\nContent-Length: 16\n\n-ERR 100% broken` +
          `Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-plain\n\n${body}`,
      ),
    );
    expect(msgs[0].body).toBe('-ERR 100% broken');
    const ev = eventOf(msgs[1])!;
    expect(ev).toMatchObject({ Bad: '100% ok', Worse: '-ERR 100% broken %E0%A4%A', Good: 'a b' });
    expect(f.stats.badEscapes).toBe(1);
  });

  it('counts malformed JSON events without throwing and keeps going', () => {
    const f = new EslFramer();
    const bad = '{"Event-Name": "CHANNEL_CREATE", oops';
    const good = '{"Event-Name":"HEARTBEAT"}';
    const msgs = f.push(
      Buffer.from(
        `Content-Length: ${bad.length}\nContent-Type: text/event-json\n\n${bad}` +
          `Content-Length: ${good.length}\nContent-Type: text/event-json\n\n${good}`,
      ),
    );
    expect(msgs.map(eventOf)).toEqual([null, { 'Event-Name': 'HEARTBEAT' }]);
    expect(f.stats.malformedEvents).toBe(1);
  });

  it('never throws on arbitrary bytes and stays bounded', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const f = new EslFramer({ maxHeaderBytes: 1024, maxBodyBytes: 4096 });
        for (const c of chunks) {
          const msgs = f.push(Buffer.from(c));
          for (const m of msgs) eventOf(m);
          expect(f.buffered).toBeLessThanOrEqual(4096 + 1024);
        }
      }),
      { numRuns: 300 },
    );
    const f = new EslFramer({ maxBodyBytes: 100 });
    expect(f.push(Buffer.from('Content-Length: 99999\n\n'))).toEqual([]);
    expect(f.stats.framingErrors).toBe(1);
    expect(f.push(Buffer.from('Content-Length: -1\n\nContent-Type: auth/request\n\n'))).toEqual([]);
    expect(f.stats.framingErrors).toBe(2);
    // after the dropped frame, the next well-formed frame parses again
    expect(f.push(Buffer.from('Content-Type: auth/request\n\n'))).toEqual([{ headers: { 'Content-Type': 'auth/request' }, body: null }]);
  });
});

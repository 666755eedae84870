// EslClient against the replay server over real TCP on 127.0.0.1.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EslClient } from '../src/pbx/esl/client.js';
import { EslFramer, eventOf } from '../src/pbx/esl/framer.js';
import { startEslReplayServer, type EslReplayServer } from '../src/demo/esl-replay-server.js';
import { memoryLogger } from './helpers/logger.js';

const DIR = new URL('./fixtures/freeswitch/', import.meta.url);
const capture = (name: string) => ({
  bytes: readFileSync(new URL(`${name}.esl`, DIR)),
  chunks: (JSON.parse(readFileSync(new URL(`${name}.ts.json`, DIR), 'utf8')) as { chunks: Array<{ offset: number; length: number; rel_ms: number }> }).chunks,
});


const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(opts: { password?: string; captures?: string[]; raw?: Buffer; apiTimeoutMs?: number; pingIntervalMs?: number; pace?: 'instant' | 'recorded' } = {}) {
  const server = await startEslReplayServer({
    captures: opts.raw ? [{ bytes: opts.raw, chunks: [{ offset: 0, length: opts.raw.length, rel_ms: 0 }] }] : (opts.captures ?? ['a-answered-caller-bye.json']).map(capture),
    password: 'ClueCon',
    pace: opts.pace ?? 'instant',
  });
  const { logger, lines } = memoryLogger();
  const client = new EslClient({
    host: '127.0.0.1',
    port: server.port,
    password: opts.password ?? 'ClueCon',
    eventFormat: 'json',
    apiTimeoutMs: opts.apiTimeoutMs ?? 2000,
    pingIntervalMs: opts.pingIntervalMs ?? 0,
    logger,
    name: 'fs1',
    backoff: { initialMs: 20, maxMs: 100 },
  });
  const events: Record<string, string>[] = [];
  client.on('event', (ev: Record<string, string>) => events.push(ev));
  cleanups.push(() => server.close(), () => client.close());
  return { server, client, events, lines };
}

function once<T = unknown>(em: EslClient, name: string, ms = 5000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms`)), ms);
    em.once(name, (...args: T[]) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('EslClient', () => {

  it('a flood of malformed events is counted, and logged once per 10 s, not once each', async () => {
    const bad = '{"Event-Name": "CHANNEL_CREATE", "Unique-ID": ';
    const one = `Content-Length: ${bad.length}\nContent-Type: text/event-json\n\n${bad}`;
    const { server, client, lines } = await setup({ raw: Buffer.from(one.repeat(20_000)) });
    client.start();
    await server.done;
    await until(() => client.stats.malformedEvents === 20_000, 30_000);
    const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => /malformed ESL event skipped/.test(String(l.msg)));
    expect(warned.length).toBeGreaterThanOrEqual(1);
    expect(warned.length).toBeLessThanOrEqual(3);
    expect(warned[0]).toMatchObject({ malformed_total: 1, suppressed: 0 });
  });
  it('authenticates, resyncs, then streams every event of the capture in order', async () => {
    const { server, client, events } = await setup();
    const order: string[] = [];
    client.on('resync', () => order.push('resync'));
    client.on('connected', () => order.push('connected'));
    client.start();
    await server.done;
    // (FreeSWITCH streams from the subscription on, so events may come before the resync reply)
    await until(() => events.length === 60 && order.length === 2); // README: 60 events in capture a
    expect(order).toEqual(['resync', 'connected']);
    // byte for byte the capture's events, in the capture's order (which is not always
    // Event-Sequence order)
    const expected = new EslFramer().push(readFileSync(new URL('a-answered-caller-bye.json.esl', DIR))).map(eventOf).filter((e) => e);
    expect(events).toEqual(expected);
    expect(await client.api('status')).toContain('ready');
    expect(await client.api('nonsense')).toMatch(/^-ERR/);
  });

  it('wrong password: auth_error with a clear message, never the password, and keeps retrying', async () => {
    const { client, lines } = await setup({ password: 'S3cr3t-Wrong' });
    const errors: string[] = [];
    client.on('auth_error', (m: string) => errors.push(m));
    client.start();
    await until(() => errors.length >= 2);
    expect(errors[0]).toMatch(/authentication failed.*127\.0\.0\.1.*-ERR invalid/);
    expect(lines.join('')).not.toContain('S3cr3t-Wrong');
    expect(lines.some((l) => l.includes('ESL authentication failed'))).toBe(true);
    expect(client.ready).toBe(false);
  });

  it('rejects CR/LF in commands (no command injection)', async () => {
    const { client } = await setup();
    expect(() => client.api('status\n\nevent plain ALL')).toThrow(/CR or LF/);
    expect(() => client.bgapi('originate x\r')).toThrow(/CR or LF/);
  });

  it('api times out when the PBX does not answer, and later replies stay matched', async () => {
    const { server, client } = await setup({ apiTimeoutMs: 150 });
    client.start();
    await once(client, 'connected');
    server.muteApi(true);
    await expect(client.api('status')).rejects.toThrow(/timed out after 150 ms: api status/);
    const second = client.api('show channels as json');
    server.muteApi(false); // the late reply to `status` arrives first and must not be taken for this one
    expect(await second).toMatch(/row_count/);
  });

  it('pending commands reject on disconnect; reconnects, resyncs the live channels, and continues the stream', async () => {
    const { server, client, events } = await setup({ captures: ['h-queue-answered.json'] });
    const resyncs: unknown[][] = [];
    client.on('resync', (rows: unknown[]) => resyncs.push(rows));
    const disconnects: string[] = [];
    client.on('disconnected', (r: string) => disconnects.push(r));
    server.pause();
    client.start();
    await once(client, 'connected');
    expect(resyncs[0]).toEqual([]);
    // let the capture run until the caller and the agent are both up, then cut
    server.pauseAt(30);
    server.resume();
    await until(() => events.length === 30);
    server.pauseAt(null);
    server.muteApi(true);
    const pending = client.api('status');
    server.dropClients();
    await expect(pending).rejects.toThrow(/ESL/);
    server.muteApi(false);
    await once(client, 'connected');
    expect(disconnects).toEqual(['connection lost']);
    expect(resyncs).toHaveLength(2);
    expect((resyncs[1] as Array<{ uuid: string }>).map((r) => r.uuid)).toEqual([
      '34322140-eba1-4258-84f2-343528f6e070',
      'c8d73289-cbfa-4a4a-8867-43bf174a88db',
    ]);
    server.resume();
    await server.done;
    await until(() => events.length === 78); // README: 78 events in capture h
    const expected = new EslFramer().push(readFileSync(new URL('h-queue-answered.json.esl', DIR))).map(eventOf).filter((e) => e);
    expect(events).toEqual(expected); // nothing lost, nothing twice
  });

  it('resync carries the channels alive at the replay position', async () => {
    const { server, client, events } = await setup({ captures: ['a-answered-caller-bye.json'] });
    server.pause();
    client.start();
    await once(client, 'connected');
    server.pauseAt(40); // both legs created and answered, none hung up
    server.resume();
    await until(() => events.length === 40);
    const created = events.filter((e) => e['Event-Name'] === 'CHANNEL_CREATE').length;
    const hungUp = events.filter((e) => e['Event-Name'] === 'CHANNEL_HANGUP_COMPLETE').length;
    const rowsP = once<unknown[]>(client, 'resync');
    server.dropClients();
    const [rows] = await rowsP;
    expect(created).toBe(2);
    expect(hungUp).toBe(0);
    expect((rows as Array<{ name: string }>).map((r) => r.name)).toEqual([
      'sofia/internal/15551230001@127.0.0.1:5170',
      'sofia/internal/agent1@127.0.0.1:5181',
    ]);
  });

  it('a refused connection is retried, not a crash', async () => {
    const { server, client, lines } = await setup();
    await server.close();
    client.start();
    await until(() => lines.filter((l) => l.includes('ESL reconnect scheduled')).length >= 2);
    expect(lines.some((l) => l.includes('ECONNREFUSED'))).toBe(true);
  });

  it('keepalive failure reconnects', async () => {
    const { server, client } = await setup({ pingIntervalMs: 100, apiTimeoutMs: 100 });
    client.start();
    await once(client, 'connected');
    server.muteApi(true);
    await once(client, 'disconnected', 3000);
    server.muteApi(false);
    await once(client, 'connected', 3000);
  });
});

// AMI framer: real captures parsed whole and in any chunking, malformed and hostile input,
// Response: Follows command output, duplicate keys, UTF-8 across chunks, action formatting.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AmiFramer, formatAction, type AmiMessage } from '../src/pbx/ami/framer.js';

const dir = fileURLToPath(new URL('./fixtures/asterisk/', import.meta.url));
const captures = readdirSync(dir)
  .filter((f) => f.endsWith('.ami'))
  .sort()
  .map((f) => ({ name: f.replace(/\.ami$/, ''), bytes: readFileSync(dir + f) }));

function parseWhole(bytes: Buffer): AmiMessage[] {
  return new AmiFramer().push(bytes);
}

function parseSplit(bytes: Buffer, cuts: number[]): AmiMessage[] {
  const framer = new AmiFramer();
  const out: AmiMessage[] = [];
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...framer.push(bytes.subarray(prev, cut)));
    prev = cut;
  }
  return out;
}

// "messages: N" from /work/shared/captures/asterisk/README.md
const README_COUNTS: Record<string, number> = {
  'a-answered-caller-hangup': 96,
  'b-answered-agent-hangup': 95,
  'c-no-answer-dial-timeout': 50,
  'd-agent-busy-486': 41,
  'e-caller-cancel-while-ringing': 48,
  'f-hold-unhold': 113,
  'g-dtmf-info-midcall': 110,
  'h-queue-answered': 120,
  'i-queue-abandoned': 87,
  'j-queue-timeout': 93,
  'k-ivr-digits-then-agent': 111,
  'l-ami-originate-outbound': 114,
  'm-blind-transfer-refer': 191,
  'n-concurrent-calls': 275,
  'o-status-coreshowchannels-midcall': 103,
  'p-shutdown-midcall': 92,
  'q-ami-originate-agent-busy': 18,
};

describe('AmiFramer on the real captures', () => {
  it('has all 17 captures', () => {
    expect(captures.map((c) => c.name)).toEqual(Object.keys(README_COUNTS).sort());
  });

  for (const { name, bytes } of captures) {
    it(`${name}: whole file gives the README's message count, banner, login response`, () => {
      const framer = new AmiFramer();
      const msgs = framer.push(bytes);
      expect(msgs.length).toBe(README_COUNTS[name]);
      expect(framer.banner).toBe('Asterisk Call Manager/13.0.0');
      expect(framer.malformed).toBe(0);
      expect(framer.bufferedBytes).toBe(0);
      expect(msgs[0]).toEqual({ Response: 'Success', ActionID: 'login-1', Message: 'Authentication accepted' });
      expect(msgs[1].Event).toBe('FullyBooted');
      for (const m of msgs) expect(m.Event ?? m.Response).toBeTruthy();
    });
  }

  it('o: CoreShowChannels and Status lists come through with their headers', () => {
    const msgs = parseWhole(captures.find((c) => c.name.startsWith('o-'))!.bytes);
    const csc = msgs.filter((m) => m.ActionID === 'csc-1');
    expect(csc.map((m) => m.Event ?? m.Response)).toEqual(['Success', 'CoreShowChannel', 'CoreShowChannel', 'CoreShowChannelsComplete']);
    expect(csc[0].EventList).toBe('start');
    expect(csc[1]).toMatchObject({ Channel: 'PJSIP/caller-00000024', Uniqueid: '1795268414.36', AccountCode: '', Duration: '00:00:03' });
    expect(csc[3]).toMatchObject({ EventList: 'Complete', ListItems: '2' });
    const status = msgs.filter((m) => m.Event === 'Status');
    expect(status.map((m) => m.ActionID)).toEqual(['status-1', 'status-1']);
    expect(Object.keys(status[0]).at(-1)).toBe('ActionID'); // key order as sent
  });

  it('p: ends with Event: Shutdown', () => {
    const msgs = parseWhole(captures.find((c) => c.name.startsWith('p-'))!.bytes);
    expect(msgs.at(-1)).toEqual({ Event: 'Shutdown', Privilege: 'system,all', Shutdown: 'Cleanly', Restart: 'False' });
  });

  it('any split of any capture into chunks gives exactly the messages of the whole (property)', () => {
    const whole = captures.map((c) => parseWhole(c.bytes));
    fc.assert(
      fc.property(
        fc.nat({ max: captures.length - 1 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 60 }),
        (idx, fractions) => {
          const bytes = captures[idx].bytes;
          const cuts = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
          expect(parseSplit(bytes, cuts)).toEqual(whole[idx]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('one byte per chunk gives the same messages (every line end, every CRLF split)', () => {
    const { bytes } = captures.find((c) => c.name.startsWith('q-'))!;
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    expect(parseSplit(bytes, cuts)).toEqual(parseWhole(bytes));
  });

  it('bare LF line ends give the same messages as CRLF', () => {
    const { bytes } = captures.find((c) => c.name.startsWith('a-'))!;
    const lf = Buffer.from(bytes.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
    expect(parseWhole(lf)).toEqual(parseWhole(bytes));
  });
});

describe('AmiFramer on hostile input', () => {
  it('random bytes in random chunks never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const framer = new AmiFramer({ maxMessageBytes: 2048 });
        for (const c of chunks) {
          for (const m of framer.push(Buffer.from(c))) {
            for (const v of Object.values(m)) expect(typeof v).toBe('string');
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('mutated captures never throw, and untouched messages after the damage survive', () => {
    const { bytes } = captures.find((c) => c.name.startsWith('d-'))!;
    const whole = parseWhole(bytes);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 10 }),
        (mutations) => {
          const copy = Buffer.from(bytes);
          for (const [at, b] of mutations) copy[at] = b;
          const msgs = parseWhole(copy);
          // the last message lies after every mutation unless one hit it
          const lastStart = bytes.lastIndexOf('\r\n\r\nEvent: ', bytes.length - 5) + 4;
          if (mutations.every(([at]) => at < lastStart - 4)) expect(msgs.at(-1)).toEqual(whole.at(-1));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a line without ": " is counted as malformed and the rest of the message is kept', () => {
    const seen: string[] = [];
    const framer = new AmiFramer({ onMalformed: (l) => seen.push(l) });
    const msgs = framer.push(Buffer.from('Event: Hangup\r\nthis line is junk\r\nChannel: PJSIP/a-1\r\nAccountCode:\r\n\r\n'));
    expect(msgs).toEqual([{ Event: 'Hangup', Channel: 'PJSIP/a-1', AccountCode: '' }]);
    expect(framer.malformed).toBe(1);
    expect(seen).toEqual(['this line is junk']);
  });

  it('values keep everything after the first ": " and keys like "constructor" are plain keys', () => {
    const msgs = parseWhole(Buffer.from('Event: UserEvent\r\nData: a: b: c\r\nconstructor: x\r\nconstructor: y\r\n\r\n'));
    expect(msgs).toEqual([{ Event: 'UserEvent', Data: 'a: b: c', constructor: 'x\ny' }]);
  });

  it('an oversized message without terminator is dropped and counted; later messages parse', () => {
    const framer = new AmiFramer({ maxMessageBytes: 1000 });
    const out: AmiMessage[] = [];
    out.push(...framer.push(Buffer.from('Event: A\r\n\r\nEvent: Big\r\n')));
    for (let i = 0; i < 50; i++) out.push(...framer.push(Buffer.from(`Filler${i}: ${'x'.repeat(40)}\r\n`)));
    out.push(...framer.push(Buffer.from('\r\nEvent: B\r\n\r\n')));
    expect(out).toEqual([{ Event: 'A' }, { Event: 'B' }]);
    expect(framer.oversized).toBe(1);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('a single endless line (no LF) is dropped at the default 1 MiB bound and memory does not grow', () => {
    const framer = new AmiFramer();
    const junk = Buffer.alloc(64 * 1024, 0x41);
    framer.push(Buffer.from('Event: A\r\n\r\nEvent: Flood\r\nData: '));
    for (let i = 0; i < 40; i++) {
      framer.push(junk);
      expect(framer.bufferedBytes).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(framer.oversized).toBe(1);
    expect(framer.push(Buffer.from('AAAA\r\nMore: x\r\n\r\nEvent: After\r\nX: 1\r\n\r\n'))).toEqual([{ Event: 'After', X: '1' }]);
  });
});

describe('AmiFramer protocol details', () => {
  it('Response: Follows with --END COMMAND-- glued to the last output line, then events still parse', () => {
    const text =
      'Response: Follows\r\nPrivilege: Command\r\nActionID: cmd-7\r\n' +
      'Channel              Location             State   Application(Data)\n' +
      'PJSIP/agent1-0000001 (None)               Up      AppDial((Outgoing Line))\n' +
      '\n' +
      '1 active channel--END COMMAND--\r\n\r\n' +
      'Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/caller-00000001\r\n\r\n' +
      'Event: Hangup\r\nChannel: PJSIP/caller-00000001\r\nCause: 16\r\n\r\n';
    const expected = [
      {
        Response: 'Follows',
        Privilege: 'Command',
        ActionID: 'cmd-7',
        Output:
          'Channel              Location             State   Application(Data)\n' +
          'PJSIP/agent1-0000001 (None)               Up      AppDial((Outgoing Line))\n' +
          '\n' +
          '1 active channel',
      },
      { Event: 'Newchannel', Privilege: 'call,all', Channel: 'PJSIP/caller-00000001' },
      { Event: 'Hangup', Channel: 'PJSIP/caller-00000001', Cause: '16' },
    ];
    const bytes = Buffer.from(text);
    expect(parseWhole(bytes)).toEqual(expected);
    for (let cut = 1; cut < bytes.length; cut++) expect(parseSplit(bytes, [cut])).toEqual(expected);
  });

  it('Response: Follows with the marker on its own line', () => {
    const msgs = parseWhole(Buffer.from('Response: Follows\r\nPrivilege: Command\r\nuptime: 5s\n--END COMMAND--\r\n\r\nEvent: X\r\n\r\n'));
    expect(msgs).toEqual([{ Response: 'Follows', Privilege: 'Command', Output: 'uptime: 5s' }, { Event: 'X' }]);
  });

  it('a Response: Follows without its marker does not swallow the events after it', () => {
    const framer = new AmiFramer();
    const msgs = framer.push(Buffer.from('Response: Follows\r\nPrivilege: Command\r\nsome output\r\n\r\nEvent: X\r\nA: 1\r\n\r\n'));
    expect(msgs).toEqual([{ Response: 'Follows', Privilege: 'Command', Output: 'some output' }, { Event: 'X', A: '1' }]);
    expect(framer.malformed).toBe(1);
  });

  it('new-style command output (Output: lines) and repeated ChanVariable are joined with LF', () => {
    const msgs = parseWhole(
      Buffer.from(
        'Response: Success\r\nMessage: Command output follows\r\nOutput: line 1\r\nOutput: line 2\r\n\r\n' +
          'Event: Hangup\r\nChannel: PJSIP/a-1\r\nChanVariable: X=1\r\nChanVariable: Y=two words\r\nChanVariable: Z=\r\n\r\n',
      ),
    );
    expect(msgs[0].Output).toBe('line 1\nline 2');
    expect(msgs[1].ChanVariable).toBe('X=1\nY=two words\nZ=');
    expect(msgs[1].ChanVariable.split('\n')).toHaveLength(3);
  });

  it('UTF-8 characters split across chunks at every byte decode intact', () => {
    const bytes = Buffer.from('Event: Newchannel\r\nCallerIDName: Jürgen Ölund 😀 東京\r\n\r\n');
    for (let cut = 1; cut < bytes.length; cut++) {
      for (const cut2 of [cut + 1, cut + 2, cut + 3]) {
        const cuts = cut2 < bytes.length ? [cut, cut2] : [cut];
        expect(parseSplit(bytes, cuts)).toEqual([{ Event: 'Newchannel', CallerIDName: 'Jürgen Ölund 😀 東京' }]);
      }
    }
  });

  it('no banner when the first line is already a header', () => {
    const framer = new AmiFramer();
    expect(framer.push(Buffer.from('Event: A\r\n\r\n'))).toEqual([{ Event: 'A' }]);
    expect(framer.banner).toBeNull();
  });
});

describe('formatAction', () => {
  it('builds Key: value CRLF lines and an empty line', () => {
    expect(formatAction({ Action: 'Ping', ActionID: 'x-1' })).toBe('Action: Ping\r\nActionID: x-1\r\n\r\n');
  });

  it('rejects CR or LF in a value without echoing the value', () => {
    for (const bad of ['a\r\nAction: Originate', 'a\nb', 'a\rb']) {
      let err: Error | undefined;
      try {
        formatAction({ Action: 'Login', Secret: bad });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toMatch(/"Secret".*CR or LF/);
      expect(err?.message).not.toContain(bad);
    }
  });

  it('rejects CR, LF or ":" in a key, and empty actions', () => {
    expect(() => formatAction({ 'X\r\nAction': 'y' })).toThrow(/field name/);
    expect(() => formatAction({ 'A: b': 'y' })).toThrow(/field name/);
    expect(() => formatAction({})).toThrow(/no fields/);
  });

  it('round-trips through the framer', () => {
    const fields = { Action: 'Originate', ActionID: 'o-1', Channel: 'PJSIP/agent1', Variable: 'A=b: c' };
    expect(parseWhole(Buffer.from(formatAction(fields)))).toEqual([fields]);
  });
});

/**
 * docs/operations.md's manager.conf is what operators copy: it must grant and filter exactly
 * what the daemon reads. (The live suite also logs in with that very section.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AMI_EVENTS_USED } from '../src/pbx/ami/translator.js';

const doc = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
const ini = /```ini\n([\s\S]*?)```/.exec(doc)![1];
const section = ini.slice(ini.indexOf('[callhook]'));
const values = (key: string) => [...section.matchAll(new RegExp(`^${key} = (.*)$`, 'gm'))].map((m) => m[1].trim());

/** an Asterisk eventfilter is an unanchored regular expression over the event text */
const passes = (filters: string[], event: string, extra = '') => filters.some((f) => new RegExp(f).test(`Event: ${event}\r\n${extra}`));

describe("the documented AMI user (docs/operations.md)", () => {
  const filters = values('eventfilter');

  it('lets through every event the translator reads, and the client\'s Shutdown and FullyBooted', () => {
    const missing = [...AMI_EVENTS_USED, 'Shutdown', 'FullyBooted'].filter((e) => e !== 'VarSet' && !passes(filters, e));
    expect(missing).toEqual([]);
  });

  it('passes VarSet only for the recording variable, not every VarSet', () => {
    expect(passes(filters, 'VarSet', 'Variable: MIXMONITOR_FILENAME\r\n')).toBe(true);
    expect(passes(filters, 'VarSet', 'Variable: BRIDGEPEER\r\n')).toBe(false);
  });

  it('filters out what the daemon never reads', () => {
    for (const e of ['Newexten', 'RTCPSent', 'Cdr', 'VarSet']) expect(passes(filters, e), e).toBe(false);
  });

  it('reads the classes of those events (system: Shutdown) and may run CoreShowChannels', () => {
    expect(values('read')[0].split(',').sort()).toEqual(['agent', 'call', 'dialplan', 'dtmf', 'system']);
    expect(values('write')).toEqual(['reporting']);
  });
});

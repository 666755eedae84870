/**
 * How the tracker writes an event's numbers: ISO times (formatted fast), whole seconds,
 * the durations every event carries, and the stable event id. Pure functions, no state
 * but the ISO prefix cache.
 */
import { createHash } from 'node:crypto';
import type { CallEvent } from './events.js';

/** start/ringing/connected/ended times and the durations they give, as of `now` */
export function timing(ev: CallEvent, start: number, ringing: number | null, connected: number | null, ended: number | null, now: number): void {
  ev.start_time = iso(start);
  ev.ringing_at = isoOrNull(ringing);
  ev.connected_at = isoOrNull(connected);
  ev.ended_at = isoOrNull(ended);
  const end = ended ?? now;
  ev.duration = secs(end - start);
  ev.ring_duration = ringing !== null ? secs((connected ?? end) - ringing) : 0;
  ev.talk_duration = connected !== null ? secs(end - connected) : 0;
}

export function secs(ms: number): number {
  return Math.max(0, Math.round(ms / 1000));
}

/** ISO 8601 time; the date-time prefix is formatted once per second (it was 20% of the tracker's time). */
let isoSecond = NaN;
let isoPrefix = '';
export function iso(ms: number): string {
  // adapters only pass wireTime()s; this keeps a bad one from ever throwing here
  const t = Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? Math.floor(ms) : 0;
  const sec = Math.floor(t / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
  }
  const milli = t - sec * 1000;
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

/**
 * Stable event id: the same signals always give the same id (UUID-shaped, from SHA-1). A
 * call's events are told apart by their sequence in the call, so the time is left out: two
 * daemons watching one PBX give the same ids even where the time is their own receive time.
 * Agent events (no call) keep the time: their sequence is per member, not per call.
 */
export function eventId(pbx: string, callId: string | null, key: string, name: string, seq: number, time: number): string {
  const tail = callId === null ? `agent\0${key}\0${name}\0${seq}\0${time}` : `${callId}\0${key}\0${name}\0${seq}`;
  const h = createHash('sha1').update(`${pbx}\0${tail}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * `callhook simulate`: a raw AMI/ESL capture through the same framer, translator and
 * tracker as the daemon, with no network and no outbox. Prints the canonical events.
 */
import type { CallEvent } from './calls/events.js';
import type { PbxType } from './calls/signals.js';
import type { Config, PbxConfig } from './config/types.js';
import { decodeCapture } from './pbx/capture.js';
import { Pipeline } from './pipeline.js';
import { configSchema } from './config/schema.js';
import pino from 'pino';

/** The PBX settings simulate uses: the config's first PBX of that type, or the schema's defaults. */
export function simulatedPbx(type: PbxType, config?: Config | null): PbxConfig {
  const fromConfig = config?.pbx.find((p) => p.type === type);
  if (fromConfig) return fromConfig;
  const defaults = configSchema.parse({ pbx: [{ name: 'pbx1', type, secret: 'unused', username: type === 'asterisk' ? 'unused' : undefined }] });
  return { ...defaults.pbx[0], secret: '', username: null };
}

export async function simulate(type: PbxType, file: string, config?: Config | null): Promise<CallEvent[]> {
  const pbx = simulatedPbx(type, config);
  const calls = config?.calls ?? { recording_variable: null, recording_url: null };
  const keepVariables = calls.recording_variable ? [calls.recording_variable] : [];
  const events: CallEvent[] = [];
  // the daemon's own pipeline, with no sink: the same tracker rules and recording template
  const pipeline = new Pipeline({ pbx: [pbx], webhooks: [], calls }, null, pino({ level: 'silent' }), { onEvent: (ev) => events.push(ev) });
  pipeline.handle(pbx.name, await decodeCapture(type, file, { keepVariables }));
  // then time passes, as it would for the daemon: timers (a held call.initial, wrap-up) run
  // out, but legs left open by the capture's end are not closed as orphans
  pipeline.tick(0);
  pipeline.tick(Math.min(pbx.orphan_timeout_ms - 1, 3600_000));
  return events;
}

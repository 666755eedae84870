/**
 * Test helper for the FreeSWITCH captures: their file names, the trunk rules that make the
 * captures' caller (sipp UAC `sofia/internal/15551230001@127.0.0.1:5170`) and the originate's
 * far end (`sofia/internal/999@127.0.0.1:5183`) trunk legs, and the ESL capture readers.
 */
import { readCapture } from '../../src/pbx/capture.js';
import type { EslCapture } from '../../src/demo/esl-replay-server.js';

export const FS_FIX = 'test/fixtures/freeswitch';

/** Every FreeSWITCH scenario recorded in both `event plain` and `event json`. */
export const FS_SCENARIOS = [
  'a-answered-caller-bye', 'b-answered-agent-bye', 'c-ring-no-answer-timeout', 'd-agent-busy-486', 'e-caller-cancel-ringing',
  'f-hold-unhold', 'g-dtmf-info', 'h-queue-answered', 'i-queue-abandoned', 'j-ivr-digits-then-agent', 'k-esl-originate',
  'l-concurrent-calls', 'm-dtmf-rfc2833', 'n-queue-agent-busy-failover',
] as const;

/** trunk globs: a carrier profile, plus the captures' caller and the originate's far end */
export const FS_TRUNKS = ['sofia/external/*', 'sofia/internal/1555*', 'sofia/internal/999*'];

/** A config whose FreeSWITCH trunks are the captures' callers (the Asterisk ASTERISK_TRUNKS_YAML twin). */
export const FREESWITCH_TRUNKS_YAML = `
pbx:
  - name: fs1
    type: freeswitch
    host: 127.0.0.1
    secret: ClueCon
    trunks: ${JSON.stringify(FS_TRUNKS)}
webhooks: []
storage: {path: /tmp/callhook-unused}
`;

export function fsCapture(scenario: string, format: 'plain' | 'json' = 'json'): string {
  return `${FS_FIX}/${scenario}.${format}.esl`;
}

/** A capture as the ESL replay server takes it (bytes + recv() chunk times from the sidecar). */
export function eslCapture(file: string): EslCapture {
  const { bytes, chunks } = readCapture(file);
  const t0 = chunks?.[0]?.t ?? 0;
  return { bytes, chunks: chunks?.map((c) => ({ offset: c.offset, length: c.len, rel_ms: Math.round((c.t - t0) * 1000) })) };
}

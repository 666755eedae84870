/**
 * `format: default`: the canonical CallEvent (DESIGN §3) as it is, every field present,
 * unknown values null. One JSON.stringify per event, shared by every webhook using it.
 */
import type { PayloadFormat } from './common.js';

export const defaultFormat: PayloadFormat = {
  name: 'default',
  sends: () => true,
  payload: (ev) => ev,
  sharedAcrossWebhooks: true,
};

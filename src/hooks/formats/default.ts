/**
 * `format: default`: the canonical CallEvent (DESIGN §3) as it is, every field present,
 * unknown values null. One JSON.stringify per event, shared by every webhook using it.
 */
import type { CallEvent } from '../../calls/events.js';
import type { WebhookConfig } from '../../config/types.js';
import { renderFormat, type PayloadFormat, type RenderCache, type RenderedPayload } from './common.js';

export const defaultFormat: PayloadFormat = {
  name: 'default',
  sends: () => true,
  payload: (ev) => ev,
  sharedAcrossWebhooks: true,
};

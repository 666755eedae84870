/**
 * Payload rendering: turns one canonical event into what is sent to one webhook, in the
 * webhook's format (default, voipstudio, voiso, ziwo, template) and method (POST body or
 * GET query), with the URL filled in from the webhook's URL template. Webhooks are
 * compiled once; at run time a per-event cache lets webhooks that share a format share one
 * serialization. The rendered URL is what the outbox stores and the dispatcher sends to.
 */
import type { CallEvent } from '../calls/events.js';
import type { WebhookConfig, WebhookFormat } from '../config/types.js';
import { renderFormat, type PayloadFormat, type RenderCache, type RenderedPayload } from './formats/common.js';
import { defaultFormat } from './formats/default.js';
import { voipstudioFormat } from './formats/voipstudio.js';
import { voisoFormat } from './formats/voiso.js';
import { ziwoFormat } from './formats/ziwo.js';
import { sampleEvent } from './sample.js';
import { compileBodyTemplate, compileTemplate, renderTemplate } from './template.js';

export type { RenderedPayload, RenderCache } from './formats/common.js';
export { TemplateError } from './template.js';

const FORMATS: Record<Exclude<WebhookFormat, 'template'>, PayloadFormat> = {
  default: defaultFormat,
  voipstudio: voipstudioFormat,
  voiso: voisoFormat,
  ziwo: ziwoFormat,
};

/** A webhook ready to render: templates compiled, format looked up. */
export interface CompiledWebhook {
  readonly webhook: WebhookConfig;
  /** null: the webhook's format has no payload for this event (nothing is sent) */
  render(ev: CallEvent, cache?: RenderCache): RenderedPayload | null;
}

/** Compiles a webhook; throws an Error naming the webhook when its template or URL is unusable. */
export function compileWebhook(webhook: WebhookConfig): CompiledWebhook {
  try {
    const url = compileTemplate(webhook.url, 'url');
    if (webhook.format === 'template') {
      if (webhook.template === null) throw new Error('format: template needs a template');
      const body = compileBodyTemplate(webhook.template, webhook.method, sampleEvent('call.connected'));
      return { webhook, render: (ev) => renderTemplate(body, url, ev, webhook.method) };
    }
    const fmt = FORMATS[webhook.format];
    if (!fmt) throw new Error(`unknown format "${String(webhook.format)}"`);
    if (url.constant) return { webhook, render: (ev, cache) => renderFormat(fmt, ev, webhook, cache) };
    // URL tags: the payload is still shared, only the URL differs per event
    return {
      webhook,
      render: (ev, cache) => (fmt.sends(ev) ? renderFormat(fmt, ev, webhook, cache, url.render(ev)) : null),
    };
  } catch (err) {
    throw new Error(`webhook "${webhook.name}": ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** One-shot: render `ev` for `webhook` (send-test, tools). Null when the format does not send it. */
export function renderFor(ev: CallEvent, webhook: WebhookConfig): RenderedPayload | null {
  return compileWebhook(webhook).render(ev);
}

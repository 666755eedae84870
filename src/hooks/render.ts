/**
 * Payload rendering: turns one canonical event into what is sent to one webhook, in the
 * webhook's format (default, voipstudio, voiso, ziwo, template) and method (POST body or
 * GET query). Webhooks are compiled once (templates, URL tags); at run time a per-event
 * cache lets webhooks that share a format share one serialization.
 */
import type { CallEvent } from '../calls/events.js';
import type { WebhookConfig, WebhookFormat } from '../config/types.js';
import { renderFormat, type PayloadFormat, type RenderCache, type RenderedPayload } from './formats/common.js';
import { defaultFormat } from './formats/default.js';
import { voipstudioFormat } from './formats/voipstudio.js';
import { voisoFormat } from './formats/voiso.js';
import { ziwoFormat } from './formats/ziwo.js';
import { compileTemplate, compileWebhookTemplates, renderTemplate, TemplateError } from './formats/template.js';

export type { RenderedPayload, RenderCache } from './formats/common.js';
export { TemplateError } from './formats/template.js';

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
    if (webhook.format === 'template') {
      const { body, url } = compileWebhookTemplates(webhook);
      return { webhook, render: (ev) => renderTemplate(body, url, ev, webhook.method) };
    }
    const fmt = FORMATS[webhook.format];
    if (!fmt) throw new Error(`unknown format "${String(webhook.format)}"`);
    const url = compileTemplate(webhook.url, 'url');
    if (url.constant) return { webhook, render: (ev, cache) => renderFormat(fmt, ev, webhook, cache) };
    // URL tags: the payload is still shared, only the URL differs per event
    return {
      webhook,
      render: (ev, cache) => (fmt.sends(ev) ? renderFormat(fmt, ev, webhook, cache, url.render(ev)) : null),
    };
  } catch (err) {
    const why = err instanceof TemplateError || err instanceof Error ? err.message : String(err);
    throw new Error(`webhook "${webhook.name}": ${why}`);
  }
}

/** The problems `compileWebhook` would throw for, as messages (empty when it compiles). */
export function webhookProblems(webhook: WebhookConfig): string[] {
  try {
    compileWebhook(webhook);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** One-shot: render `ev` for `webhook` (send-test, tools). Null when the format does not send it. */
export function renderFor(ev: CallEvent, webhook: WebhookConfig): RenderedPayload | null {
  return compileWebhook(webhook).render(ev);
}

/** Test helper: a resolved WebhookConfig with the loader's defaults, overridden where a test says. */
import type { WebhookConfig } from '../../src/config/types.js';

export function webhookConfig(over: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    name: 'crm',
    url: 'https://crm.example.com/hooks/calls',
    method: 'POST',
    events: ['*'],
    filter: null,
    format: 'default',
    template: null,
    token: null,
    signing_secret: null,
    headers: {},
    timeout_ms: 5000,
    retry: { schedule_ms: [0] },
    allow_http: false,
    enabled: true,
    ...over,
  };
}

/**
 * What only the hooks side can judge in a configuration file: each webhook's URL and body
 * template and `calls.recording_url` compile (known fields, closed tags, valid JSON once
 * filled in), and each webhook's URL, filled in on a sample event, is https (or plain http
 * to a loopback host, or with allow_http). Runs on the raw, env-substituted file, so its
 * problems come in the same `callhook check` run as the schema's.
 */
import type { PathProblem } from '../config/schema.js';
import { isObj } from '../config/schema.js';
import { isLoopbackHost } from '../util/loopback.js';
import { sampleEvent } from './sample.js';
import { compileBodyTemplate, compileRecordingTemplate, compileTemplate, type CompiledTemplate } from './template.js';

/** Loopback hosts that may be called over plain http. */

function urlProblem(url: string, allowHttp: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a valid URL (expected https://host/path)';
  }
  if (parsed.protocol === 'https:') return null;
  if (parsed.protocol !== 'http:') return `unsupported scheme "${parsed.protocol.replace(/:$/, '')}" (expected https)`;
  if (allowHttp || isLoopbackHost(parsed.hostname)) return null;
  return `plain http to non-loopback host "${parsed.hostname}": use https, or set allow_http: true`;
}

function attempt<T>(fn: () => T): { value: T } | { error: string } {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Every template and URL problem of the raw config, with its key path. */
export function hookProblems(raw: unknown): PathProblem[] {
  const out: PathProblem[] = [];
  if (!isObj(raw)) return out;
  const sample = sampleEvent('call.connected');
  if (Array.isArray(raw.webhooks)) {
    raw.webhooks.forEach((w, i) => {
      if (!isObj(w)) return;
      if (typeof w.url === 'string' && w.url !== '') {
        const url = attempt<CompiledTemplate>(() => compileTemplate(w.url as string, 'url'));
        const problem = 'error' in url ? url.error : urlProblem(url.value.render(sample), w.allow_http === true);
        if (problem) out.push({ path: ['webhooks', i, 'url'], message: problem });
      }
      if (w.format === 'template' && typeof w.template === 'string' && w.template !== '') {
        const method = w.method === 'GET' ? 'GET' : 'POST';
        const body = attempt(() => compileBodyTemplate(w.template as string, method, sample));
        if ('error' in body) out.push({ path: ['webhooks', i, 'template'], message: body.error });
      }
    });
  }
  if (isObj(raw.calls) && typeof raw.calls.recording_url === 'string') {
    const t = attempt(() => compileRecordingTemplate((raw.calls as Record<string, string>).recording_url));
    if ('error' in t) out.push({ path: ['calls', 'recording_url'], message: t.error });
  }
  return out;
}

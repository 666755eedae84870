/**
 * The shared right-hand side of the data path: signals -> call tracker (one per PBX) ->
 * router -> rendered deliveries -> sink (the durable outbox). PBX adapters feed it;
 * `simulate` feeds it from a capture with no sink.
 */
import type { Logger } from 'pino';
import type { CallEvent } from './calls/events.js';
import type { Signal } from './calls/signals.js';
import { CallTracker, type TrackerOptions } from './calls/tracker.js';
import type { Config, PbxConfig } from './config/types.js';
import { globMatcher } from './util/glob.js';
import { Router } from './hooks/router.js';
import { compileRecordingTemplate, recordingUrlFor, type CompiledTemplate } from './hooks/template.js';
import type { DeliverySink } from './delivery/types.js';

export interface PipelineHooks {
  /** every event the trackers emit, before routing */
  onEvent?: (ev: CallEvent) => void;
  /** an event could not be rendered for a webhook (it is not sent there; the others get it) */
  onRenderError?: (err: unknown, webhook: string, ev: CallEvent) => void;
}

function trackerOptions(pbx: PbxConfig, config: Pick<Config, 'calls'>): TrackerOptions {
  return {
    pbx: { name: pbx.name, type: pbx.type },
    source: pbx.type === 'asterisk' ? 'ami' : 'esl',
    isTrunk: globMatcher(pbx.trunks),
    orphanTimeoutMs: pbx.orphan_timeout_ms,
    wrapupMs: pbx.wrapup_ms,
    ivrs: pbx.ivrs,
    recordingVariable: config.calls.recording_variable,
  };
}

export function createTracker(pbx: PbxConfig, config: Pick<Config, 'calls'>): CallTracker {
  return new CallTracker(trackerOptions(pbx, config));
}

export class Pipeline {
  private readonly trackers = new Map<string, CallTracker>();
  private router: Router | undefined;
  private recording: CompiledTemplate | null = null;

  constructor(
    config: Pick<Config, 'pbx' | 'webhooks' | 'calls'>,
    private readonly sink: DeliverySink | null,
    private readonly logger: Logger,
    private readonly hooks: PipelineHooks = {},
  ) {
    this.configure(config);
  }

  /** Feed one PBX's signals through its tracker, the router and into the outbox. */
  handle(pbxName: string, signals: Signal[]): void {
    const tracker = this.trackers.get(pbxName);
    if (!tracker) return;
    for (const sig of signals) {
      let events: CallEvent[];
      try {
        events = tracker.apply(sig);
      } catch (err) {
        // a tracker bug must not take the daemon down: log the signal that caused it
        this.logger.error({ err, pbx: pbxName, signal: sig.kind, pbxEvent: sig.pbxEvent }, 'tracker failed on a signal; skipped');
        continue;
      }
      for (const ev of events) this.emit(ev);
    }
  }

  /** The daemon's clock, for orphan legs. */
  tick(now: number): void {
    for (const name of this.trackers.keys()) this.handle(name, [{ kind: 'tick', time: now, pbxEvent: 'tick' }]);
  }

  /**
   * Applies a (reloaded) config: new routes and recording template at once; each PBX's
   * tracker takes the new rules (trunks, IVRs, orphan timeout, recording variable) and
   * keeps its calls in progress.
   */
  configure(config: Pick<Config, 'pbx' | 'webhooks' | 'calls'>): void {
    if (this.router) this.router.update(config.webhooks);
    else this.router = new Router(config.webhooks, { onRenderError: (err, webhook, ev) => this.hooks.onRenderError?.(err, webhook, ev) });
    const tpl = config.calls.recording_url;
    this.recording = tpl ? compileRecordingTemplate(tpl) : null;
    for (const pbx of config.pbx) {
      const existing = this.trackers.get(pbx.name);
      if (existing) existing.configure(trackerOptions(pbx, config));
      else this.trackers.set(pbx.name, createTracker(pbx, config));
    }
    for (const name of [...this.trackers.keys()]) {
      if (!config.pbx.some((p) => p.name === name)) this.trackers.delete(name);
    }
  }

  snapshot(): Array<{ pbx: string; calls: ReturnType<CallTracker['snapshot']> }> {
    return [...this.trackers].map(([pbx, t]) => ({ pbx, calls: t.snapshot() }));
  }

  get activeCalls(): number {
    let n = 0;
    for (const t of this.trackers.values()) n += t.activeCalls;
    return n;
  }

  get activeLegs(): number {
    let n = 0;
    for (const t of this.trackers.values()) n += t.activeLegs;
    return n;
  }

  private emit(ev: CallEvent): void {
    if (this.recording && ev.recording_url !== null) ev.recording_url = recordingUrlFor(this.recording, ev);
    if (this.recording && ev.reporting) {
      for (const seg of ev.reporting.segments) {
        if (seg.recording_url !== null) seg.recording_url = recordingUrlFor(this.recording, { ...ev, leg_id: seg.leg_id, endpoint: seg.endpoint, recording_url: seg.recording_url });
      }
    }
    this.hooks.onEvent?.(ev);
    this.logger.debug({ event: ev.event_name, call_id: ev.call_id, leg_id: ev.leg_id, state: ev.state, context: ev.context }, 'call event');
    if (!this.sink || !this.router) return;
    const deliveries = this.router.route(ev);
    if (deliveries.length) this.sink.enqueue(deliveries);
  }
}

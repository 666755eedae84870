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
import { Router, callKeyOf } from './hooks/router.js';
import { defaultFormat } from './hooks/formats/default.js';
import type { RenderCache } from './hooks/render.js';
import { compileRecordingTemplate, recordingUrlFor, type CompiledTemplate } from './hooks/template.js';
import type { DeliverySink } from './delivery/types.js';

/** where the calls' state goes: rows of StateRow, written with the events of the same turn */
export interface CallStateStore {
  setStateSource(source: () => Array<{ pbx: string; key: string; state: string | null }>): void;
  /** there is state to take: take it at the commit of this turn's deliveries */
  stateChanged(): void;
  loadState(): Array<{ pbx: string; key: string; state: string }>;
}

export interface PipelineHooks {
  /** every event the trackers emit, before routing */
  onEvent?: (ev: CallEvent) => void;
  /** an event could not be rendered for a webhook (it is not sent there; the others get it) */
  onRenderError?: (err: unknown, webhook: string, ev: CallEvent) => void;
  /** the durable store of calls in progress (the daemon's outbox); none in simulate */
  state?: CallStateStore;
  /** where each call's events are kept for the web view (the daemon's outbox) */
  history?: { recordEvent(callKey: string, body: string): void };
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

export function createTracker(pbx: PbxConfig, config: Pick<Config, 'calls'>, persist = false): CallTracker {
  return new CallTracker({ ...trackerOptions(pbx, config), persist });
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
    const store = hooks.state;
    if (store) {
      this.restore(store.loadState());
      store.setStateSource(() => this.takeStateChanges());
    }
  }

  /** calls in progress from the store (a restart), logged by PBX */
  private restore(rows: Array<{ pbx: string; key: string; state: string }>): void {
    const byPbx = new Map<string, Array<{ key: string; state: string }>>();
    for (const r of rows) {
      const list = byPbx.get(r.pbx);
      if (list) list.push(r);
      else byPbx.set(r.pbx, [r]);
    }
    for (const [pbx, list] of byPbx) {
      const tracker = this.trackers.get(pbx);
      if (!tracker) continue;
      try {
        const calls = tracker.restore(list);
        if (calls > 0) this.logger.info({ pbx, calls }, `restored ${calls} calls in progress from the store; the PBX's channel list will say which are still up`);
      } catch (err) {
        this.logger.error({ err, pbx }, 'the stored state of calls in progress cannot be read; starting without it');
      }
    }
  }

  private takeStateChanges(): Array<{ pbx: string; key: string; state: string | null }> {
    const out: Array<{ pbx: string; key: string; state: string | null }> = [];
    for (const [pbx, tracker] of this.trackers) for (const c of tracker.takeChanges()) out.push({ pbx, ...c });
    return out;
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
      if (sig.kind === 'resync') this.logResync(pbxName, sig.live.length, events);
    }
    this.hooks.state?.stateChanged();
  }

  private logResync(pbx: string, channels: number, events: CallEvent[]): void {
    const count = (name: string) => events.filter((e) => e.event_name === name && e.context === 'LOCAL_USER').length;
    this.logger.info(
      { pbx, channels, legs_ended: count('call.hangup'), legs_adopted: count('call.initial'), calls_ended: events.filter((e) => e.event_name === 'call.reporting').length },
      `calls resynchronised with ${pbx}'s channel list: what ended while callhook could not see it ends now (reconciled)`,
    );
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
      else this.trackers.set(pbx.name, createTracker(pbx, config, this.hooks.state !== undefined));
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
    // the canonical JSON is the history's record and the default format's body: one stringify
    const rendered: RenderCache = new Map();
    if (ev.call_id !== null && this.hooks.history) {
      const canonical = JSON.stringify(ev);
      rendered.set(defaultFormat.name, canonical);
      this.hooks.history.recordEvent(callKeyOf(ev), canonical);
    }
    this.logger.debug({ event: ev.event_name, call_id: ev.call_id, leg_id: ev.leg_id, state: ev.state, context: ev.context }, 'call event');
    if (!this.sink || !this.router) return;
    const deliveries = this.router.route(ev, rendered);
    if (deliveries.length) this.sink.enqueue(deliveries);
  }
}

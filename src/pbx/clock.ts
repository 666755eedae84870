/**
 * The PBX's clock as a connection sees it: event times come from the PBX (AMI Timestamp,
 * ESL Event-Date-Timestamp), which may differ from this host's clock. `now()` is the last
 * event's PBX time plus the local time elapsed since it arrived: when the connection was
 * lost, in the same clock as the call's other times.
 */
export class PbxClock {
  private last: { pbx: number; local: number } | null = null;

  constructor(private readonly local: () => number = Date.now) {}

  saw(pbxTime: number): void {
    this.last = { pbx: pbxTime, local: this.local() };
  }

  now(): number {
    const t = this.local();
    return this.last ? this.last.pbx + (t - this.last.local) : t;
  }
}

/** Messages per second over a sliding window, from per-second buckets (constant memory). */
export class RateWindow {
  private readonly buckets: number[];
  private readonly stamps: number[];

  /** @param windowSeconds window length. @default 60 */
  constructor(private readonly windowSeconds = 60) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
    this.stamps = new Array<number>(windowSeconds).fill(-1);
  }

  /** Counts `n` events at `now` (epoch ms). */
  add(n: number, now = Date.now()): void {
    const sec = Math.floor(now / 1000);
    const i = sec % this.windowSeconds;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i] = (this.buckets[i] ?? 0) + n;
  }

  /** Events per second over the last `windowSeconds` (or since `since` when more recent), at `now`. */
  perSecond(now = Date.now(), since?: number): number {
    const sec = Math.floor(now / 1000);
    let total = 0;
    for (let i = 0; i < this.windowSeconds; i++) {
      const s = this.stamps[i] ?? -1;
      if (s > sec - this.windowSeconds && s <= sec) total += this.buckets[i] ?? 0;
    }
    const span = since === undefined ? this.windowSeconds : Math.min(this.windowSeconds, Math.max(1, (now - since) / 1000));
    return Math.round((total / span) * 10) / 10;
  }
}

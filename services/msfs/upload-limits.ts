/**
 * What keeps anonymous uploads from hurting anyone: a per-address rate and
 * concurrency limit (client port), a global concurrency limit (temporary
 * space), and the storage quota.
 */

/** Uploads per client address: started per minute (fixed windows) and in progress. */
export class AddressLimits {
  private readonly byAddress = new Map<string, { window: number; started: number; active: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly concurrent: number,
  ) {}

  /** Null when `address` may start an upload now (call finish() after), else why not. */
  tryStart(address: string, now = Date.now()): string | null {
    const window = Math.floor(now / 60_000);
    let entry = this.byAddress.get(address);
    if (entry === undefined) {
      if (this.byAddress.size >= 100_000) this.prune(window);
      entry = { window, started: 0, active: 0 };
      this.byAddress.set(address, entry);
    }
    if (entry.window !== window) {
      entry.window = window;
      entry.started = 0;
    }
    if (entry.active >= this.concurrent) return `${this.concurrent} uploads already in progress from this address`;
    if (entry.started >= this.perMinute) return `more than ${this.perMinute} uploads this minute from this address`;
    entry.started++;
    entry.active++;
    return null;
  }

  finish(address: string): void {
    const entry = this.byAddress.get(address);
    if (entry !== undefined && entry.active > 0) entry.active--;
  }

  private prune(window: number): void {
    for (const [address, e] of this.byAddress) if (e.active === 0 && e.window !== window) this.byAddress.delete(address);
  }
}

/** Bytes stored against the quota (maxBytes 0: no quota). Counted at start, kept up to date by uploads. */
export class StorageQuota {
  constructor(
    public used: number,
    readonly maxBytes: number,
  ) {}

  fits(bytes: number): boolean {
    return this.maxBytes === 0 || this.used + bytes <= this.maxBytes;
  }

  /** Takes `bytes` from the quota; false (nothing taken) when they do not fit. */
  reserve(bytes: number): boolean {
    if (!this.fits(bytes)) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

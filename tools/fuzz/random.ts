/**
 * The fuzzer's randomness: one seeded generator per worker (lib/random.ts), so
 * a seed always produces the same PDU streams, with the helpers the generators use.
 */
import { seededRandom } from '../../lib/random';

export class Random {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = seededRandom(seed);
  }

  /** A generator for part `index` of a run seeded with `seed` (workers, users). */
  static derive(seed: number, index: number): Random {
    return new Random(Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b));
  }

  float(): number {
    return this.next();
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  uint32(): number {
    return Math.floor(this.next() * 0x1_0000_0000);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** One of `choices`, each [weight, value]. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let r = this.next() * total;
    for (const [w, value] of choices) {
      r -= w;
      if (r < 0) return value;
    }
    return choices[choices.length - 1][1];
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) out.writeUInt32LE(this.uint32(), i);
    for (; i < length; i++) out[i] = (this.next() * 256) | 0;
    return out;
  }

  /** A length that is usually small and sometimes large: 0..max, log-uniform. */
  size(max: number): number {
    if (max <= 0) return 0;
    return Math.min(max, Math.floor(Math.exp(this.next() * Math.log(max + 1))) - 1 + (this.chance(0.5) ? 0 : 1));
  }
}

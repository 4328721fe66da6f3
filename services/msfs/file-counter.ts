/**
 * The count of stored files (the original's FileCnt): it picks the folder of
 * the next file. Kept in a small file, rewritten atomically after changes
 * (coalesced: at most one write in flight), so a restart continues where it was.
 */
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export class FileCounter {
  private count = 0;
  private writing: Promise<void> | null = null;
  private dirty = false;

  constructor(private readonly file: string) {}

  async load(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    try {
      const n = Number((await readFile(this.file, 'utf8')).trim());
      if (Number.isSafeInteger(n) && n >= 0) this.count = n;
    } catch {
      this.count = 0;
    }
  }

  /** The number of the next file, counted as stored. */
  take(): number {
    const n = this.count++;
    this.dirty = true;
    this.writing ??= this.save();
    return n;
  }

  /** Resolves once the latest count is on disk. */
  async flush(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  private async save(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        const tmp = `${this.file}.tmp`;
        await writeFile(tmp, `${this.count}\n`, { mode: 0o600 });
        await rename(tmp, this.file);
      }
    } catch {
      // The count only spreads files over folders: a lost write costs nothing but balance.
    } finally {
      this.writing = null;
    }
  }
}

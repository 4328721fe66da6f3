/**
 * Files on local disk, as the original msfs lays them out (files.md §1.3): key
 * g0/DDD/SSS/NAME is BaseDir/DDD/SSS/NAME (the group name is not a folder).
 * put() hard-links the finished temporary file into place: atomic, and it fails
 * instead of replacing a file that exists. Files are mode 0640.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileStore, StoredFile } from './file-store';

const TEMP_FOLDER = '.incoming';

export class DiskStore implements FileStore {
  constructor(private readonly baseDir: string) {}

  get description(): string {
    return `disk ${this.baseDir}`;
  }

  async open(): Promise<void> {
    await mkdir(this.baseDir, { recursive: true, mode: 0o750 });
    // Uploads cut off by a crash or a restart leave temporary files: none is in use now.
    await rm(join(this.baseDir, TEMP_FOLDER), { recursive: true, force: true });
    await mkdir(join(this.baseDir, TEMP_FOLDER), { mode: 0o700 });
  }

  tempPath(): string {
    return join(this.baseDir, TEMP_FOLDER, randomBytes(12).toString('hex'));
  }

  private pathOf(key: string): string {
    // The key was checked against KEY_PATTERN: no "..", no leading dot.
    return join(this.baseDir, key.slice(key.indexOf('/') + 1));
  }

  async put(key: string, temp: string, _size: number): Promise<boolean> {
    const path = this.pathOf(key);
    try {
      await chmod(temp, 0o640);
      await mkdir(join(path, '..'), { recursive: true, mode: 0o750 });
      await link(temp, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  async get(key: string): Promise<StoredFile | null> {
    const path = this.pathOf(key);
    try {
      const info = await stat(path);
      if (!info.isFile()) return null;
      return { size: info.size, stream: () => createReadStream(path) };
    } catch {
      return null;
    }
  }

  async usage(): Promise<number> {
    let total = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.name === TEMP_FOLDER) continue;
        const p = join(dir, entry.name);
        if (entry.isDirectory()) await walk(p);
        else if (entry.isFile()) total += (await stat(p)).size;
      }
    };
    await walk(this.baseDir);
    return total;
  }

  async close(): Promise<void> {}
}

/**
 * How msfs names what it stores (files.md §1.3-§1.4). A stored file's key is
 * `g0/DDD/SSS/<unique><ext>`: the original's layout, so URLs look the same and
 * an original msfs's files can be served after copying BaseDir under ours.
 *
 *   <unique> = <microseconds since epoch, 16 digits>_<12 random digits>
 *   <ext>    = `_<w>x<h>.<type>` when the client's file name carries a size tag
 *              (cat_640x480.png, image.png_750x1334.png), else `.<type>`
 *
 * Everything in a key is made here (never taken from the client), and every key
 * a download asks for must match KEY_PATTERN: no traversal, no hidden files.
 */
import { randomInt } from 'node:crypto';

/** The group name in front of every key (constant in the original too). */
export const KEY_GROUP = 'g0';

/** What a download may ask for: group/DDD/SSS/name, the name starting with a letter, digit or underscore. */
export const KEY_PATTERN = /^[A-Za-z0-9]{1,16}\/\d{3}\/\d{3}\/[A-Za-z0-9_][A-Za-z0-9_.]{0,63}$/;

/** Longest client file name accepted (bytes), as the original. */
export const MAX_NAME_BYTES = 255;
/** Longest type (text after the last dot), as the original. */
export const MAX_TYPE_LENGTH = 15;

export type NameProblem = 'no-dot' | 'name-too-long' | 'type-too-long' | 'bad-type';

export interface StoredName {
  /** e.g. "png" (case kept, as the original). */
  type: string;
  /** "_640x480.png" or ".png". */
  ext: string;
}

/**
 * The type and stored extension of a client's file name, or why it is refused.
 * Only letters and digits are accepted in the type (the original crashed on a
 * type with a slash, files.md M3).
 */
export function storedNameOf(clientName: string): StoredName | NameProblem {
  if (Buffer.byteLength(clientName, 'utf8') > MAX_NAME_BYTES) return 'name-too-long';
  const dot = clientName.lastIndexOf('.');
  if (dot < 0) return 'no-dot';
  const type = clientName.slice(dot + 1);
  if (type.length > MAX_TYPE_LENGTH) return 'type-too-long';
  if (!/^[A-Za-z0-9]+$/.test(type)) return 'bad-type';
  return { type, ext: sizeTag(clientName, dot, type) ?? `.${type}` };
}

/** `_<w>x<h>.<type>` when the text between the last "_" and the last "." is <int>x<int> with at most 4 characters each side. */
function sizeTag(name: string, dot: number, type: string): string | null {
  const underscore = name.lastIndexOf('_', dot);
  if (underscore < 0) return null;
  const m = /^(\d{1,4})x(\d{1,4})$/.exec(name.slice(underscore + 1, dot));
  if (m === null) return null;
  const tag = `${Number(m[1])}x${Number(m[2])}.${type}`;
  return tag.length <= 15 ? `_${tag}` : null;
}

/** A fresh `<µs>_<12 digits>` (collisions are caught by the exclusive create and retried). */
export function uniqueName(): string {
  const micros = BigInt(Date.now()) * 1000n + BigInt(Number(process.hrtime.bigint() % 1000n));
  return `${micros.toString().padStart(16, '0').slice(-16)}_${String(randomInt(0, 1e12)).padStart(12, '0')}`;
}

/** The key of the `count`-th stored file (files.md §1.3: DDD and SSS from the file count). */
export function keyFor(count: number, filesPerDir: number, name: string): string {
  const ddd = Math.floor(count / filesPerDir / 255) % 1000;
  const sss = Math.floor((count % (filesPerDir * 255)) / filesPerDir);
  return `${KEY_GROUP}/${pad3(ddd)}/${pad3(sss)}/${name}`;
}

const pad3 = (n: number) => String(n).padStart(3, '0');

/**
 * The key a download target names, as the original reads it: the target minus
 * the leading "/" and the query string. 'traversal' for any "..", which the
 * original answers by closing the connection.
 */
export function keyOfTarget(target: string): string | 'traversal' {
  const path = target.split('?', 1)[0].replace(/^\/+/, '');
  if (path.includes('..')) return 'traversal';
  return path;
}

/** The content type a stored file is served with (nothing is ever served as HTML). */
export function contentTypeOf(key: string): string {
  const type = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  switch (type) {
    case 'jpg':
    case 'jpeg':
      return 'image/jpeg';
    case 'png':
      return 'image/png';
    case 'gif':
      return 'image/gif';
    case 'bmp':
      return 'image/bmp';
    case 'webp':
      return 'image/webp';
    default:
      return 'application/octet-stream';
  }
}

/** Whether the first bytes are an image (PNG, JPEG, GIF, BMP, WebP). Any image format will do: Android re-encodes pictures as PNG under their old name. */
export function looksLikeImage(head: Buffer): boolean {
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return true;
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return true;
  if (head.length >= 6 && (head.subarray(0, 6).toString('latin1') === 'GIF87a' || head.subarray(0, 6).toString('latin1') === 'GIF89a')) return true;
  if (head.length >= 2 && head[0] === 0x42 && head[1] === 0x4d) return true;
  return head.length >= 12 && head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP';
}

export const IMAGE_TYPES = new Set(['jpg', 'jpeg', 'png', 'gif', 'bmp', 'webp']);

/**
 * TeamTalk password rule: clients send md5(plain) as 32 lowercase hex chars;
 * IMUser.password = md5(that + IMUser.salt), salt up to 4 characters.
 */
import { createHash, randomInt } from 'node:crypto';

export function md5Hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** What a client puts in IMLoginReq.password. */
export function clientPasswordDigest(plain: string): string {
  return md5Hex(plain);
}

/** What IMUser.password holds for a client digest and salt. */
export function storedPassword(clientDigest: string, salt: string): string {
  return md5Hex(clientDigest + salt);
}

const SALT_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function newSalt(): string {
  let salt = '';
  for (let i = 0; i < 4; i++) salt += SALT_CHARS[randomInt(SALT_CHARS.length)];
  return salt;
}

/** Salt + stored hash for a plain password, ready for an IMUser row. */
export function hashForStorage(plain: string): { salt: string; password: string } {
  const salt = newSalt();
  return { salt, password: storedPassword(clientPasswordDigest(plain), salt) };
}

/**
 * Pictures inside message text (files.md §2.2): every TeamTalk client writes an
 * image as its URL between two fixed markers, and may mix text and several
 * images in one message. Split into pieces for display; build for sending.
 */
export const IMAGE_PREFIX = '&$#@~^@[{:';
export const IMAGE_SUFFIX = ':}]&$~@#@';

export type Piece = { kind: 'text'; text: string } | { kind: 'image'; url: string };

export function splitMarkup(text: string): Piece[] {
  const pieces: Piece[] = [];
  let rest = text;
  for (;;) {
    const start = rest.indexOf(IMAGE_PREFIX);
    const end = start < 0 ? -1 : rest.indexOf(IMAGE_SUFFIX, start + IMAGE_PREFIX.length);
    if (start < 0 || end < 0) break;
    if (start > 0) pieces.push({ kind: 'text', text: rest.slice(0, start) });
    pieces.push({ kind: 'image', url: decodeIfEncoded(rest.slice(start + IMAGE_PREFIX.length, end).trim()) });
    rest = rest.slice(end + IMAGE_SUFFIX.length);
  }
  if (rest !== '') pieces.push({ kind: 'text', text: rest });
  return pieces;
}

export function imageMarkup(url: string): string {
  return `${IMAGE_PREFIX}${url}${IMAGE_SUFFIX}`;
}

/** Android URL-encodes the URL inside the markers; a plain URL is left as it is. */
function decodeIfEncoded(url: string): string {
  if (!/^https?%3A/i.test(url)) return url;
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

/** A short one-line form for session lists and notifications. */
export function previewOf(text: string): string {
  return splitMarkup(text)
    .map((p) => (p.kind === 'image' ? '[picture]' : p.text))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
}

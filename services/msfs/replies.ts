/**
 * The upload reply, byte for byte the original's (files.md §1.3): one line of
 * JSON, always HTTP 200, text/html. Android parses the first body line, iOS and
 * Mac read error_code/url and require text/html, Windows and PHP read path.
 *
 * Codes 0-11 are the original's; 12-15 are this implementation's refusals
 * (clients only test for 0). Code 6 ("no part Content-Type") is never sent: a
 * part without one is accepted.
 */
export const UploadError = {
  OK: 0,
  TOO_LARGE: 1,
  NO_FORM_PART: 2,
  NO_FILE_NAME: 3,
  NO_BOUNDARY: 4,
  BOUNDARY_NOT_IN_BODY: 5,
  BAD_PART_HEADER: 7,
  CUT_OFF: 8,
  TYPE_TOO_LONG: 9,
  NO_TYPE: 10,
  NAME_TOO_LONG: 11,
  TYPE_NOT_ALLOWED: 12,
  TOO_MANY_UPLOADS: 13,
  QUOTA_FULL: 14,
  STORAGE_FAILED: 15,
} as const;

const MESSAGES: Record<number, string> = {
  0: '成功',
  1: '上传文件过大',
  12: '文件类型不允许',
  13: '上传过于频繁',
  14: '存储空间已满',
  15: '存储失败',
};
const FORMAT_ERROR = '格式错误';

export function successBody(path: string, url: string): string {
  return `{"error_code":0,"error_msg": "${MESSAGES[0]}","path":${JSON.stringify(path)},"url":${JSON.stringify(url)}}`;
}

export function errorBody(code: number): string {
  const msg = MESSAGES[code] ?? FORMAT_ERROR;
  // The original's "too large" reply has no path key.
  if (code === UploadError.TOO_LARGE) return `{"error_code":1,"error_msg": "${msg}","url":""}`;
  return `{"error_code":${code},"error_msg": "${msg}","path":"","url":""}`;
}

/** The headers of every upload reply (and Connection: close on every msfs response). */
export function replyHeaders(body: string): Record<string, string> {
  return {
    Connection: 'close',
    'Content-Length': String(Buffer.byteLength(body, 'utf8')),
    'Content-Type': 'text/html;charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
  };
}

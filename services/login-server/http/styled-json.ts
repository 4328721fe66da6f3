/**
 * The original login server's JSON layout (jsoncpp's StyledWriter): keys in
 * byte order, three-space indent, `"key" : value`, trailing newline. Clients
 * only need valid JSON, but some log or compare the text; keep it identical.
 */

export type FlatJson = Record<string, string | number>;

/**
 * JSON string literal. `<`, `>` and `&` are escaped too (still valid JSON, same
 * value): the body is served as text/html like the original's, so a hostile
 * value (say a msg server's host name) must not become markup in a browser.
 */
function quote(value: string): string {
  return JSON.stringify(value).replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function styledJson(object: FlatJson): string {
  const keys = Object.keys(object).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (keys.length === 0) return '{}\n';
  const lines = keys.map((key) => {
    const value = object[key];
    return `   ${quote(key)} : ${typeof value === 'number' ? String(value) : quote(value)}`;
  });
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** Address checks for the login server's answers. */

/** 127.0.0.0/8, ::1, "localhost" (and IPv4-mapped forms): reachable only from the same machine. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (a === 'localhost' || a.endsWith('.localhost') || a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice('::ffff:'.length) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/**
 * The original's whole "which network is the client on" logic: an address with
 * four dot-separated parts (any IPv4, also IPv4-mapped IPv6) gets ip1 first,
 * anything else gets ip2 first (behaviour.md §2.1).
 */
export function prefersFirstAddress(peerAddress: string): boolean {
  return peerAddress.split('.').length === 4;
}

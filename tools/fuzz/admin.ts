/**
 * The one question the fuzzer asks the login server's operators' endpoint:
 * which msg servers are registered (the cluster is up once both are; the
 * sentinel checks they stay listed).
 */
export async function registeredMsgServers(adminUrl: string, timeoutMs: number): Promise<string[]> {
  const res = await fetch(adminUrl, { signal: AbortSignal.timeout(timeoutMs) });
  const list = (await res.json()) as unknown;
  if (!Array.isArray(list)) throw new Error(`${adminUrl} did not answer a list of msg servers`);
  return list.map((s: { hostName?: unknown }) => String(s.hostName));
}

/**
 * Where a service's CPU went: reads V8 .cpuprofile files (TT_CPU_PROFILE, see
 * scripts/cluster/supervisor.ts) and prints JSON with the self time by
 * function and by module (a package under node_modules, a file of ours, or
 * node's own code), largest first.
 *
 *   node dist/scripts/profile-summary.js .run/profiles/db-proxy/*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** node_modules/<package>, our file relative to dist/, node:<internal>, or (program/gc/idle). */
export function moduleOf(url: string, functionName: string): string {
  if (url === '') return `(${functionName || 'native'})`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url;
  const dist = url.lastIndexOf('/dist/');
  return dist >= 0 ? url.slice(dist + '/dist/'.length) : url;
}

export function summarize(profiles: CpuProfile[], top: number) {
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    p.samples.forEach((id, i) => {
      const us = p.timeDeltas[i] ?? 0;
      const node = nodes.get(id);
      if (!node) return;
      const { functionName, url, lineNumber } = node.callFrame;
      totalUs += us;
      if (functionName === '(idle)') {
        idleUs += us;
        return;
      }
      const mod = moduleOf(url, functionName);
      const fn = `${functionName || '(anonymous)'} ${mod}:${lineNumber + 1}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
      byModule.set(mod, (byModule.get(mod) ?? 0) + us);
    });
  }
  const busyUs = totalUs - idleUs;
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct_of_busy: Math.round((us / Math.max(1, busyUs)) * 1000) / 10 }));
  return { profiles: profiles.length, wall_ms: Math.round(totalUs / 1000), busy_ms: Math.round(busyUs / 1000), by_module: rank(byModule), by_function: rank(byFunction) };
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true, strict: true });
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 1) throw new Error('--top must be a positive integer');
  if (positionals.length === 0) throw new Error('usage: profile-summary FILE.cpuprofile... [--top N]');
  const profiles = positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
  process.stdout.write(`${JSON.stringify(summarize(profiles, top), null, 2)}\n`);
}

if (require.main === module) main();

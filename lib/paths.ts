import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

/** The checkout's top folder (works from sources and from dist/). */
export const projectRoot = findProjectRoot(__dirname);
/** Local state of `npm start` / `npm test`: databases, pids, logs (git-ignored). TT_RUN_DIR moves it. */
export const runDir = process.env.TT_RUN_DIR ?? join(projectRoot, '.run');
export const schemaDir = join(projectRoot, 'schema');
/** The browser chat client as built by `npm run build` (from web/chat/). */
export const webChatDir = join(projectRoot, 'dist', 'web', 'chat');

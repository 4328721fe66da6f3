/**
 * The browser chat client under /chat/: static files built by `npm run build`
 * (web/chat/ -> dist/web/chat/), no server-side code. The page asks
 * /msg_server?transport=ws where to connect and talks TeamTalk PDUs over a
 * WebSocket to that msg server.
 *
 * Headers keep a hostile message from turning into script (a Content Security
 * Policy with no inline script, images only from here and the file store) and
 * keep other sites from framing the page.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import type { Logger } from '../../../lib/log';

export function webChatRoutes(dir: string, msfsUrl: string, logger: Logger): express.Router {
  const router = express.Router();
  if (!existsSync(join(dir, 'index.html'))) {
    logger.warn({ dir }, 'the web chat is not built (no index.html): /chat/ answers 503; run npm run build');
    router.use((_req, res) => {
      res.status(503).type('text/plain').send('The web chat has not been built on this server: run "npm run build".\n');
    });
    return router;
  }
  const fileStore = new URL(msfsUrl).origin;
  const policy = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob: ${fileStore}`,
    `connect-src 'self' ws: wss: ${fileStore}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', policy);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  // Revalidated on every load, so an upgraded server never serves a stale mix of files.
  router.use(express.static(dir, { index: 'index.html', redirect: true, cacheControl: true, maxAge: 0, etag: true, dotfiles: 'ignore' }));
  return router;
}

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';

/** The console's own files (copied next to this module by the build). */
const PUBLIC_DIR = join(import.meta.dirname, 'public');

/**
 * Preact with htm as one browser ES module with no bare imports, so the page loads it with a
 * plain `<script type="module">` (an import map would be an inline script, which the CSP
 * refuses). Served from the installed `htm` package: its version is the lockfile's.
 */
function preactHtmModule(): string {
  // The package's main module is dist/htm.js; its browser builds sit beside dist/ (their own
  // export conditions name files the package does not ship for `require`).
  const main = createRequire(import.meta.url).resolve('htm');
  return join(dirname(main), '..', 'preact', 'standalone.module.js');
}

/**
 * GET /console: the web console, static files that call the public API with the key their user
 * enters. No key is needed for the files themselves (they hold nothing of the caller's).
 */
export function serveConsole(app: NestExpressApplication): void {
  const vendorModule = preactHtmModule();
  const page = join(PUBLIC_DIR, 'index.html');
  const readOnly = (req: Request) => req.method === 'GET' || req.method === 'HEAD';
  app.use('/console/vendor/preact-htm.js', (req: Request, res: Response, next: NextFunction) => {
    if (!readOnly(req)) return next();
    res.sendFile(vendorModule, { headers: { 'Content-Type': 'text/javascript; charset=utf-8' } });
  });
  // The page itself at /console as well as /console/ (no redirect: its links are absolute).
  app.use('/console', (req: Request, res: Response, next: NextFunction) => {
    if (!readOnly(req) || req.path !== '/') return next();
    res.sendFile(page);
  });
  app.useStaticAssets(PUBLIC_DIR, { prefix: '/console', index: false });
}

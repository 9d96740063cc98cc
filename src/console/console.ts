import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';

/** Where the console is served: its page at /console/ (/console redirects there), its hashed assets under /console/assets/. */
export const CONSOLE_PREFIX = '/console';

/**
 * The folder Vite builds the console into (`web/` → dist/console), found from the package root
 * so that the compiled service (dist/src/…), the sources under test (src/…) and the image
 * (/app/dist/src/…) all find the same build.
 */
export function consoleBuildDirectory(from: string = import.meta.dirname): string {
  let folder = from;
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error(`no package.json above ${from}`);
    folder = parent;
  }
  return join(folder, 'dist', 'console');
}

/**
 * Serves the web console (web/, built by `npm run build`) as static files at /console/, under the
 * same Content-Security-Policy as every response (registerSecurity). It is a client of the public
 * API like any other: no route of its own besides its files. Off with CONSOLE_ENABLED=false; a
 * checkout that was never built serves no console and says so once in the log.
 */
export async function registerConsole(app: NestFastifyApplication, enabled: boolean, directory = consoleBuildDirectory()): Promise<void> {
  if (!enabled) return;
  if (!existsSync(join(directory, 'index.html'))) {
    app.getHttpAdapter().getInstance().log.warn({ directory }, 'the console is not built (npm run build); /console answers 404');
    return;
  }
  await app.register(fastifyStatic, {
    root: directory,
    prefix: CONSOLE_PREFIX,
    // Swagger UI registers @fastify/static too; one reply.sendFile decorator is enough.
    decorateReply: false,
    // /console → /console/
    redirect: true,
    index: 'index.html',
    // A dot file is as missing as any other file the build does not have (404, not 403).
    dotfiles: 'ignore',
    // The headers below say how long each file may be cached, not @fastify/static's max-age=0.
    cacheControl: false,
    setHeaders: (response, path) => {
      // Asset names carry a content hash: they never change. The page itself is always revalidated.
      const immutable = path.startsWith(join(directory, 'assets') + sep);
      response.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}

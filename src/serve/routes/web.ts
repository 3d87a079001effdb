// The web app at / (the built Vite output), or a page saying how to build it.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { packageRoot } from '../../util/assets.js';

export function defaultWebDir(): string {
  return join(packageRoot(), 'dist', 'web');
}

const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>tl serve</title><p>The web app is not built. Run <code>npm run build</code> in the tl package, then restart <code>tl serve</code>. The API is available under <a href="/v1/health">/v1</a> (<a href="/v1/openapi.json">OpenAPI</a>).</p>';

/** `webDir` null serves no web app. */
export async function webRoutes(app: FastifyInstance, { webDir }: { webDir: string | null }): Promise<void> {
  if (webDir && existsSync(join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, {
      root: resolve(webDir),
      prefix: '/',
      index: ['index.html'],
      setHeaders: (reply, path) => {
        // Vite names built assets by content hash; index.html must always be revalidated.
        reply.header(
          'cache-control',
          /[/\\]assets[/\\]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
  } else if (webDir !== null) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/html; charset=utf-8').send(NOT_BUILT),
    );
  }
}

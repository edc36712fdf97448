import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { LOGIN_PAGE } from './auth/index.ts';
import { requireReaderAuth } from './auth/require.ts';

export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

const NOT_BUILT =
  'The Uniprof web UI has not been built: run `npm run build:ui` (it writes dist/ui), then restart. ' +
  'The API under /api works without it.';

/** Serves the built web UI (dist/ui) under /ui/, and / redirects there. Needs registerReaderAuth first. */
export async function registerUi(app: FastifyInstance, options: { directory?: string } = {}): Promise<void> {
  requireReaderAuth(app, 'the web UI');
  const root = normalize(options.directory ?? DEFAULT_UI_DIR);
  const send = (reply: FastifyReply, wanted: string) => sendFile(reply, root, wanted);

  app.get('/', async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui', async (_request, reply) => reply.redirect('/ui/'));
  // Open to anyone (see OPEN_ROUTES): the login page and the built code and styles it loads.
  app.get(LOGIN_PAGE, async (_request, reply) => send(reply, 'login.html'));
  app.get('/ui/assets/*', async (request, reply) =>
    send(reply, `assets/${(request.params as { '*': string })['*']}`),
  );
  app.get('/ui/*', async (request, reply) =>
    send(reply, (request.params as { '*': string })['*'] || 'index.html'),
  );
}

async function sendFile(reply: FastifyReply, root: string, wanted: string): Promise<FastifyReply> {
  if (!existsSync(join(root, 'index.html'))) {
    return reply.code(503).header('content-type', 'text/plain; charset=utf-8').send(NOT_BUILT);
  }
  const file = normalize(join(root, decodeURIComponent(wanted)));
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) {
    return reply.code(404).send({ error: 'not_found', message: 'no such file' });
  }
  try {
    const body = await readFile(file);
    const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
    // Built assets carry a content hash in their names: cache them; never cache the pages.
    const cache = wanted.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    return reply.header('content-type', type).header('cache-control', cache).send(body);
  } catch {
    return reply.code(404).send({ error: 'not_found', message: `no such file: ${wanted}` });
  }
}

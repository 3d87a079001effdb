// A server-sent event stream (a job's events, a project's): the reply taken over with the stream's headers, a
// heartbeat while it is open, and its place in the server's open streams (ended when the server closes).
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** How often an idle stream sends a comment line. */
export const HEARTBEAT_MS = 15_000;

/**
 * Take over `reply` as an event stream, counted in `clients` with a heartbeat until the returned stop() is called or
 * the client goes away; `onStop` runs then (once or more: make it idempotent).
 */
export function openEventStream(
  reply: FastifyReply,
  clients: Set<ServerResponse>,
  onStop: () => void,
): { res: ServerResponse; stop: () => void } {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 1500\n\n');
  clients.add(res);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const stop = () => {
    clearInterval(heartbeat);
    onStop();
    clients.delete(res);
  };
  res.on('close', stop);
  return { res, stop };
}

import { once } from 'node:events';
import { createServer } from 'node:net';

/**
 * A loopback TCP port nothing listens on right now, for programs that must be told a port (Elasticsearch,
 * debuginfod, the reference collector, packaged services). Another process can take it before the program
 * binds it: start Uniprof itself with port 0 instead (processes.ts), and retry a peer that lost the race.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

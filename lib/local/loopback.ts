/**
 * Servers on the loopback interface: binding one to 127.0.0.1 and stopping it with its open connections.
 * Local mode's servers (the HTTP adapter, the demo authorization server, dynalite) and the tests' servers
 * share these.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Binds `server` to 127.0.0.1:`port` (0: a free port) and resolves with the bound port. A failed bind (the
 * server's `error` event: EADDRINUSE, EACCES…) rejects with `bindError(error)`, by default the error itself.
 */
export function listenOnLoopback(
  server: Server,
  port: number,
  bindError: (error: NodeJS.ErrnoException) => Error = (error) => error,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(bindError(error));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host: '127.0.0.1', exclusive: true });
  });
}

/** A server bound to the loopback interface, as local mode's and the console's servers hand it out. */
export interface LoopbackServer {
  readonly server: Server;
  /** `http://127.0.0.1:<port>`, once listening. */
  readonly url: string;
  readonly port: number;
  listen(port: number): Promise<void>;
}

/** The handle of `server`: `listen` binds it to loopback; a failed bind rejects with `bindError(requested, error)`. */
export function loopbackServer(server: Server, bindError: (requested: number, error: NodeJS.ErrnoException) => Error): LoopbackServer {
  let port = 0;
  return {
    server,
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    async listen(requested: number) {
      port = await listenOnLoopback(server, requested, (error) => bindError(requested, error));
    },
  };
}

/**
 * Stops `server` and cuts its open connections (idle keep-alive ones included) instead of waiting for them.
 * Rejects when the server was not running.
 */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error?: Error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

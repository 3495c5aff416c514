/**
 * Servers that stand for remote services (dynalite for DynamoDB, oidc-provider for an authorization
 * server) run in their own Node processes on loopback, so that their CPU time is not charged to the broker
 * or to the baseline client measured in the benchmark process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface ServerProcess<R> {
  ready: R;
  /** Sends `{ op, ...args }` and resolves with the child's `value`. */
  ask<T>(op: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

export async function startServerProcess<R>(script: string, timeoutMs = 30_000): Promise<ServerProcess<R>> {
  const child: ChildProcess = fork(fileURLToPath(new URL(`./children/${script}`, import.meta.url)), [], {
    execArgv: ['--import', 'tsx', '--no-warnings'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 1;
  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
    child.on('message', (message: { ready?: R; id?: number; value?: unknown; error?: string }) => {
      if (message.ready !== undefined) {
        clearTimeout(timer);
        resolve(message.ready);
      } else if (message.id !== undefined) {
        pending.get(message.id)?.(message.error !== undefined ? Promise.reject(new Error(message.error)) : message.value);
        pending.delete(message.id);
      }
    });
  });
  return {
    ready,
    ask<T>(op: string, args: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve) => {
        pending.set(id, resolve as (value: unknown) => void);
        child.send({ id, op, ...args });
      });
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
        setTimeout(() => child.kill(), 2000).unref();
      });
    },
  };
}

export interface DynaliteProcess {
  endpoint: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  usage(): Promise<{ cpuMs: number; peakRssMiB: number }>;
  stop(): Promise<void>;
}

export async function startDynaliteProcess(): Promise<DynaliteProcess> {
  const server = await startServerProcess<{ port: number }>('dynalite.ts');
  const endpoint = `http://127.0.0.1:${server.ready.port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    client,
    doc,
    usage: () => server.ask('usage'),
    async stop() {
      client.destroy();
      await server.stop();
    },
  };
}

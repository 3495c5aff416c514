/**
 * dynalite in its own process (DynamoDB is a remote service: its CPU should not be the broker's). Started
 * by `startServerProcess`; sends `{ ready: { port } }` once listening, answers `{ op: 'usage' }` with its
 * CPU time and peak RSS, and exits when the parent disconnects.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const dynalite = createRequire(import.meta.url)('dynalite') as (options: Record<string, number>) => Server;
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, '127.0.0.1', () => {
  process.send?.({ ready: { port: (server.address() as AddressInfo).port } });
});
process.on('message', (message: { id: number; op: string }) => {
  if (message.op === 'usage') {
    const cpu = process.cpuUsage();
    process.send?.({ id: message.id, value: { cpuMs: (cpu.user + cpu.system) / 1000, peakRssMiB: process.resourceUsage().maxRSS / 1024 } });
  }
});
process.on('disconnect', () => process.exit(0));

/**
 * A stand-in for API Gateway's `AWS_IAM` authorization in front of local mode: it answers on loopback for
 * a public execute-api URL, verifies each request's SigV4 signature with `@smithy/signature-v4` (for the
 * host name the client addressed, like API Gateway), refuses what is unsigned or wrongly signed with
 * API Gateway's 403 answers, optionally denies routes like a missing IAM permission, and forwards the
 * rest to local mode with the stage path removed. It records every request and its verdict.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { readBody } from '../../../lib/local/http-adapter.js';
import { closeServer, listenOnLoopback } from '../../../lib/local/loopback.js';
import { NodeSha256, type AwsCredentials } from '../../../lib/sdk/signing.js';
import type { FetchLike } from '../../../lib/sdk/transport.js';
import { aliasFetch } from '../../support/hostile-server.js';

export type Verdict = 'forwarded' | 'unsigned' | 'unknown_key' | 'bad_signature' | 'denied';

export interface GatewayRecord {
  method: string;
  /** The path as received, stage included. */
  path: string;
  verdict: Verdict;
  accessKeyId?: string;
}

export interface SigV4GatewayOptions {
  /** The API's public stage URL, e.g. `https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod`. */
  publicUrl: string;
  region: string;
  /** The one identity this gateway knows. */
  credentials: AwsCredentials;
  /** Local mode's base URL. */
  upstream: string;
  /** Routes the identity may not invoke (IAM says no). */
  deny?: (method: string, path: string) => boolean;
}

export interface SigV4Gateway {
  readonly records: readonly GatewayRecord[];
  /** A `fetch` that delivers requests for the public URL's origin to this gateway (a DNS stand-in). */
  readonly fetch: FetchLike;
  /** This gateway's loopback URL. */
  readonly url: string;
  close(): Promise<void>;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

export async function startSigV4Gateway(options: SigV4GatewayOptions): Promise<SigV4Gateway> {
  const publicUrl = new URL(options.publicUrl);
  const stage = publicUrl.pathname.replace(/\/+$/, '');
  const records: GatewayRecord[] = [];
  const signer = new SignatureV4({ service: 'execute-api', region: options.region, credentials: options.credentials, sha256: NodeSha256 });

  const server: Server = createServer((req, res) => {
    void (async () => {
      const read = await readBody(req, 1024 * 1024);
      const body = Buffer.from(typeof read === 'string' ? read : '', 'utf8');
      const url = new URL(req.url ?? '/', publicUrl);
      const record: GatewayRecord = { method: req.method ?? 'GET', path: url.pathname, verdict: 'unsigned' };
      records.push(record);
      const answer = (status: number, json: unknown) => {
        const text = JSON.stringify(json);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const verdict = await verify(req, url, body);
      record.verdict = verdict.verdict;
      if (verdict.accessKeyId) record.accessKeyId = verdict.accessKeyId;
      if (verdict.verdict === 'unsigned') return answer(403, { message: 'Missing Authentication Token' });
      if (verdict.verdict === 'unknown_key') return answer(403, { message: 'The security token included in the request is invalid.' });
      if (verdict.verdict === 'bad_signature') {
        return answer(403, { message: 'The request signature we calculated does not match the signature you provided.' });
      }
      const path = url.pathname.startsWith(`${stage}/`) ? url.pathname.slice(stage.length) : url.pathname;
      if (options.deny?.(record.method, path)) {
        record.verdict = 'denied';
        return answer(403, {
          message: `User: arn:aws:sts::123456789012:assumed-role/ReadOnly/operator is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:${options.region}:123456789012:a1b2c3d4e5/prod/${record.method}${path}`,
        });
      }
      const upstream = await fetch(`${options.upstream}${path}${url.search}`, {
        method: record.method,
        headers: { accept: 'application/json', ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}) },
        ...(body.length > 0 ? { body: body.toString('utf8') } : {}),
      });
      const bytes = Buffer.from(await upstream.arrayBuffer());
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'retry-after', 'cache-control']) {
        const value = upstream.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      res.writeHead(upstream.status, headers);
      res.end(upstream.status === 204 ? undefined : bytes);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  /** Signs the request again as API Gateway sees it (its own host name, the signed headers as received). */
  async function verify(req: IncomingMessage, url: URL, body: Buffer): Promise<{ verdict: Verdict; accessKeyId?: string }> {
    const authorization = req.headers.authorization;
    const amzDate = req.headers['x-amz-date'];
    const match = authorization ? AUTHORIZATION.exec(authorization) : null;
    if (!match || typeof amzDate !== 'string') return { verdict: 'unsigned' };
    const [, accessKeyId, , region, service, signedHeaders] = match as unknown as string[];
    if (accessKeyId !== options.credentials.accessKeyId) return { verdict: 'unknown_key', accessKeyId };
    if (region !== options.region || service !== 'execute-api') return { verdict: 'bad_signature', accessKeyId };
    const payloadHash = req.headers['x-amz-content-sha256'];
    if (payloadHash !== undefined && payloadHash !== createHash('sha256').update(body).digest('hex')) return { verdict: 'bad_signature', accessKeyId };
    const headers: Record<string, string> = {};
    for (const name of signedHeaders!.split(';')) {
      const value = name === 'host' ? publicUrl.host : req.headers[name];
      if (typeof value !== 'string') return { verdict: 'bad_signature', accessKeyId };
      headers[name] = value;
    }
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(key);
      query[key] = values.length === 1 ? values[0]! : values;
    }
    const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    const expected = await signer.sign(
      { method: req.method ?? 'GET', protocol: publicUrl.protocol, hostname: publicUrl.hostname, path: url.pathname, query, headers, ...(body.length ? { body: body.toString('utf8') } : {}) },
      { signingDate },
    );
    return { verdict: expected.headers.authorization === authorization ? 'forwarded' : 'bad_signature', accessKeyId };
  }

  const port = await listenOnLoopback(server, 0);
  const url = `http://127.0.0.1:${port}`;
  // The public URL (API Gateway's) is answered here; anything else goes where it names.
  const routed: FetchLike = aliasFetch(new Map([[publicUrl.origin, url]]));
  return { records, fetch: routed, url, close: () => closeServer(server) };
}

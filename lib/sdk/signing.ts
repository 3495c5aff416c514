/**
 * SigV4 for the broker's API Gateway (`AWS_IAM` authorization, service `execute-api`), shared by the SDK
 * and the CLI. Loopback base URLs (local mode) are never signed. The signing libraries and the default
 * credential chain are loaded only when a request is actually signed.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { SignatureV4 } from '@smithy/signature-v4';
import { isLoopbackUrl } from '../shared.js';

/** AWS credentials, as the AWS SDK's credential providers return them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** A function returning credentials, e.g. `fromNodeProviderChain()` or `fromIni({ profile: 'ops' })`. */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

export interface SigningOptions {
  /**
   * The API's region. Default: derived from an `*.execute-api.<region>.amazonaws.com` host name, else
   * `AWS_REGION` / `AWS_DEFAULT_REGION`.
   */
  region?: string;
  /** Static credentials or a provider. Default: the AWS SDK's default credential chain. */
  credentials?: AwsCredentials | AwsCredentialsProvider;
  /** Where `AWS_REGION` is read from. Default: `process.env`. */
  env?: Record<string, string | undefined>;
}

/** A request about to be sent; the signer returns the headers to send (the given ones plus SigV4's). */
export interface SignableRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

export type RequestSigner = (request: SignableRequest) => Promise<Record<string, string>>;

/** Local mode binds to loopback and checks no signature (docs/api.md "Base URL and authentication"). */
export { isLoopbackUrl };

const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/i;

/** The region of an `https://<apiId>.execute-api.<region>.amazonaws.com/<stage>` URL, else `undefined`. */
export function regionFromExecuteApiUrl(url: URL | string): string | undefined {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return EXECUTE_API_HOST.exec(parsed.hostname)?.[1]?.toLowerCase();
}

/** The region to sign for: the explicit one, else the host name's, else `AWS_REGION` / `AWS_DEFAULT_REGION`. */
export function resolveRegion(url: URL, options: Pick<SigningOptions, 'region' | 'env'> = {}): string | undefined {
  const env = options.env ?? process.env;
  return options.region || regionFromExecuteApiUrl(url) || env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** SHA-256 (HMAC-SHA-256 when given a secret) from `node:crypto`, in the shape `@smithy/signature-v4` takes. */
export class NodeSha256 {
  readonly #secret: SourceData | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = this.#create();
  }

  update(data: SourceData): void {
    this.#hash.update(toBuffer(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }

  reset(): void {
    this.#hash = this.#create();
  }

  #create(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.#secret));
  }
}

/**
 * The signer for requests to `baseUrl`, or `null` when `baseUrl` is loopback (local mode, unsigned).
 * Region and credentials are resolved on the first signed request, so constructing a client never fails
 * for lack of them.
 */
export function createRequestSigner(baseUrl: URL, options: SigningOptions = {}): RequestSigner | null {
  if (isLoopbackUrl(baseUrl)) return null;
  let credentials: AwsCredentials | AwsCredentialsProvider | undefined = options.credentials;
  let signer: Promise<SignatureV4> | undefined;

  const load = async (): Promise<SignatureV4> => {
    const region = resolveRegion(baseUrl, options);
    if (!region) {
      throw new Error(
        `Cannot tell the AWS region of ${baseUrl.origin} to sign requests: pass a region or set AWS_REGION.`,
      );
    }
    if (credentials === undefined) {
      const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
      credentials = defaultProvider() as AwsCredentialsProvider;
    }
    const provider = credentials;
    const { SignatureV4: Signer } = await import('@smithy/signature-v4');
    return new Signer({
      service: 'execute-api',
      region,
      credentials: typeof provider === 'function' ? () => loadCredentials(provider) : provider,
      sha256: NodeSha256,
    });
  };

  return async ({ method, url, headers, body }) => {
    signer ??= load();
    let instance: SignatureV4;
    try {
      instance = await signer;
    } catch (error) {
      signer = undefined; // a later call may succeed (region or credentials configured since)
      throw error;
    }
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(key);
      query[key] = values.length === 1 ? (values[0] as string) : values;
    }
    const signed = await instance.sign({
      method: method.toUpperCase(),
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { ...headers, host: url.host },
      ...(body === undefined ? {} : { body }),
    });
    // fetch sets Host itself (to the same url.host that was signed) and refuses to be given one.
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) {
      if (name.toLowerCase() !== 'host') out[name] = value;
    }
    return out;
  };
}

async function loadCredentials(provider: AwsCredentialsProvider): Promise<AwsCredentials> {
  try {
    return await provider();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(
      `No AWS credentials to sign the request with (${detail}). Configure the default credential chain: ` +
        'AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO (aws sso login), or an instance/task role.',
      { cause: error },
    );
  }
}

/**
 * One HTTP request to the broker: URL joined onto the base URL (which may carry an API Gateway stage
 * path), SigV4-signed unless loopback, network failures and error answers turned into
 * {@link BrokerApiError}. Used by {@link TokenClient} and by the admin CLI.
 */
import { BrokerApiError, errorFromResponse, networkError } from './errors.js';
import { createRequestSigner, isLoopbackUrl, type RequestSigner, type SigningOptions } from './signing.js';

/** The subset of `fetch` the SDK uses; inject one to observe or stub requests. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface TransportOptions extends SigningOptions {
  /** The broker's base URL: the API Gateway stage URL (`ApiUrl` output), or `http://127.0.0.1:8787` locally. */
  baseUrl: string | URL;
  fetch?: FetchLike;
}

export interface TransportRequest {
  query?: Record<string, string | number | undefined>;
  /** A JSON text; sent with `content-type: application/json`. */
  body?: string;
  signal?: AbortSignal;
}

export interface JsonAnswer<T> {
  status: number;
  headers: Headers;
  body: T;
}

export class BrokerTransport {
  /** The base URL (its path, e.g. an API Gateway stage, without a trailing slash). */
  readonly baseUrl: URL;
  /** Whether requests are SigV4-signed (the base URL is not loopback). */
  readonly signed: boolean;
  readonly #fetch: FetchLike;
  readonly #signer: RequestSigner | null;

  constructor(options: TransportOptions) {
    let base: URL;
    try {
      base = new URL(String(options.baseUrl));
    } catch {
      throw new TypeError(`baseUrl is not an absolute URL: ${String(options.baseUrl)}`);
    }
    if (base.protocol !== 'https:' && !(base.protocol === 'http:' && isLoopbackUrl(base))) {
      // Signed requests and the tokens in the answers must not cross the network in clear text.
      throw new TypeError(`baseUrl must be an https: URL (http: only for a broker on loopback: 127.0.0.1, localhost or [::1]): ${base.href}`);
    }
    base.search = '';
    base.hash = '';
    base.pathname = base.pathname.replace(/\/+$/, '');
    this.baseUrl = base;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#signer = createRequestSigner(base, options);
    this.signed = this.#signer !== null;
  }

  /** `path` (starting with `/`) under the base URL, with `query` (undefined values left out). */
  url(path: string, query: TransportRequest['query'] = {}): URL {
    const url = new URL(this.baseUrl.href);
    url.pathname = `${this.baseUrl.pathname.replace(/\/+$/, '')}${path}`;
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  /** Sends one request and answers the response, whatever its status. Throws only when nothing was answered. */
  async send(method: string, path: string, request: TransportRequest = {}): Promise<Response> {
    const url = this.url(path, request.query);
    let headers: Record<string, string> = { accept: 'application/json' };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (this.#signer) headers = await this.#signer({ method, url, headers, ...(request.body === undefined ? {} : { body: request.body }) });
    try {
      return await this.#fetch(url.href, {
        method,
        headers,
        // A redirect would carry the signature (and, to a host of the redirector's choosing, a request it
        // can replay within SigV4's five minutes): never followed, reported by json() instead.
        redirect: 'manual',
        ...(request.body === undefined ? {} : { body: request.body }),
        ...(request.signal ? { signal: request.signal } : {}),
      });
    } catch (error) {
      throw networkError(url, error);
    }
  }

  /** Sends one request; answers the parsed JSON body of a 2xx (`undefined` for 204), throws {@link BrokerApiError} otherwise. */
  async json<T>(method: string, path: string, request: TransportRequest = {}): Promise<JsonAnswer<T>> {
    const response = await this.send(method, path, request);
    if (isRedirect(response.status)) {
      await response.body?.cancel().catch(() => undefined);
      throw redirectRefused(response);
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return { status: 204, headers: response.headers, body: undefined as T };
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw networkError(this.baseUrl, error);
    }
    try {
      return { status: response.status, headers: response.headers, body: JSON.parse(text) as T };
    } catch {
      throw new BrokerApiError(response.status, 'invalid_response', `The broker answered HTTP ${response.status} with a body that is not JSON.`);
    }
  }
}

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

function redirectRefused(response: Response): BrokerApiError {
  let target = '';
  try {
    const location = response.headers.get('location');
    if (location) target = ` to ${new URL(location, response.url || undefined).origin}`;
  } catch {
    // An unreadable Location names nothing worth showing.
  }
  return new BrokerApiError(
    response.status,
    'invalid_response',
    `The broker answered HTTP ${response.status}, a redirect${target}, which is not followed: requests carry credentials. Use the broker's final URL as the base URL.`,
  );
}

/**
 * Completing the login + consent of oidc-provider's devInteractions (any login, any password,
 * one "Continue" button) for an authorization URL, either with plain fetch or in headless Chromium.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

/** Launch headless Chromium the way every test here does. Close it yourself. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

export interface ProgrammaticConsentOptions {
  /** account id to sign in as (default `user-1`); becomes the `sub` */
  login?: string;
  password?: string;
  /** press "Cancel" instead of "Continue": the redirect then carries `error=access_denied` */
  deny?: boolean;
  /**
   * Called with the final redirect URL (to the client's redirect_uri) once it is reached, e.g.
   * `(url) => fetch(url)` to deliver it to the broker's /callback. The URL is returned either way.
   */
  followRedirectTo?: (url: string) => Promise<Response>;
  /** where the flow ends; default: the `redirect_uri` of the authorization URL */
  redirectUri?: string;
}

// ---- a tiny cookie jar --------------------------------------------------------------------------

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  expiresAt?: number;
}

export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  store(response: Response, requestUrl: URL): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = requestUrl.pathname.replace(/\/[^/]*$/, '') || '/';
      let expiresAt: number | undefined;
      for (const attr of attrs) {
        const [k = '', v = ''] = attr.split('=').map((x) => x.trim());
        const key = k.toLowerCase();
        if (key === 'path' && v) path = v;
        else if (key === 'max-age') expiresAt = Date.now() + Number(v) * 1000;
        else if (key === 'expires' && expiresAt === undefined) expiresAt = Date.parse(v);
      }
      const id = `${name}\u0000${path}`;
      if (expiresAt !== undefined && expiresAt <= Date.now()) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path, ...(expiresAt !== undefined ? { expiresAt } : {}) });
    }
  }

  header(url: URL): string | undefined {
    const now = Date.now();
    const matching = [...this.#cookies.values()]
      .filter((c) => (c.expiresAt === undefined || c.expiresAt > now) && pathMatches(url.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

// ---- HTML scraping ------------------------------------------------------------------------------

function unescapeHtml(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#([0-9]+);/g, (_, dec: string) => String.fromCodePoint(parseInt(dec, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(tag);
  if (!m) return undefined;
  return unescapeHtml(m[2] ?? m[3] ?? '');
}

interface ParsedForm {
  action: string;
  method: string;
  fields: Map<string, string>;
}

function parseForm(html: string): ParsedForm | undefined {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const openTag = `<form ${m[1] ?? ''}>`;
  const fields = new Map<string, string>();
  for (const input of (m[2] ?? '').match(/<input\b[^>]*>/gi) ?? []) {
    const name = attr(input, 'name');
    if (name) fields.set(name, attr(input, 'value') ?? '');
  }
  return {
    action: attr(openTag, 'action') ?? '',
    method: (attr(openTag, 'method') ?? 'get').toLowerCase(),
    fields,
  };
}

function abortLink(html: string): string | undefined {
  for (const a of html.match(/<a\b[^>]*>/gi) ?? []) {
    const href = attr(a, 'href');
    if (href && /\/interaction\/[^/]+\/abort$/.test(href)) return href;
  }
  return undefined;
}

function textOf(html: string): string {
  return unescapeHtml(html.replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/gi, '').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

function sameEndpoint(a: URL, b: URL): boolean {
  return a.origin === b.origin && a.pathname === b.pathname;
}

// ---- programmatic -------------------------------------------------------------------------------

/**
 * Walks the authorization URL through devInteractions with fetch: login form, then consent form,
 * and stops at the redirect to the client's redirect_uri, returning that URL (with `code`, `state`,
 * `iss`, or `error`). The redirect_uri itself is not requested unless `followRedirectTo` is given.
 */
export async function completeConsentProgrammatically(
  authorizationUrl: string,
  options: ProgrammaticConsentOptions = {},
): Promise<string> {
  const start = new URL(authorizationUrl);
  const redirectParam = options.redirectUri ?? start.searchParams.get('redirect_uri');
  const redirectTarget = redirectParam ? new URL(redirectParam) : undefined;
  const login = options.login ?? 'user-1';
  const password = options.password ?? 'any-password';
  const jar = new CookieJar();

  let url = start;
  let method: 'GET' | 'POST' = 'GET';
  let body: URLSearchParams | undefined;

  for (let step = 0; step < 20; step += 1) {
    const headers: Record<string, string> = { accept: 'text/html' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { method, headers, redirect: 'manual', ...(body ? { body } : {}) });
    jar.store(response, url);

    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      await response.body?.cancel();
      if (!location) throw new Error(`redirect without Location from ${url.toString()}`);
      const next = new URL(location, url);
      const reachedClient = redirectTarget ? sameEndpoint(next, redirectTarget) : next.origin !== start.origin;
      if (reachedClient) {
        const finalUrl = next.toString();
        if (options.followRedirectTo) await options.followRedirectTo(finalUrl);
        return finalUrl;
      }
      url = next;
      method = 'GET';
      body = undefined;
      continue;
    }

    const html = await response.text();
    if (response.status !== 200) {
      throw new Error(`authorization server answered ${response.status} at ${url.pathname}: ${textOf(html).slice(0, 500)}`);
    }
    const form = parseForm(html);
    if (!form) throw new Error(`no form at ${url.pathname}: ${textOf(html).slice(0, 500)}`);

    if (options.deny) {
      const abort = abortLink(html);
      if (!abort) throw new Error(`no cancel link at ${url.pathname}`);
      url = new URL(abort, url);
      method = 'GET';
      body = undefined;
      continue;
    }

    const fields = new URLSearchParams();
    for (const [name, value] of form.fields) fields.set(name, value);
    if (form.fields.has('login')) fields.set('login', login);
    if (form.fields.has('password')) fields.set('password', password);
    url = new URL(form.action, url);
    method = form.method === 'post' ? 'POST' : 'GET';
    if (method === 'POST') body = fields;
    else {
      body = undefined;
      for (const [k, v] of fields) url.searchParams.set(k, v);
    }
  }
  throw new Error('too many steps completing the authorization');
}

/** Like {@link completeConsentProgrammatically}, then GETs the redirect URL and returns its response too. */
export async function completeConsentAndFollow(
  authorizationUrl: string,
  options: Omit<ProgrammaticConsentOptions, 'followRedirectTo'> = {},
): Promise<{ redirectUrl: string; response: Response }> {
  let response: Response | undefined;
  const redirectUrl = await completeConsentProgrammatically(authorizationUrl, {
    ...options,
    followRedirectTo: async (u) => {
      response = await fetch(u, { redirect: 'manual' });
      return response;
    },
  });
  if (!response) throw new Error('redirect not followed');
  return { redirectUrl, response };
}

// ---- Chromium -----------------------------------------------------------------------------------

export interface BrowserConsentOptions {
  login?: string;
  password?: string;
  /** press "Cancel" instead of "Continue" */
  deny?: boolean;
  /** where the flow ends; default: the `redirect_uri` of the authorization URL */
  redirectUri?: string;
  /** ms to wait for each step, default 20000 */
  timeoutMs?: number;
}

export interface BrowserConsentResult {
  /** URL of the page the browser loaded at the redirect URI (with code/state/iss) */
  finalUrl: string;
  /** visible text of that page */
  pageText: string;
  /** HTTP status of that page */
  status: number;
}

/**
 * Opens the authorization URL in headless Chromium, signs in (any login/password), clicks
 * "Continue" on consent, and lets the browser load the redirect URI (e.g. the broker's /callback).
 * Returns that page's URL, text and status. The browser is always closed.
 */
export async function completeConsentInChromium(
  authorizationUrl: string,
  options: BrowserConsentOptions = {},
): Promise<BrowserConsentResult> {
  const start = new URL(authorizationUrl);
  const redirectParam = options.redirectUri ?? start.searchParams.get('redirect_uri');
  if (!redirectParam) throw new Error('authorization URL has no redirect_uri; pass options.redirectUri');
  const target = new URL(redirectParam);
  const isTarget = (u: string): boolean => {
    try {
      return sameEndpoint(new URL(u), target);
    } catch {
      return false;
    }
  };
  const timeout = options.timeoutMs ?? 20_000;

  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);

    const finalResponse = page.waitForResponse(
      (r) => r.request().isNavigationRequest() && r.request().frame() === page.mainFrame() && isTarget(r.url()),
      { timeout: timeout * 3 },
    );
    finalResponse.catch(() => undefined);

    await page.goto(authorizationUrl);
    await consentOnPage(page, isTarget, options);

    const response = await finalResponse;
    await page.waitForLoadState('load');
    const pageText = await page.locator('body').innerText().catch(async () => (await response.text()).toString());
    return { finalUrl: response.url(), pageText, status: response.status() };
  } finally {
    await browser.close();
  }
}

/**
 * Signs in and consents on a page already showing oidc-provider's devInteractions (e.g. a window the
 * console opened), until the page is at the redirect URI (`isTarget`).
 */
export async function consentOnPage(
  page: Page,
  isTarget: (url: string) => boolean,
  options: Pick<BrowserConsentOptions, 'login' | 'password' | 'deny'> = {},
): Promise<void> {
  for (let step = 0; step < 6 && !isTarget(page.url()); step += 1) {
    if (options.deny) {
      await Promise.all([page.waitForNavigation(), page.click('a[href$="/abort"]')]);
      continue;
    }
    const loginInput = page.locator('input[name="login"]');
    if (await loginInput.count()) {
      await loginInput.fill(options.login ?? 'user-1');
      await page.locator('input[name="password"]').fill(options.password ?? 'any-password');
    } else if (!(await page.locator('input[name="prompt"][value="consent"]').count())) {
      const text = await page.locator('body').innerText().catch(() => '');
      throw new Error(`unexpected page at ${page.url()}: ${text.slice(0, 500)}`);
    }
    await Promise.all([page.waitForNavigation(), page.locator('button[type="submit"]').click()]);
  }
}

/**
 * The console in local mode, in headless Chromium against local mode and a real oidc-provider:
 * the page and its headers, creating a profile through the form, Copy Authorization URL, a bad URL shown
 * at its field, Authorize with consent in the opened window and the ✓ appearing without a reload,
 * Refresh now, Delete with its confirmation. One scenario: the steps build on each other.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../support/consent.js';
import { useLocalAndOidc } from '../../support/local-and-oidc.js';
import { rawRequest } from '../../integration/local/support.js';
import { authorizeInPopup, clickConfirming, consoleContext, EVENTUALLY, fillProfileForm, scenarioProfileFields, statusCell } from './support.js';

const scenario = useLocalAndOidc('console', { captureLogs: true, oidc: { pkceRequired: true, clientCredentials: true } });
const { profileId: PROFILE_ID, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } = scenario.client;

let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Seen by the steps, checked by later ones. */
const seen: { copiedUrls: string[] } = { copiedUrls: [] };
/** What the browser said about the console page's Content-Security-Policy or its script, all along. */
const pageProblems: string[] = [];

async function storedProfile(id: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${scenario.local.url}/profiles/${id}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  browser = await launchChromium();
  context = await consoleContext(browser, scenario.local.url);
  page = await context.newPage();
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) pageProblems.push(message.text());
  });
  page.on('pageerror', (error) => pageProblems.push(error.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
}, 60_000);

describe('the console in local mode', () => {
  it('serves the console at /console with a strict Content-Security-Policy, and redirects / there', async () => {
    const root = await rawRequest(`${scenario.local.url}/`);
    expect(root.status).toBe(302);
    expect(root.headers.location).toBe('/console');

    const html = await rawRequest(`${scenario.local.url}/console`);
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    expect(html.headers['x-frame-options']).toBe('DENY');
    // No inline script or style, nothing from another origin.
    expect(html.body).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html.body).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(html.body).not.toMatch(/(src|href)="(https?:)?\/\//);

    const script = await rawRequest(`${scenario.local.url}/console/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.body.length).toBeGreaterThan(1000);
    expect((await rawRequest(`${scenario.local.url}/console/nothing.js`)).status).toBe(404);
  });

  it('applies local mode\'s Host and Origin checks to the console and its calls', async () => {
    const refused = await rawRequest(`${scenario.local.url}/console`, { headers: { Host: 'evil.example:80' } });
    expect(refused.status).toBe(400);
    expect(refused.body).not.toContain('<html');
    const foreign = await rawRequest(`${scenario.local.url}/profiles/planted`, {
      method: 'PUT',
      headers: { Origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ tokenUrl: 'http://127.0.0.1:9/token', clientId: 'x', clientSecret: 'y' }),
    });
    expect(foreign.status).toBe(400);
    expect((await storedProfile('planted')).status).toBe(404);
  });

  it('creates a profile through the form: the secret is stored, never shown back', async () => {
    await page.goto(`${scenario.local.url}/console`);
    await expect.poll(() => page.locator('#list-empty').isVisible(), EVENTUALLY).toBe(true);
    await page.getByRole('button', { name: 'New profile', exact: true }).click();
    await fillProfileForm(page, scenarioProfileFields(scenario, 'openid offline_access'));
    await page.getByText('Advanced').click();
    await page.getByLabel('Extra authorization parameters').fill('prompt=consent');
    await expect.poll(() => page.getByLabel('Callback URL', { exact: true }).inputValue(), EVENTUALLY).toBe(scenario.local.callbackUrl);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page.locator('#action-message').innerText(), EVENTUALLY).toContain(`Created profile “${PROFILE_ID}”`);

    const stored = await storedProfile(PROFILE_ID);
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({
      authorizationUrl: scenario.server.authorizationEndpoint,
      tokenUrl: scenario.server.tokenEndpoint,
      clientId: CLIENT_ID,
      hasClientSecret: true,
      scope: 'openid offline_access',
      authorizationParams: { prompt: 'consent' },
    });
    // The secret field is emptied, says a secret is stored, and the secret is nowhere on the page.
    expect(await page.getByLabel('Client Secret', { exact: true }).inputValue()).toBe('');
    expect(await page.locator('#f-clientSecret-hint').innerText()).toContain('A client secret is stored');
    expect(await page.content()).not.toContain(CLIENT_SECRET);
    // Only the new profile's ID may be edited.
    expect(await page.getByLabel('Profile ID', { exact: true }).isEditable()).toBe(false);
    expect(await page.getByLabel('Profile ID', { exact: true }).inputValue()).toBe(PROFILE_ID);
    expect(await page.getByLabel('Callback URL', { exact: true }).isEditable()).toBe(false);
    expect(await statusCell(page, PROFILE_ID).innerText()).toBe('✗ authorization_required');
  });

  it('shows the contract\'s message at the field for a bad URL, and changes nothing stored', async () => {
    const before = await storedProfile(PROFILE_ID);
    await fillProfileForm(page, { tokenUrl: 'ftp://login.example.com/token' });
    const answer = page.waitForResponse((response) => response.request().method() === 'PUT');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const body = (await (await answer).json()) as { error: string; message: string };
    expect(body.error).toBe('invalid_request');

    const fieldError = page.locator('#f-tokenUrl-error');
    await expect.poll(() => fieldError.isVisible(), EVENTUALLY).toBe(true);
    const shown = await fieldError.innerText();
    expect(shown).toMatch(/^tokenUrl /);
    expect(body.message).toContain(shown.replace(/\.$/, ''));
    expect(await page.getByLabel('Access Token URL', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    // The other fields carry no error.
    expect(await page.locator('#f-authorizationUrl-error').isVisible()).toBe(false);
    expect(await storedProfile(PROFILE_ID)).toEqual(before);

    // Put the stored value back in the form.
    await fillProfileForm(page, { tokenUrl: scenario.server.tokenEndpoint });
    expect(await fieldError.isVisible()).toBe(false);
  });

  it('Copy Authorization URL puts a fresh authorization URL with state and PKCE on the clipboard', async () => {
    for (let i = 0; i < 2; i += 1) {
      await page.getByRole('button', { name: 'Copy Authorization URL', exact: true }).click();
      await expect.poll(() => page.locator('#token-message').innerText(), EVENTUALLY).toContain('Copied the authorization URL');
      seen.copiedUrls.push(await page.evaluate(() => navigator.clipboard.readText()));
      await page.evaluate(() => navigator.clipboard.writeText(''));
    }
    const [first, second] = seen.copiedUrls.map((text) => new URL(text));
    expect(`${first!.origin}${first!.pathname}`).toBe(scenario.server.authorizationEndpoint);
    expect(first!.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(first!.searchParams.get('redirect_uri')).toBe(scenario.local.callbackUrl);
    expect(first!.searchParams.get('response_type')).toBe('code');
    expect(first!.searchParams.get('code_challenge_method')).toBe('S256');
    expect(first!.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first!.searchParams.get('state')!.length).toBeGreaterThanOrEqual(22);
    // Each copy starts a new authorization.
    expect(second!.searchParams.get('state')).not.toBe(first!.searchParams.get('state'));
    expect(second!.searchParams.get('code_challenge')).not.toBe(first!.searchParams.get('code_challenge'));
  });

  it('Authorize opens the authorization page; after consent there the ✓ appears without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    const callbackText = await authorizeInPopup(page, scenario.server.issuer, scenario.local.callbackUrl);
    expect(callbackText).toContain(`Profile "${PROFILE_ID}" is authorized`);
    expect(callbackText).toContain('Back to the console');

    // docs/api.md "Console": status changes appear without a reload (within 5 s: the poll interval, test/unit/console).
    await expect.poll(() => statusCell(page, PROFILE_ID).innerText(), EVENTUALLY).toBe('✓');
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(await statusCell(page, PROFILE_ID).locator('.state').evaluate((el) => getComputedStyle(el).color)).toBe('rgb(26, 127, 55)');
    await expect.poll(() => page.locator('#announcer').innerText(), EVENTUALLY).toContain(`Profile ${PROFILE_ID} is ready`);
    expect(await page.getByRole('row').filter({ has: page.getByRole('cell', { name: PROFILE_ID, exact: true }) }).locator('td.expiry').innerText()).toMatch(/^\d+m$/);
  });

  it('Refresh now refreshes at the authorization server and says so', async () => {
    scenario.server.resetCounters();
    await page.getByRole('button', { name: 'Refresh now', exact: true }).click();
    await expect.poll(() => page.locator('#token-message').innerText(), EVENTUALLY).toContain('✓ Refreshed');
    expect(scenario.server.grantCount('refresh_token')).toBe(1);
  });

  it('Delete asks, naming the profile; dismissed it keeps it, accepted it removes it', async () => {
    const kept = await clickConfirming(page, 'Delete', false);
    expect(kept).toContain(`Delete profile "${PROFILE_ID}"?`);
    expect((await storedProfile(PROFILE_ID)).status).toBe(200);

    const asked = await clickConfirming(page, 'Delete', true);
    expect(asked).toContain(PROFILE_ID);
    await expect.poll(() => page.locator('#action-message').innerText(), EVENTUALLY).toContain(`Deleted profile “${PROFILE_ID}”`);
    expect((await storedProfile(PROFILE_ID)).status).toBe(404);
    await expect.poll(() => page.getByRole('cell', { name: PROFILE_ID, exact: true }).count(), EVENTUALLY).toBe(0);
  });

  it('creates a client_credentials profile in the Advanced part: no Authorize, Refresh now fetches its ✓', async () => {
    await page.getByRole('button', { name: 'New profile', exact: true }).click();
    await fillProfileForm(page, { id: 'console-service', tokenUrl: scenario.server.tokenEndpoint, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scope: 'openid' });
    const advanced = page.locator('#advanced');
    if (!(await advanced.evaluate((details) => (details as HTMLDetailsElement).open))) await page.getByText('Advanced', { exact: true }).click();
    await page.getByLabel('Grant type').selectOption('client_credentials');
    // Nothing for a person to do: no authorization endpoint, no callback.
    expect(await page.getByLabel('Authorization URL', { exact: true }).isVisible()).toBe(false);
    expect(await page.getByLabel('Callback URL', { exact: true }).isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page.locator('#action-message').innerText(), EVENTUALLY).toContain('Created profile “console-service”');
    expect((await storedProfile('console-service')).body).toMatchObject({ grantType: 'client_credentials', authorizationUrl: null });
    expect(await page.getByRole('button', { name: 'Authorize', exact: true }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Copy Authorization URL', exact: true }).isDisabled()).toBe(true);

    scenario.server.resetCounters();
    await page.getByRole('button', { name: 'Refresh now', exact: true }).click();
    await expect.poll(() => statusCell(page, 'console-service').innerText(), EVENTUALLY).toBe('✓');
    expect(scenario.server.grantCount('client_credentials')).toBeGreaterThanOrEqual(1);
  });

  it('is usable with the keyboard alone: labelled controls in reading order, visible focus, Enter saves', async () => {
    await page.goto('about:blank');
    await page.goto(`${scenario.local.url}/console#/new`);
    await expect.poll(() => page.locator('#list-loading').isVisible(), EVENTUALLY).toBe(false);
    /** Tabs until `name` has the focus; answers the names focused on the way. */
    const tabTo = async (name: string): Promise<string[]> => {
      const seenNames: string[] = [];
      for (let i = 0; i < 40; i += 1) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(() => {
          const element = document.activeElement as HTMLElement | null;
          if (!element) return '';
          const label = element.id ? document.querySelector(`label[for="${element.id}"]`)?.textContent : undefined;
          return (label ?? element.getAttribute('aria-label') ?? element.textContent ?? '').trim();
        });
        seenNames.push(focused);
        if (focused === name) return seenNames;
      }
      throw new Error(`${name} never got the focus; went through ${seenNames.join(' | ')}`);
    };
    const order = await tabTo('Save');
    const at = (name: string) => order.indexOf(name);
    expect(at('New profile')).toBeGreaterThanOrEqual(0);
    const pairs: [string, string][] = [
      ['New profile', 'Profile ID'],
      ['Profile ID', 'Authorization URL'],
      ['Authorization URL', 'Access Token URL'],
      ['Access Token URL', 'Client ID'],
      ['Client ID', 'Client Secret'],
      ['Client Secret', 'Scope'],
      ['Scope', 'Callback URL'],
      ['Callback URL', 'Advanced'],
      ['Advanced', 'Save'],
    ];
    for (const [before, after] of pairs) {
      expect(at(before), `${before} before ${after} in ${order.join(' | ')}`).toBeLessThan(at(after));
      expect(at(before)).toBeGreaterThanOrEqual(0);
    }
    // The focused button shows it.
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe('none');

    // Shift+Tab back to the Profile ID and fill the form by typing, Tab to move on, Enter to save.
    await page.getByLabel('Profile ID', { exact: true }).focus();
    await page.keyboard.type('keyboard-only');
    for (const value of [scenario.server.authorizationEndpoint, scenario.server.tokenEndpoint, CLIENT_ID, CLIENT_SECRET, 'openid']) {
      await page.keyboard.press('Tab');
      await page.keyboard.type(value);
    }
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#action-message').innerText(), EVENTUALLY).toContain('Created profile “keyboard-only”');
    expect((await storedProfile('keyboard-only')).body).toMatchObject({ clientId: CLIENT_ID, scope: 'openid', hasClientSecret: true });
    // Status changes are announced politely.
    expect(await page.locator('#announcer').getAttribute('aria-live')).toBe('polite');
    await expect.poll(() => page.locator('#announcer').innerText(), EVENTUALLY).toContain('Created profile “keyboard-only”');
  });

  it('follows changes made elsewhere: a profile deleted by another client leaves the form with a message', async () => {
    const created = await fetch(`${scenario.local.url}/profiles/elsewhere`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ authorizationUrl: scenario.server.authorizationEndpoint, tokenUrl: scenario.server.tokenEndpoint, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
    });
    expect(created.status).toBe(201);
    await page.getByRole('cell', { name: 'elsewhere', exact: true }).click({ timeout: 15_000 });
    await expect.poll(() => page.locator('#form-heading').innerText(), EVENTUALLY).toBe('Profile elsewhere');
    expect((await fetch(`${scenario.local.url}/profiles/elsewhere`, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(() => page.locator('#action-message').innerText(), EVENTUALLY).toContain('Profile “elsewhere” no longer exists');
    expect(await page.locator('#form-heading').innerText()).toBe('New profile');
    expect(await page.getByRole('cell', { name: 'elsewhere', exact: true }).count()).toBe(0);
  });

  it('never logged the client secret, and the page broke no rule of its Content-Security-Policy', () => {
    expect(scenario.logs.text()).not.toContain(CLIENT_SECRET);
    expect(pageProblems).toEqual([]);
  });
});

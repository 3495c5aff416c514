/**
 * Helpers for the console's Chromium tests: a browser context allowed to use the clipboard, the profile
 * form filled by its labels (the contract's accessible names, docs/api.md "Console"), the consent in the
 * window the console opens, and the list's status cell of a profile.
 */
import { expect } from 'vitest';
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core';
import { consentOnPage } from '../../support/consent.js';
import type { LocalAndOidc } from '../../support/local-and-oidc.js';

/**
 * `expect.poll` options with room for a loaded machine (the tests share it with others): what the page must do
 * within a bound of the contract (the ✓ within 5 s) is polled with that bound instead.
 */
export const EVENTUALLY = { timeout: 15_000, interval: 100 };

export async function consoleContext(browser: Browser, origin: string, colorScheme: 'light' | 'dark' = 'light'): Promise<BrowserContext> {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  return context;
}

export interface ProfileFields {
  id?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  scope?: string;
}

const LABELS: Record<keyof ProfileFields, string> = {
  id: 'Profile ID',
  authorizationUrl: 'Authorization URL',
  tokenUrl: 'Access Token URL',
  clientId: 'Client ID',
  clientSecret: 'Client Secret',
  scope: 'Scope',
};

/** The form's fields for the scenario's profile, on the scenario's authorization server. */
export function scenarioProfileFields(scenario: LocalAndOidc, scope: string): ProfileFields {
  const { profileId, clientId, clientSecret } = scenario.client;
  return { id: profileId, authorizationUrl: scenario.server.authorizationEndpoint, tokenUrl: scenario.server.tokenEndpoint, clientId, clientSecret, scope };
}

/** Types into the form's fields, found by their labels exactly. */
export async function fillProfileForm(page: Page, fields: ProfileFields): Promise<void> {
  for (const [name, value] of Object.entries(fields) as [keyof ProfileFields, string | undefined][]) {
    if (value !== undefined) await page.getByLabel(LABELS[name], { exact: true }).fill(value);
  }
}

/** The list's status cell of profile `id`. */
export function statusCell(page: Page, id: string) {
  return page.getByRole('row').filter({ has: page.getByRole('cell', { name: id, exact: true }) }).getByRole('cell').nth(1);
}

/** Clicks a button, answering the confirmation it raises; resolves with the confirmation's text. */
export async function clickConfirming(page: Page, button: string, accept: boolean): Promise<string> {
  const dialog = new Promise<Dialog>((resolve) => page.once('dialog', resolve));
  const click = page.getByRole('button', { name: button, exact: true }).click();
  const shown = await dialog;
  const message = shown.message();
  await (accept ? shown.accept() : shown.dismiss());
  await click;
  return message;
}

/**
 * Clicks Authorize, then signs in and consents in the window it opens, until that window reaches the
 * broker's callback page; answers that window's text.
 */
export async function authorizeInPopup(page: Page, issuer: string, callbackUrl: string): Promise<string> {
  const popupOpened = page.waitForEvent('popup');
  await page.getByRole('button', { name: 'Authorize', exact: true }).click();
  const popup = await popupOpened;
  await popup.waitForURL((url) => url.origin === new URL(issuer).origin);
  // The authorization server's page cannot reach back into the console (reverse tabnabbing).
  expect(await popup.evaluate(() => window.opener)).toBeNull();
  await consentOnPage(popup, (url) => url.startsWith(callbackUrl));
  await popup.waitForLoadState('load');
  const text = await popup.locator('body').innerText();
  expect(popup.url().startsWith(callbackUrl)).toBe(true);
  return text;
}

/**
 * The newcomer's flow with nothing but local mode's defaults: the demo profile, opened at
 * `/` (redirected to the console), authorized with the console's Authorize button at the demo
 * authorization server, the ✓ without a reload, and the callback page's way back to the console.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalBroker, type LocalBroker } from '../../../lib/local/local-broker.js';
import { launchChromium } from '../../support/consent.js';
import { authorizeInPopup, consoleContext, EVENTUALLY, statusCell } from './support.js';

let work: string;
let local: LocalBroker;
let browser: Browser;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'oauth-broker-console-demo-'));
  local = await startLocalBroker({ port: 0, demoPort: 0, dataDir: path.join(work, 'data') });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await local?.close();
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe('the demo in the console', () => {
  it('opens at /, authorizes the demo profile with Authorize, shows the ✓, and the callback page leads back', async () => {
    const context = await consoleContext(browser, local.url);
    const page = await context.newPage();
    await page.goto(`${local.url}/`);
    expect(new URL(page.url()).pathname).toBe('/console');
    // The only profile is shown in the form at once.
    await expect.poll(() => page.locator('#form-heading').innerText(), EVENTUALLY).toBe('Profile demo');
    expect(await statusCell(page, 'demo').innerText()).toBe('✗ authorization_required');

    const popupOpened = context.waitForEvent('page');
    const callbackText = await authorizeInPopup(page, local.demo!.issuer, local.callbackUrl);
    expect(callbackText).toContain('Profile "demo" is authorized');
    await expect.poll(() => statusCell(page, 'demo').innerText(), EVENTUALLY).toBe('✓');

    const popup = await popupOpened;
    await popup.getByRole('link', { name: 'Back to the console' }).click();
    await popup.waitForURL(`${local.url}/console`);
    await expect.poll(() => statusCell(popup, 'demo').innerText(), EVENTUALLY).toBe('✓');
    await context.close();
  });
});

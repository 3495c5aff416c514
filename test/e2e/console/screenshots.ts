/**
 * Regenerates the screenshots of docs/console.md (not a test): `npx tsx test/e2e/console/screenshots.ts`.
 * Local mode with its demo, plus two profiles to show other states; the demo is authorized in Chromium
 * through the console's own Authorize button. Writes docs/img/console-*-{light,dark}.png.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startLocalBroker } from '../../../lib/local/local-broker.js';
import { launchChromium } from '../../support/consent.js';
import { PROJECT_ROOT } from '../../integration/local/support.js';
import { authorizeInPopup, consoleContext, fillProfileForm, statusCell } from './support.js';

const OUT = path.join(PROJECT_ROOT, 'docs/img');
const work = await mkdtemp(path.join(tmpdir(), 'console-shots-'));
const local = await startLocalBroker({ port: 0, demoPort: 0, dataDir: path.join(work, 'data') });
const put = (id: string, body: object) =>
  fetch(`${local.url}/profiles/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
// Nothing listens on port 9 of loopback: its token requests fail, the way a server that is down does.
await put('mes-orders', { grantType: 'client_credentials', tokenUrl: 'http://127.0.0.1:9/oauth2/token', clientId: 'mes-orders', clientSecret: 'example-secret', scope: 'orders.read' });
await put('erp-prod', {
  authorizationUrl: 'http://127.0.0.1:9/oauth2/authorize',
  tokenUrl: 'http://127.0.0.1:9/oauth2/token',
  clientId: 'mes-erp',
  clientSecret: 'example-secret',
  scope: 'openid offline_access erp.read',
});
await fetch(`${local.url}/profiles/mes-orders/refresh`, { method: 'POST' });

const browser = await launchChromium();
try {
  for (const scheme of ['light', 'dark'] as const) {
    const context = await consoleContext(browser, local.url, scheme);
    const page = await context.newPage();
    await page.setViewportSize({ width: 1180, height: 780 });
    const shot = (name: string) => page.screenshot({ path: path.join(OUT, `console-${name}-${scheme}.png`) });
    await page.goto(`${local.url}/console#/profiles/demo`);
    if (scheme === 'light') {
      await authorizeInPopup(page, local.demo!.issuer, local.callbackUrl);
      for (const popup of context.pages().slice(1)) await popup.close();
    }
    await waitFor(page, async () => (await statusCell(page, 'demo').innerText()) === '✓');
    await page.mouse.move(0, 0);
    await shot('list');

    await page.getByRole('button', { name: 'New profile', exact: true }).click();
    await fillProfileForm(page, {
      id: 'erp-test',
      authorizationUrl: 'https://login.example.com/oauth2/authorize',
      tokenUrl: 'https://login.example.com/oauth2/token',
      clientId: 'mes-erp',
      clientSecret: 'example-secret',
      scope: 'openid offline_access erp.read',
    });
    await page.getByText('Advanced', { exact: true }).click();
    await page.getByLabel('Extra authorization parameters').fill('audience=https://erp.example.com');
    await page.getByLabel('Scope', { exact: true }).focus();
    // The whole form, Advanced part open: the panel alone, on a window tall enough to hold it.
    await page.setViewportSize({ width: 1180, height: 1500 });
    await page.locator('.form-panel').screenshot({ path: path.join(OUT, `console-form-${scheme}.png`) });
    await page.setViewportSize({ width: 1180, height: 780 });

    await fillProfileForm(page, { tokenUrl: 'ftp://login.example.com/oauth2/token' });
    await page.getByText('Advanced', { exact: true }).click();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await waitFor(page, () => page.locator('#f-tokenUrl-error').isVisible());
    await shot('field-error');
    await context.close();
  }
} finally {
  await browser.close();
  await local.close();
  await rm(work, { recursive: true, force: true });
}

async function waitFor(page: Page, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (await check()) return;
    await page.waitForTimeout(100);
  }
  throw new Error('timed out');
}

/**
 * `authorize --open` tells the truth: the opener's exit status and spawn errors decide whether the URL
 * counts as opened. Real child processes stand in for xdg-open.
 */
import { describe, expect, it } from 'vitest';
import { isOpenableUrl, openInBrowser, openerFor } from '../../../lib/cli/browser.js';
import { defaultIo } from '../../../lib/cli/io.js';
import { itAnswers } from '../support/predicate-cases.js';

const URL_TO_OPEN = 'https://as.example/authorize?client_id=x&state=s';
const sh = (script: string) => ({ command: '/bin/sh', args: ['-c', script], verbatim: false });

describe('openInBrowser', () => {
  it('an opener that exits 0 opened the URL', async () => {
    expect(await openInBrowser(URL_TO_OPEN, { opener: sh('exit 0') })).toEqual({ opened: true });
  });

  it('an opener that exits with a failure status did not (xdg-open without a browser exits 3)', async () => {
    expect(await openInBrowser(URL_TO_OPEN, { opener: sh('exit 3') })).toEqual({ opened: false, reason: '/bin/sh exited with status 3' });
  });

  it('an opener that is not installed did not', async () => {
    expect(await openInBrowser(URL_TO_OPEN, { opener: { command: 'no-such-opener-here', args: [], verbatim: false } })).toEqual({
      opened: false,
      reason: 'no-such-opener-here could not be started (not installed)',
    });
  });

  it('an opener still running after the wait (a browser in the foreground) counts as opened', async () => {
    expect(await openInBrowser(URL_TO_OPEN, { opener: sh('sleep 2'), waitMs: 50 })).toEqual({ opened: true });
  });

  it('on Linux without a display, nothing is started', async () => {
    const outcome = await openInBrowser(URL_TO_OPEN, { platform: 'linux', env: {} });
    expect(outcome).toEqual({ opened: false, reason: 'no graphical display here (DISPLAY and WAYLAND_DISPLAY are unset)' });
  });

  it('refuses URLs that are not https: (or http: on loopback) without starting anything', async () => {
    const outcome = await openInBrowser('file:///tmp/setup.exe', { opener: sh('exit 0') });
    expect(outcome).toEqual({ opened: false, reason: 'only https: URLs (http: on loopback) are opened' });
  });
});

describe("the CLI's default openUrl", () => {
  it('rejects with the reason when no browser could be opened (here: Linux without a display)', async () => {
    const io = defaultIo({ env: {} });
    await expect(Promise.resolve(io.openUrl(URL_TO_OPEN))).rejects.toThrow('no graphical display here (DISPLAY and WAYLAND_DISPLAY are unset)');
  });
});

describe('isOpenableUrl', () => {
  itAnswers(isOpenableUrl, {
    true: ['https://login.example.com/authorize?x=1', 'http://127.0.0.1:8788/auth', 'http://localhost:8788/auth', 'http://[::1]:8788/auth'],
    false: ['http://login.example.com/authorize', 'http://10.0.0.1/authorize', 'file:///etc/passwd', 'javascript:alert(1)', 'ms-settings:privacy', 'not a url'],
  });
});

describe('openerFor', () => {
  it('escapes cmd operators on Windows', () => {
    expect(openerFor('https://x.example/a?b=1&c=2', 'win32').args.at(-1)).toBe('start "" https://x.example/a?b=1^&c=2');
    expect(openerFor('https://x.example/', 'darwin').command).toBe('open');
    expect(openerFor('https://x.example/', 'linux').command).toBe('xdg-open');
  });
});

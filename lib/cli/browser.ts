/**
 * Opens a URL in the system browser for `authorize --open`, and says truthfully whether it could: a
 * missing display, an opener that cannot be started or that exits with a failure status is reported
 * with its reason, so that the caller prints the URL for a person to open (docs/cli.md "authorize").
 */
import { spawn } from 'node:child_process';
import { isLoopbackUrl } from '../sdk/signing.js';

export type OpenOutcome = { opened: true } | { opened: false; reason: string };

export interface Opener {
  command: string;
  args: string[];
  verbatim: boolean;
}

/** The opener command for this platform: `open` (macOS), `start` (Windows, through cmd), `xdg-open` (others). */
export function openerFor(url: string, platform: NodeJS.Platform = process.platform): Opener {
  if (platform === 'darwin') return { command: 'open', args: [url], verbatim: false };
  if (platform === 'win32') {
    // cmd treats & ^ | < > as operators: escape them (a URL holds no spaces or quotes); the empty "" is
    // start's window title.
    return { command: 'cmd', args: ['/d', '/s', '/c', `start "" ${url.replace(/[&^|<>]/g, '^$&')}`], verbatim: true };
  }
  return { command: 'xdg-open', args: [url], verbatim: false };
}

/**
 * Whether the CLI may hand `url` to the system's opener: `https:`, or `http:` on loopback. Anything else
 * (`file:`, `javascript:`, a custom scheme registered by some application) could start a program.
 */
export function isOpenableUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackUrl(parsed));
}

export interface OpenOptions {
  platform?: NodeJS.Platform;
  env?: Record<string, string | undefined>;
  /** Replaces the platform's opener (tests). */
  opener?: Opener;
  /**
   * How long to wait for the opener's exit status. Openers that hand the URL to a running browser exit
   * at once; some run a new browser in the foreground and never exit while it runs: still running after
   * this long counts as opened.
   */
  waitMs?: number;
}

/** Starts the system browser on `url`, detached. Never throws. */
export function openInBrowser(url: string, options: OpenOptions = {}): Promise<OpenOutcome> {
  const platform = options.platform ?? process.platform;
  const env = options.env ?? process.env;
  if (!isOpenableUrl(url)) return Promise.resolve({ opened: false, reason: 'only https: URLs (http: on loopback) are opened' });
  if (!options.opener && platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY && !env.WSL_DISTRO_NAME) {
    // xdg-open would fall back to a text browser on this terminal, or fail.
    return Promise.resolve({ opened: false, reason: 'no graphical display here (DISPLAY and WAYLAND_DISPLAY are unset)' });
  }
  const { command, args, verbatim } = options.opener ?? openerFor(url, platform);
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: OpenOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    try {
      const child = spawn(command, args, { detached: true, stdio: 'ignore', windowsVerbatimArguments: verbatim, windowsHide: true });
      child.once('error', (error: NodeJS.ErrnoException) => {
        settle({ opened: false, reason: `${command} could not be started (${error.code === 'ENOENT' ? 'not installed' : (error.code ?? error.message)})` });
      });
      child.once('exit', (code, signal) => {
        if (code === 0) settle({ opened: true });
        else settle({ opened: false, reason: signal ? `${command} was stopped by ${signal}` : `${command} exited with status ${code}` });
      });
      child.once('spawn', () => {
        timer = setTimeout(() => {
          child.unref();
          settle({ opened: true });
        }, options.waitMs ?? 3000);
        timer.unref();
      });
    } catch (error) {
      settle({ opened: false, reason: `${command} could not be started (${error instanceof Error ? error.message : String(error)})` });
    }
  });
}

/**
 * Opens a URL in the system browser for `authorize --open`. Never fails hard: when no opener exists
 * the caller prints the URL for a person to open.
 */
import { spawn } from 'node:child_process';

/** The opener command for this platform: `open` (macOS), `start` (Windows, through cmd), `xdg-open` (others). */
export function openerFor(url: string, platform: NodeJS.Platform = process.platform): { command: string; args: string[]; verbatim: boolean } {
  if (platform === 'darwin') return { command: 'open', args: [url], verbatim: false };
  if (platform === 'win32') {
    // cmd treats & ^ | < > as operators: escape them (a URL holds no spaces or quotes); the empty "" is
    // start's window title.
    return { command: 'cmd', args: ['/d', '/s', '/c', `start "" ${url.replace(/[&^|<>]/g, '^$&')}`], verbatim: true };
  }
  return { command: 'xdg-open', args: [url], verbatim: false };
}

/** Starts the system browser on `url`, detached. Answers `false` when no opener could be started. */
export function openInBrowser(url: string): Promise<boolean> {
  const { command, args, verbatim } = openerFor(url);
  return new Promise((resolve) => {
    try {
      const child = spawn(command, args, { detached: true, stdio: 'ignore', windowsVerbatimArguments: verbatim, windowsHide: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

/**
 * A fresh temporary directory for each test of a file, removed after the test: for the tests of what
 * writes files (the file vault, the CLI's files).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/** Before each test, makes a directory named `prefix…` and hands its path to `use`; removes it after the test. */
export function useTempDir(prefix: string, use: (dir: string) => void): void {
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), prefix));
    use(dir);
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
}

/**
 * Runs a program to its end and answers its exit code and output, never rejecting: for tests that drive
 * a command as a person would (the CLI shim, npm, a shell script).
 */
import { execFile, type ExecFileOptions } from 'node:child_process';

export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

export function runProcess(file: string, args: readonly string[], options: ExecFileOptions = {}): Promise<Finished> {
  return new Promise((resolve) => {
    execFile(file, [...args], { maxBuffer: 10 * 1024 * 1024, ...options, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

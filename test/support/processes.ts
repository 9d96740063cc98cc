import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node script` with `env` and PATH alone (nothing else of the test's environment), from
 * `cwd`, and resolves with how it exited; it must within 30 s, or it is killed and this rejects.
 */
export function runToExit(script: string, env: Record<string, string>, cwd?: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after 30 s: ${stdout}${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit code 1 and, on stderr, one line that matches `expected`; no stack trace anywhere. */
export function assertOneLineFailure(result: Exit, expected: RegExp): void {
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], expected);
  assert.doesNotMatch(result.stdout + result.stderr, /^\s+at /m, 'a stack trace was printed');
}

// What every `turnout` command returns once started, and the start-up error
// that maps to exit status 2 (missing folder, port in use, unreadable file).
import { readFile } from 'node:fs/promises';

/** A started command: stop it with close(), which drains before resolving. */
export interface Running {
  close(): Promise<void>;
}

/** A problem with the environment the user can fix (names the path or port). */
export class StartupError extends Error {
  readonly exitCode = 2;
}

/** Turns a listen error into a StartupError naming the flag and the address. */
export function listenError(what: string, address: string, port: number, err: unknown): StartupError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
  return new StartupError(`cannot listen on ${address}:${port} for ${what}: ${why}`);
}

/** Reads a file named by a flag; the error names the flag and the file. */
export async function readFlagFile(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new StartupError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads a bearer token file; a token shorter than 16 characters is refused as guessable. */
export async function readToken(file: string): Promise<string> {
  const token = (await readFlagFile(file, '--token-file')).trim();
  if (token.length < 16) throw new StartupError(`--token-file ${file}: the token must be at least 16 characters`);
  return token;
}

// Structured one-line JSON logs on stderr. Tiny on purpose: the proxy logs
// lifecycle events (apply, bind, drain), never per-request lines, and never
// secret material — callers pass secret keys, not PEM.

/** Severity, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Extra fields of one line; values must be JSON-serialisable. */
export type LogFields = Readonly<Record<string, unknown>>;

/** What the data plane needs from a logger, so tests and `turnout local` can swap it. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of createLogger. */
export interface LoggerOptions {
  /** Lines below this level are dropped. Default "info". */
  readonly level?: LogLevel;
  /** Where a finished line goes. Default: process.stderr. */
  readonly write?: (line: string) => void;
  /** Fields added to every line, e.g. {component: "proxy"}. */
  readonly base?: LogFields;
}

/** Builds a logger writing `{"time","level","msg",...fields}` lines. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const base = options.base ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }, errorReplacer);
    } catch {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, fields: 'unserialisable' });
    }
    write(`${line}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

/** A logger that adds fields (computed per line, so they may change) to every line of `parent`. */
export function childLogger(parent: Logger, fields: () => LogFields): Logger {
  return {
    debug: (msg, f) => parent.debug(msg, { ...fields(), ...f }),
    info: (msg, f) => parent.info(msg, { ...fields(), ...f }),
    warn: (msg, f) => parent.warn(msg, { ...fields(), ...f }),
    error: (msg, f) => parent.error(msg, { ...fields(), ...f }),
  };
}

/** Drops everything: the default in tests so output stays readable. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** A short, secret-free description of an unknown thrown value. */
export function errorFields(err: unknown): LogFields {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { error: err.message, code } : { error: err.message };
  }
  return { error: String(err) };
}

// Errors have no enumerable fields, so JSON.stringify would print {}; stacks stay out of logs.
function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? errorFields(value) : value;
}

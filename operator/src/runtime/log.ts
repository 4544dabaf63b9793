// Structured JSON logging: one object per line on stderr, fields merged from child loggers.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, name: value.name, ...(value.cause ? { cause: errorFields(value.cause) } : {}) };
  return value;
}

export function createLogger(base: LogFields = {}, options: LoggerOptions = {}): Logger {
  const minRank = levelRank[options.level ?? envLevel()];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (levelRank[level] < minRank) return;
    const record: LogFields = { ts: new Date().toISOString(), level, msg, ...base };
    for (const [key, value] of Object.entries(fields ?? {})) record[key] = errorFields(value);
    write(JSON.stringify(record));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  };
}

function envLevel(): LogLevel {
  const level = process.env['SHOAL_LOG_LEVEL'];
  return level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info';
}

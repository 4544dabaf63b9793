const levelRank = { debug: 10, info: 20, warn: 30, error: 40 };
function errorFields(value) {
    if (value instanceof Error)
        return { message: value.message, name: value.name, ...(value.cause ? { cause: errorFields(value.cause) } : {}) };
    return value;
}
export function createLogger(base = {}, options = {}) {
    const minRank = levelRank[options.level ?? envLevel()];
    const write = options.write ?? ((line) => process.stderr.write(line + '\n'));
    const emit = (level, msg, fields) => {
        if (levelRank[level] < minRank)
            return;
        const record = { ts: new Date().toISOString(), level, msg, ...base };
        for (const [key, value] of Object.entries(fields ?? {}))
            record[key] = errorFields(value);
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
function envLevel() {
    const level = process.env['SHOAL_LOG_LEVEL'];
    return level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info';
}

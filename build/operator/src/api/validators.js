// Validators compiled from the generated CRD schemas, for everything that reaches us without passing the
// API server (agent-to-agent traffic, files, CLI input). CEL rules are enforced by the API server only.
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { schemas } from "./generated/schemas.js";
const addFormats = addFormatsModule;
function createAjv() {
    const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false });
    addFormats(ajv);
    ajv.addFormat('int32', { type: 'number', validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    ajv.addFormat('int64', { type: 'number', validate: (n) => Number.isInteger(n) });
    ajv.addKeyword({
        keyword: 'x-kubernetes-int-or-string',
        schemaType: 'boolean',
        validate: (enabled, data) => !enabled || typeof data === 'string' || Number.isInteger(data),
        errors: false,
    });
    for (const keyword of ['x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource']) {
        ajv.addKeyword({ keyword });
    }
    return ajv;
}
const ajv = createAjv();
const compiled = new Map();
export function validatorFor(kind) {
    let validate = compiled.get(kind);
    if (!validate) {
        validate = ajv.compile(schemas[kind]);
        compiled.set(kind, validate);
    }
    const fn = validate;
    return (obj) => (fn(obj) ? { valid: true, errors: [] } : { valid: false, errors: (fn.errors ?? []).map(describe) });
}
function describe(error) {
    const path = error.instancePath
        .split('/')
        .slice(1)
        .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part.replace(/~1/g, '/').replace(/~0/g, '~')}`))
        .join('')
        .replace(/^\./, '');
    const field = error.keyword === 'required' ? [path, String(error.params['missingProperty'])].filter(Boolean).join('.') : path;
    return `${field || '<root>'}: ${error.message ?? error.keyword}`;
}

// The logs endpoint's TLS certificate: the operator's files when given (--tls-cert-file/--tls-private-key-file),
// else a self-signed ECDSA P-256 certificate kept in <state-dir>/pki and reused across restarts. Clients trust
// it because the agent publishes it in its Node's status, which they read through the authenticated API server.
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
const validityDays = 365;
// A certificate this close to expiry is replaced at start, so a restart never leaves one about to lapse.
const renewBeforeDays = 30;
const day = 86_400_000;
export async function loadServingCert(options) {
    const { certFile, keyFile, stateDir, logger } = options;
    if (Boolean(certFile) !== Boolean(keyFile))
        throw new Error('--tls-cert-file and --tls-private-key-file must be given together');
    if (certFile && keyFile) {
        const given = await readPair(certFile, keyFile);
        const uncovered = options.hosts.filter((h) => !covers(given.leaf, h));
        if (uncovered.length)
            logger.warn('the serving certificate does not cover every address of this node', { certFile, uncovered });
        return { cert: given.cert, key: given.key, caBundle: given.cert };
    }
    const dir = join(stateDir, 'pki');
    const paths = { cert: join(dir, 'logs-serving.crt'), key: join(dir, 'logs-serving.key') };
    const existing = await readPair(paths.cert, paths.key).catch((err) => {
        if (err.code !== 'ENOENT')
            logger.warn('replacing an unreadable serving certificate', { err, path: paths.cert });
        return undefined;
    });
    const now = (options.now ?? (() => new Date()))();
    const problem = existing && reuseProblem(existing.leaf, options.hosts, now);
    if (existing && !problem)
        return { cert: existing.cert, key: existing.key, caBundle: existing.cert };
    if (problem)
        logger.info('replacing the self-signed serving certificate', { reason: problem });
    const made = await selfSigned(options.commonName, options.hosts, now);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomically(paths.key, made.key, 0o600);
    await writeAtomically(paths.cert, made.cert, 0o644);
    logger.info('created a self-signed serving certificate', { path: paths.cert, hosts: options.hosts });
    return { ...made, caBundle: made.cert };
}
async function readPair(certFile, keyFile) {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    let leaf;
    try {
        leaf = new X509Certificate(cert);
    }
    catch (err) {
        throw new Error(`${certFile}: not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!leaf.checkPrivateKey(createPrivateKey(key)))
        throw new Error(`${keyFile} is not the private key of ${certFile}`);
    return { cert, key, leaf };
}
function covers(cert, host) {
    return isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
}
function reuseProblem(cert, hosts, now) {
    if (Date.parse(cert.validTo) - now.getTime() < renewBeforeDays * day)
        return `expires ${cert.validTo}`;
    const missing = hosts.filter((h) => !covers(cert, h));
    return missing.length ? `does not cover ${missing.join(', ')}` : undefined;
}
async function selfSigned(commonName, hosts, now) {
    // Loaded only when a certificate is made (once per node): the library and its polyfill cost memory.
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto);
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
    const serial = randomBytes(16);
    serial[0] = serial[0] & 0x7f; // a positive INTEGER
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial.toString('hex'),
        name: `CN=${commonName.replace(/[,+="\\<>;#]/g, '_')}`,
        notBefore: new Date(now.getTime() - 3_600_000), // tolerate clients whose clocks run a little behind
        notAfter: new Date(now.getTime() + validityDays * day),
        signingAlgorithm: algorithm,
        keys,
        extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
            new x509.SubjectAlternativeNameExtension([...new Set(hosts)].map((h) => (isIP(h) ? { type: 'ip', value: h } : { type: 'dns', value: h }))),
        ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
    return { cert: cert.toString('pem') + '\n', key };
}
async function writeAtomically(path, content, mode) {
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, content, { mode });
    await chmod(temporary, mode);
    await rename(temporary, path);
}

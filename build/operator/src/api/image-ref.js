// Image references as containerd and CRI name them.
/** `busybox` → `docker.io/library/busybox:latest`, as containerd names images. */
export function normalizeImage(reference) {
    if (reference.includes('@'))
        return reference.startsWith('sha256:') ? reference : withDomain(reference);
    const named = withDomain(reference);
    const lastSegment = named.slice(named.lastIndexOf('/') + 1);
    return lastSegment.includes(':') ? named : `${named}:latest`;
}
function withDomain(reference) {
    const slash = reference.indexOf('/');
    const first = slash < 0 ? '' : reference.slice(0, slash);
    if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost'))
        return reference;
    return slash < 0 ? `docker.io/library/${reference}` : `docker.io/${reference}`;
}

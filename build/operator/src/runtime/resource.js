export function apiVersionOf(type) {
    return type.group ? `${type.group}/${type.version}` : type.version;
}
/** Path to a collection (namespace omitted = all namespaces), an object, or an object's subresource. */
export function resourcePath(type, namespace, name, subresource) {
    const prefix = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
    const scope = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const object = name ? `/${encodeURIComponent(name)}` : '';
    const sub = name && subresource ? `/${subresource}` : '';
    return `${prefix}${scope}/${type.plural}${object}${sub}`;
}
/** The cache and workqueue key: `namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKey). */
export function objectKey(obj) {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name ?? '';
    return ns ? `${ns}/${name}` : name;
}
export function splitKey(key) {
    const slash = key.indexOf('/');
    return slash < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
export const coreTypes = {
    lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
    event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
    namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
    configMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
};

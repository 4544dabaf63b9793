// containerd list/subscribe filter strings ("labels.\"k\"==v", "topic~=\"/tasks/\""): build them here so
// keys and values with dots, slashes or quotes are always quoted correctly.
/** Quotes a value for containerd's filter grammar (Go-style double-quoted string). */
export function quoteFilterValue(value) {
    return JSON.stringify(value);
}
/** Matches objects whose label `key` equals `value`, e.g. `labels."shoal.dev/workload-uid"=="…"`. */
export function labelEquals(key, value) {
    return `labels.${quoteFilterValue(key)}==${quoteFilterValue(value)}`;
}
/** Matches objects that have label `key` at all. */
export function hasLabel(key) {
    return `labels.${quoteFilterValue(key)}`;
}
/** Event topics containing `fragment`, e.g. topicMatches('/tasks/'). The value is a regular expression. */
export function topicMatches(fragment) {
    return `topic~=${quoteFilterValue(fragment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))}`;
}
/** Event topic equal to `topic`, e.g. "/tasks/exit". */
export function topicEquals(topic) {
    return `topic==${quoteFilterValue(topic)}`;
}
/** Events (and other objects with a namespace field) of one namespace. */
export function namespaceEquals(namespace) {
    return `namespace==${quoteFilterValue(namespace)}`;
}
/** Clauses joined with "," are ANDed; separate filter strings in a list are ORed. */
export function and(...clauses) {
    return clauses.join(',');
}

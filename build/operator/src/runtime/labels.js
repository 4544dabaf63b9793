export function matchesLabelSelector(selector, labels) {
    const have = labels ?? {};
    for (const [key, value] of Object.entries(selector?.matchLabels ?? {}))
        if (have[key] !== value)
            return false;
    return (selector?.matchExpressions ?? []).every((req) => matchesRequirement(req, have));
}
function matchesRequirement(req, labels) {
    const present = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
        case 'In':
            return present && (req.values ?? []).includes(value ?? '');
        case 'NotIn':
            return !present || !(req.values ?? []).includes(value ?? '');
        case 'Exists':
            return present;
        case 'DoesNotExist':
            return !present;
        default:
            return false;
    }
}

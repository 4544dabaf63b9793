// Names the operator writes under: its server-side-apply field manager and finalizer prefix.
export const fieldManager = 'shoal-operator';
/** Set by the agent when it creates a container for a Workload; removed once the container is gone. */
export const agentFinalizer = 'shoal.dev/container-cleanup';
/** Namespace of the agents' heartbeat Leases, one per Node, named after it (kubelet's kube-node-lease). */
export const nodeLeaseNamespace = 'shoal-node-lease';

// Names the operator writes under: its server-side-apply field manager and finalizer prefix.
export const fieldManager = 'shoal-operator';

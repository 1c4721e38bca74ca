export { murmur3, hashText } from './hash.js';
export { Ring, DEFAULT_RING_OPTIONS, keyProbes, validateRing, tokenCount, type RingMember, type RingOptions } from './ring.js';
export { KeySet, locateAll, primaryOwners, assignBoundedLoads, loadStats, movedFraction, type LoadStats } from './placement.js';
export { movementPlan, type MovementPlan, type Transfer, type Drop } from './movement.js';
export { measureRing, type RingReport, type RingMeasureOptions } from './measure.js';

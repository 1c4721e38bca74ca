import type { Model } from './model.js';

/**
 * A compare-and-set register per key (Knossos's cas-register, the model of Jepsen's etcd tests):
 * read, write and cas. Initially absent, which reads as null.
 */
export const registerModel: Model = {
  name: 'register',
  describe: 'a register (read, write, cas)',
  functions: ['read', 'write', 'cas'],
};

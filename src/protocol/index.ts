export * from './packet.js';
export * from './codec.js';
export * from './builders.js';
export * from './errors.js';
export * from './ids.js';
export * from './identifiers.js';
export * from './errors-text.js';

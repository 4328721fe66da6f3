export * from './frame';
export * from './encode';
export * from './commands';
export * from './connection';
export * from './server';
export * from './link';
export * from './dispatch';
export * from './attach';

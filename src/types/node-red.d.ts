// node-red ships no types; the embedding API we use is typed in src/automation/node-red-host.ts.
declare module 'node-red';

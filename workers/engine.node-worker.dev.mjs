// Development bootstrap of the Node engine worker: registers tsx's loader in this worker thread,
// then loads the TypeScript entry. Used when the library runs from its .ts sources (npm start,
// Vitest); a compiled build starts engine.node-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./engine.node-worker.ts');

// Development bootstrap for Node worker threads: registers tsx's loader in this thread, then
// loads the TypeScript entry named in workerData.entry (relative to this folder). Used when the
// library runs from its .ts sources (npm start, Vitest); a compiled build starts the .js entries.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(new URL(workerData.entry, import.meta.url).href);

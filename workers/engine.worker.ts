// Browser entry of the engine worker (module Worker). Exposes one Engine through Comlink.
import * as Comlink from 'comlink';
import { exposedEngine } from './expose.js';

Comlink.expose(exposedEngine());

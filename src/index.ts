// wasm-lora: the public API. Start a Session (one engine worker), put datasets into it once,
// create an Mlp, train / evaluate / loraize it. See README.md for a walk-through.
export { Session, Dataset, type EngineHandle } from './session.js';
export { Mlp, type TrainCallOptions } from './mlp.js';
export {
  WasmLoraError, OptionError, ShapeError, DataFormatError, AbortError, NumericalError, StateError,
} from './errors.js';
export { parseIdx, parseImagesAndLabels, type IdxArray, type LabeledImages } from './mnist.js';
export {
  runExperiment, worstClass, validateSettings, REFERENCE_SETTINGS,
  type ExperimentSettings, type ExperimentReport, type ExperimentHooks, type Phase,
} from './experiment.js';
export { REFERENCE_LAYERS, moduleNames } from './options.js';
export type * from './types.js';

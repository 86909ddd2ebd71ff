// wasm-lora: the public API. Start a Session (one engine worker), put datasets into it once,
// create an Mlp, train / evaluate / loraize it. See README.md for a walk-through.
export { Session, Dataset, type EngineHandle } from './session.js';
export { Mlp, type TrainCallOptions } from './mlp.js';
export {
  WasmLoraError, OptionError, ShapeError, DataFormatError, AbortError, NumericalError, StateError,
} from './errors.js';
export { parseIdx, parseImagesAndLabels, type IdxArray, type LabeledImages } from './mnist.js';
export {
  runExperiment, worstClass, validateSettings, REFERENCE_SETTINGS, PRESETS,
  type ExperimentSettings, type ExperimentReport, type ExperimentHooks, type ExperimentRun, type Phase,
} from './experiment.js';
export { REFERENCE_LAYERS, moduleNames } from './options.js';
// Files (platform-neutral bytes; Node helpers that read and write files: src/io/files-node.ts).
export {
  parseSafetensors, serializeSafetensors, SafetensorsError,
  type Safetensors, type SafetensorsErrorCode, type TensorView, type TensorInput, type Dtype,
} from './io/safetensors.js';
export {
  encodeCheckpoint, decodeCheckpoint, encodeBaseModel, decodeBaseModel, decodeModelFile, baseModelState,
  CheckpointError, type CheckpointErrorCode, type DecodedCheckpoint, type BaseModel, type ModelFile, type AdapterStateExport,
} from './io/checkpoint.js';
export {
  encodePeft, parsePeftAdapter, adapterFromPeft, decodePeftAdapter, PeftError,
  type PeftErrorCode, type PeftFiles, type PeftAdapter,
} from './io/peft.js';
export type * from './types.js';

// Typed errors. Every message says what was wrong and what was expected. Errors thrown in the
// engine worker cross Comlink with name and message only; `rehydrate` turns them back into these
// classes on the calling side.

export class WasmLoraError extends Error {
  override name = 'WasmLoraError';
}
/** An option or argument has a bad value (NaN, out of range, wrong type, unknown key). */
export class OptionError extends WasmLoraError {
  override name = 'OptionError';
}
/** Arrays or weights have the wrong shape or length. */
export class ShapeError extends WasmLoraError {
  override name = 'ShapeError';
}
/** A file (idx, safetensors, …) is truncated, corrupt or not what it claims. */
export class DataFormatError extends WasmLoraError {
  override name = 'DataFormatError';
}
/** A run was stopped by its AbortSignal; the model holds the state after `stepsCompleted` steps. */
export class AbortError extends WasmLoraError {
  override name = 'AbortError';
  constructor(message: string, readonly stepsCompleted = 0) {
    super(message);
  }
}
/** Training produced a non-finite loss; the step was not applied. */
export class NumericalError extends WasmLoraError {
  override name = 'NumericalError';
}
/** A model or dataset handle was used after dispose, or with another session. */
export class StateError extends WasmLoraError {
  override name = 'StateError';
}

const classes: Record<string, new (message: string) => WasmLoraError> = {
  OptionError, ShapeError, DataFormatError, AbortError, NumericalError, StateError, WasmLoraError,
};

export function rehydrate(e: unknown): unknown {
  if (e instanceof WasmLoraError || !(e instanceof Error)) return e;
  const C = classes[e.name];
  if (!C) return e;
  const out = new C(e.message);
  out.stack = e.stack;
  return out;
}

// Node file helpers for checkpoints, base models and PEFT adapters (the formats are in
// checkpoint.ts and peft.ts, which are platform-neutral; this module is Node only).
//
// Writes are atomic: the bytes go to a temporary file in the target's folder, are fsync'ed, and
// only then renamed over the target, so a failure at any point (serialization throwing, disk full,
// Ctrl-C) leaves the previous file intact and no temporary file behind (except on a hard kill, which
// leaves a ".<name>.<pid>.<random>.tmp" file next to the target). Reads refuse anything but a
// regular file (a FIFO or a device could block or never end) and turn system errors into one-line
// FileErrors.

import { constants } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { WasmLoraError } from '../errors.js';
import type { Mlp } from '../mlp.js';
import type { Session } from '../session.js';
import type { ModelStateExport } from '../types.js';
import { baseModelState, decodeCheckpoint, decodeModelFile, encodeBaseModel, encodeCheckpoint, type DecodedCheckpoint, type ModelFile } from './checkpoint.js';
import { ADAPTER_CONFIG, ADAPTER_MODEL, BASE_MODEL, encodePeft, parsePeftAdapter, PeftError, type PeftAdapter, type PeftFiles } from './peft.js';

/** A file could not be read or written (missing, not a regular file, no permission, disk full, …). */
export class FileError extends WasmLoraError {
  override name = 'FileError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** "ENOENT: no such file or directory" from a Node system error (without the syscall and path). */
function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message.split(',')[0].replace(/^[A-Z]+: /, '')}` : String(err.message ?? e);
}

function systemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && !(e instanceof WasmLoraError);
}

export type FileContent = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * Writes `content` (or what `content()` returns, computed after the temporary file is open) to
 * `path` atomically. Errors from the content itself propagate unchanged; system errors become
 * FileError. Either way the old file at `path`, if any, is untouched.
 */
export async function writeFileAtomic(path: string, content: FileContent | (() => FileContent | Promise<FileContent>)): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o644);
    const c = typeof content === 'function' ? await content() : content;
    if (typeof c === 'string' || c instanceof Uint8Array) {
      await fh.writeFile(c);
    } else {
      for await (const chunk of c) await fh.writeFile(chunk); // writeFile continues at the current position
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    if (systemError(e)) throw new FileError(e.code!, `cannot write ${path}: ${describe(e)}`);
    throw e;
  }
  // Make the rename itself durable (best effort: not every platform can fsync a folder).
  try {
    const d = await open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch { /* ignore */ }
}

/** The bytes of a regular file; `what` names it in errors ("checkpoint", "adapter config", …). */
export async function readFileChecked(path: string, what = 'file'): Promise<Uint8Array> {
  let fh: FileHandle | undefined;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fh = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const s = await fh.stat();
    if (s.isDirectory()) throw new FileError('EISDIR', `cannot read the ${what} ${path}: it is a folder; expected a file`);
    if (!s.isFile()) throw new FileError('ENOTFILE', `cannot read the ${what} ${path}: not a regular file`);
    const bytes = await fh.readFile();
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (e) {
    if (systemError(e)) throw new FileError(e.code!, `cannot read the ${what} ${path}: ${describe(e)}`);
    throw e;
  } finally {
    await fh?.close().catch(() => {});
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

// ---- models ---------------------------------------------------------------------------------------

/** Writes the model's whole state as a checkpoint (atomically); `extra` adds metadata. */
export function saveCheckpoint(path: string, model: Mlp, extra?: Record<string, string>): Promise<void> {
  return writeFileAtomic(path, async () => encodeCheckpoint(await model.exportState(), extra));
}

/** Writes the model's base weights as model.safetensors (PyTorch layout; adapters not included). */
export function saveBaseModel(path: string, model: Mlp): Promise<void> {
  return writeFileAtomic(path, async () => {
    const [info, w] = await Promise.all([model.info(), model.weights()]);
    return encodeBaseModel({ layers: info.layers, W: w.W, dropout: info.dropout, seed: info.seed });
  });
}

export async function readCheckpoint(path: string): Promise<DecodedCheckpoint> {
  return decodeCheckpoint(await readFileChecked(path, 'checkpoint'), path);
}

/** A checkpoint or a model.safetensors (told apart by its metadata). */
export async function readModelFile(path: string): Promise<ModelFile> {
  return decodeModelFile(await readFileChecked(path, 'model file'), path);
}

/**
 * A model from a file: a checkpoint continues exactly where it was saved; a model.safetensors
 * becomes a fresh trainable model (step 0) with `opts` or the file's dropout and seed.
 */
export async function loadModel(session: Session, path: string, opts: { dropout?: number; seed?: number } = {}): Promise<Mlp> {
  const f = await readModelFile(path);
  const state: ModelStateExport = f.kind === 'checkpoint' ? f.state : baseModelState(f.base, opts);
  return session.importModel(state);
}

// ---- PEFT -----------------------------------------------------------------------------------------

/**
 * Writes DIR/adapter_config.json, DIR/adapter_model.safetensors and DIR/model.safetensors for one
 * adapter (default: the active one), creating DIR if needed. Each file is written atomically.
 */
export async function exportPeft(dir: string, model: Mlp, opts: { adapter?: string; baseModelNameOrPath?: string | null } = {}): Promise<PeftFiles> {
  const files = encodePeft(await model.exportState(), opts);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    if (systemError(e)) throw new FileError(e.code!, `cannot create the folder ${dir}: ${describe(e)}`);
    throw e;
  }
  await writeFileAtomic(join(dir, ADAPTER_MODEL), files.adapter);
  await writeFileAtomic(join(dir, BASE_MODEL), files.model);
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), files.configJson); // last: a complete folder has a config
  return files;
}

/**
 * Reads a PEFT adapter: a folder holding adapter_config.json and adapter_model.safetensors, or the
 * .safetensors file itself (its config is then the adapter_config.json next to it).
 */
export async function readPeftAdapter(path: string): Promise<PeftAdapter> {
  const dir = (await isDirectory(path)) ? path : dirname(path);
  const adapter = dir === path ? join(dir, ADAPTER_MODEL) : path;
  const config = join(dir, ADAPTER_CONFIG);
  const raw = await readFileChecked(config, 'adapter config');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new PeftError('bad-config', `${config}: not valid UTF-8; expected a JSON text`);
  }
  const bytes = await readFileChecked(adapter, 'adapter');
  return parsePeftAdapter(text, bytes, { config, adapter });
}

/** A new model: `model`'s base and adapters plus the PEFT adapter at `path`, made active. */
export async function loadPeftAdapter(model: Mlp, path: string, name = 'default'): Promise<Mlp> {
  const p = await readPeftAdapter(path);
  return model.addPeftAdapter(p, name);
}

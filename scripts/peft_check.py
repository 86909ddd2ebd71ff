#!/usr/bin/env python3
"""Independent forward pass over exported PEFT files, with numpy only (no torch, no safetensors).

    python3 scripts/peft_check.py MODEL.safetensors ADAPTER_DIR INPUTS.safetensors [--no-adapter]

Reads the base model (fc1.weight ... fcL.weight, PyTorch layout (out, in)), the PEFT adapter
(ADAPTER_DIR/adapter_config.json + adapter_model.safetensors: base_model.model.<m>.lora_A.weight
(r, in), ...lora_B.weight (out, r)) and a float tensor "x" of shape (n, in) from INPUTS, and
computes in float64, per layer

    h = x @ W.T + (lora_alpha / r) * (x @ A.T) @ B.T      (the LoRA term only on target modules)

with ReLU between layers and no dropout (inference). Prints JSON:
{"predictions": [argmax per row], "logits": [[...], ...], "scale": alpha / r, "modules": [...]}.

The safetensors files are parsed here from the format's definition (8-byte little-endian header
length, JSON header, raw little-endian data), sharing no code with the TypeScript reader.
"""
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    start = 8 + n
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dt = np.dtype(DTYPES[e["dtype"]])
        count = (end - begin) // dt.itemsize
        arr = np.frombuffer(data, dtype=dt, count=count, offset=start + begin)
        tensors[name] = arr.reshape(e["shape"])
    assert start + max([e["data_offsets"][1] for e in header.values()] + [0]) == len(data), "trailing bytes"
    return tensors, metadata


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    use_adapter = "--no-adapter" not in argv
    model_path, adapter_dir, inputs_path = args
    model, _ = read_safetensors(model_path)
    layers = sorted(int(k[2:-7]) for k in model if k.startswith("fc") and k.endswith(".weight"))
    assert layers == list(range(1, len(layers) + 1)), f"unexpected base tensors {sorted(model)}"
    assert len(model) == len(layers), f"unexpected base tensors {sorted(model)}"

    scale, targets, adapter = 0.0, [], {}
    if use_adapter:
        with open(os.path.join(adapter_dir, "adapter_config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        assert cfg["peft_type"] == "LORA" and cfg["fan_in_fan_out"] is False and cfg["bias"] == "none"
        assert not cfg.get("use_dora") and not cfg.get("use_rslora")
        scale = cfg["lora_alpha"] / cfg["r"]
        targets = list(cfg["target_modules"])
        adapter, meta = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        assert meta.get("format") == "pt", meta
        expected = {f"base_model.model.{m}.lora_{f}.weight" for m in targets for f in "AB"}
        assert set(adapter) == expected, (sorted(adapter), sorted(expected))

    x = read_safetensors(inputs_path)[0]["x"].astype(np.float64)
    for l in layers:
        name = f"fc{l}"
        w = model[f"{name}.weight"].astype(np.float64)  # (out, in)
        h = x @ w.T
        if name in targets:
            a = adapter[f"base_model.model.{name}.lora_A.weight"].astype(np.float64)  # (r, in)
            b = adapter[f"base_model.model.{name}.lora_B.weight"].astype(np.float64)  # (out, r)
            assert a.shape == (cfg["r"], w.shape[1]) and b.shape == (w.shape[0], cfg["r"])
            h = h + scale * ((x @ a.T) @ b.T)
        x = np.maximum(h, 0.0) if l < layers[-1] else h
    json.dump({
        "predictions": x.argmax(axis=1).tolist(),
        "logits": x.tolist(),
        "scale": scale,
        "modules": targets,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/python3
"""Writes the small PyTorch checkpoints the weights tests read.

Run from this folder with Debian's python3-torch (1.13.1):

    /usr/bin/python3 make_ckpt.py

Files:
  lightning.ckpt  {"epoch", "global_step", "state_dict": OrderedDict(fp32...),
                   "callbacks": {ModelCheckpoint: {...}}} as PyTorch Lightning
                   writes it (ModelCheckpoint is a stand-in class registered
                   under Lightning's module path, so the pickle names the real
                   global), with views: a transpose (non-contiguous), a row
                   slice (storage offset), a 0-dim scalar, an int64 buffer
  fp16.ckpt       a bare state dict (no "state_dict" key), float16
  bf16.ckpt       the same in bfloat16
  proto4.ckpt     the fp16 state dict pickled with protocol 4 (FRAME,
                   SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL)
  evil.ckpt       a state dict with an object whose unpickling calls os.system
  legacy.pt       the pre-1.6 non-zip format (refused with a clear error)
  ckpt_want.safetensors  every float tensor above, float32 and contiguous,
                   named "<file>/<tensor>": what reading them must give
"""
import collections
import json
import os
import struct
import sys
import types

import numpy

import torch

torch.manual_seed(0)


# A stand-in for pytorch_lightning's callback class, under its real path.
class ModelCheckpoint:
    def __init__(self):
        self.best_model_path = "/tmp/last.ckpt"


for name in ["pytorch_lightning", "pytorch_lightning.callbacks",
             "pytorch_lightning.callbacks.model_checkpoint"]:
    sys.modules[name] = types.ModuleType(name)
ModelCheckpoint.__module__ = "pytorch_lightning.callbacks.model_checkpoint"
ModelCheckpoint.__qualname__ = "ModelCheckpoint"
sys.modules["pytorch_lightning.callbacks.model_checkpoint"].ModelCheckpoint = ModelCheckpoint


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


want = {}


def record(file, sd):
    for k, v in sd.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            want[file + "/" + k] = v.float().contiguous()


base = torch.randn(4, 6)
sd = collections.OrderedDict()
sd["model.diffusion_model.conv_in.weight"] = torch.randn(8, 4, 3, 3)
sd["model.diffusion_model.conv_in.bias"] = torch.randn(8)
sd["first_stage_model.decoder.norm_out.weight"] = torch.nn.Parameter(torch.randn(5))
sd["view.transposed"] = base.t()          # (6, 4), stride (1, 6)
sd["view.rows"] = base[1:3]               # (2, 6), storage offset 6
sd["view.every_other"] = base[:, ::2]     # (4, 3), stride (6, 2)
sd["scalar"] = torch.tensor(2.5)
sd["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77).unsqueeze(0)
record("lightning.ckpt", sd)
torch.save({
    "epoch": 3,
    "global_step": 1000,
    "pytorch-lightning_version": "1.4.2",
    "state_dict": sd,
    "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.25), "best_model_path": "x.ckpt",
                                    "best_k_models": {"x.ckpt": numpy.float64(0.25)}}},
    "hparams": {"sizes": torch.Size([2, 3]), "tags": {"sd"}, "half": 0.5},
    "lr": 1e-4,
}, "lightning.ckpt")

half = collections.OrderedDict()
half["a.weight"] = torch.randn(3, 5).half()
half["a.bias"] = torch.randn(3).half()
half["b.weight"] = torch.randn(2, 2, 1, 1).half()
record("fp16.ckpt", half)
torch.save(half, "fp16.ckpt")

bf = collections.OrderedDict((k, v.float().bfloat16()) for k, v in half.items())
record("bf16.ckpt", bf)
torch.save(bf, "bf16.ckpt")

torch.save(half, "proto4.ckpt", pickle_protocol=4)
record("proto4.ckpt", half)

torch.save({"state_dict": {"w": torch.ones(2)}, "payload": Evil()}, "evil.ckpt")
torch.save({"w": torch.ones(2)}, "legacy.pt", _use_new_zipfile_serialization=False)


# safetensors by hand (no safetensors module needed).
def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        b = tensors[k].detach().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


save_safetensors("ckpt_want.safetensors", want)

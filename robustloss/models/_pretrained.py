"""Pretrained initialisation: torchvision ResNet-18/34/50 weights into our flax `ResNet`.

A torchvision state dict (``conv1.weight``, ``bn1.running_mean``, ``layer1.0.conv1.weight``,
``layer2.0.downsample.0.weight``, ``fc.weight``, ...) is read from

* a ``.pth``/``.pt`` file written by ``torch.save`` (the zip format of PyTorch >= 1.6), **without
  torch and without running the file's pickle**: an allow-list unpickler rebuilds only tensors
  (``torch._utils._rebuild_tensor_v2`` over ``torch.<Type>Storage`` blobs of the archive) inside
  dicts/lists/tuples; any other global in the file (a module, a function) is refused, naming it.
  (The same rule as for CIFAR-N label files: a user's file is never ``torch.load``-ed and never
  ``allow_pickle``-d.) A checkpoint dict holding the weights under ``state_dict`` or ``model``
  and DataParallel's ``module.`` prefix are accepted;
* a ``.safetensors`` export (``safetensors.numpy``), or
* an ``.npz`` of the same names (``np.savez("r50.npz", **{k: v.numpy() for k, v in
  sd.items()})``), read with ``allow_pickle=False``.

`load_torchvision_resnet` converts layouts (convolutions OIHW → HWIO, the classifier
``[K, F]`` → ``[F, K]``; BatchNorm ``weight``/``bias`` → ``scale``/``bias``, ``running_mean``/
``running_var`` → the ``batch_stats`` ``mean``/``var``; ``num_batches_tracked`` is dropped) and
names (torchvision's ``layer{s}.{b}.convN`` → our ``_BasicBlock_j``/``_Bottleneck_j`` numbering).
When the file's classifier has another class count than the model (ImageNet's 1000 vs
Clothing1M's 14: RENT's recipe) the model keeps its freshly initialised head. Any other
difference — a missing or extra tensor, a shape that does not match (a CIFAR 3×3 stem against
ImageNet 7×7 weights, ResNet-50 weights into a ResNet-18) — fails, listing every mismatch.
The kuangliu CIFAR naming (``shortcut.*``, ``linear.*``) is read as torchvision's
(``downsample.*``, ``fc.*``).
"""

from __future__ import annotations

import collections
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from robustloss.models._nets import ResNet

__all__ = ["is_torchvision_weights", "load_torchvision_resnet", "read_weights"]

_log = logging.getLogger(__name__)


def _storage_dtypes() -> dict[str, np.dtype]:
    import ml_dtypes  # a JAX dependency

    return {
        "FloatStorage": np.dtype(np.float32),
        "DoubleStorage": np.dtype(np.float64),
        "HalfStorage": np.dtype(np.float16),
        "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
        "LongStorage": np.dtype(np.int64),
        "IntStorage": np.dtype(np.int32),
        "ShortStorage": np.dtype(np.int16),
        "CharStorage": np.dtype(np.int8),
        "ByteStorage": np.dtype(np.uint8),
        "BoolStorage": np.dtype(np.bool_),
    }


class _StorageType:
    """Stands for ``torch.<Name>Storage`` in the pickle: only its element dtype is used."""

    def __init__(self, name: str, dtype: np.dtype):
        self.name, self.dtype = name, dtype


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, meta=None):
    """``torch._utils._rebuild_tensor_v2`` on a NumPy storage: a strided view, copied."""
    del requires_grad, hooks, meta
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise pickle.UnpicklingError(f"tensor of size {size} has stride {stride}")
    if any(s == 0 for s in size):
        return np.zeros(size, storage.dtype)
    last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if int(offset) < 0 or last >= storage.size or min(stride, default=0) < 0:
        raise pickle.UnpicklingError(
            f"tensor (offset {offset}, size {size}, stride {stride}) reads outside its storage "
            f"of {storage.size} elements"
        )
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[int(offset) :], shape=size, strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *extra):
    del requires_grad, hooks, extra
    return data


class _TorchZipUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of a torch zip archive, allowing tensors and containers only."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, where: str, byteorder: str):
        super().__init__(file)
        self.archive, self.prefix, self.where = archive, prefix, where
        self.byteorder = byteorder
        self.dtypes = _storage_dtypes()
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in self.dtypes:
            return _StorageType(name, self.dtypes[name])
        raise pickle.UnpicklingError(
            f"{self.where}: refusing to load {module}.{name} from the file; only tensors in "
            "dicts/lists are read (a state dict: torch.save(model.state_dict(), path)). Export "
            "the weights with safetensors or np.savez if the file holds more"
        )

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"{self.where}: unknown persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType):
            raise pickle.UnpicklingError(f"{self.where}: storage of unknown type {kind!r}")
        key = str(key)
        if key not in self.storages:
            name = f"{self.prefix}data/{key}"
            try:
                raw = self.archive.read(name)
            except KeyError:
                raise pickle.UnpicklingError(f"{self.where}: the archive lacks {name}") from None
            dtype = kind.dtype.newbyteorder("<" if self.byteorder == "little" else ">")
            if len(raw) < int(numel) * dtype.itemsize:
                raise pickle.UnpicklingError(
                    f"{self.where}: storage {name} holds {len(raw)} bytes, fewer than "
                    f"{numel} x {dtype.itemsize}"
                )
            arr = np.frombuffer(raw, dtype=dtype, count=int(numel))
            self.storages[key] = arr.astype(kind.dtype.newbyteorder("="), copy=False)
        return self.storages[key]


def _read_torch_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise ValueError(f"{path!r} is a zip file but not a torch.save archive (no data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in names:
            byteorder = z.read(f"{prefix}byteorder").decode().strip()
        with z.open(pkl[0]) as f:
            try:
                return _TorchZipUnpickler(f, z, prefix, repr(path), byteorder).load()
            except pickle.UnpicklingError:
                raise
            except Exception as e:  # a malformed pickle: name the file
                raise ValueError(f"{path!r}: cannot read the torch archive's data.pkl: {e}") from e


def _flatten_tensors(obj: Any, where: str) -> dict[str, np.ndarray]:
    """The tensors of an unpickled state dict (or a checkpoint dict holding one)."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                return _flatten_tensors(obj[key], where)
        out = {}
        for k, v in obj.items():
            if isinstance(v, np.ndarray):
                out[str(k)] = v
        if out:
            return out
    raise ValueError(f"{where} holds no state dict of tensors (got {type(obj).__name__})")


def read_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Named arrays of a weights file: torch ``.pth`` (no torch needed), ``.safetensors``, ``.npz``.

    Nothing in the file is executed: a ``.pth`` is read by an allow-list unpickler (tensors in
    dicts only, module docstring), an ``.npz`` with ``allow_pickle=False``. A ``module.`` prefix
    on every name (``nn.DataParallel``) is removed.

    Args:
        path: the file.

    Returns:
        ``{name: array}`` (tensors as NumPy arrays in their stored dtype).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a format it cannot read, or a file that is not a state dict (named).
        pickle.UnpicklingError: a ``.pth`` that asks for anything but tensors (the global named).
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"weights file {p!r} does not exist")
    if p.endswith(".safetensors"):
        from safetensors.numpy import load_file

        try:
            out = dict(load_file(p))
        except Exception as e:
            raise ValueError(f"{p!r} is not a readable safetensors file: {e}") from e
    elif p.endswith(".npz"):
        try:
            with np.load(p, allow_pickle=False) as z:
                out = {k: np.asarray(z[k]) for k in z.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"{p!r} is not a readable .npz file: {e}") from e
    elif zipfile.is_zipfile(p):
        out = _flatten_tensors(_read_torch_zip(p), repr(p))
    else:
        raise ValueError(
            f"{p!r}: not a torch zip archive, .safetensors or .npz file (a legacy, non-zip "
            "torch file must be re-saved with torch >= 1.6 or exported with safetensors)"
        )
    if out and all(k.startswith("module.") for k in out):
        out = {k[len("module.") :]: v for k, v in out.items()}
    return out


_TORCH_NAME = re.compile(r"^(conv1|bn1|fc|linear)\.|\.(running_mean|running_var)$|^layer\d\.")


def is_torchvision_weights(names: Any) -> bool:
    """Whether the names (or a file's) follow torchvision's ResNet naming (``conv1.weight``...).

    Our own flat ``.npz`` of initial parameters uses flax paths (``Dense_0/kernel``) instead.
    """
    if isinstance(names, str | os.PathLike):
        p = os.fspath(names)
        if p.endswith(".npz"):
            with np.load(p, allow_pickle=False) as z:
                names = z.files
        else:
            return True  # .pth / .safetensors: torch state dicts
    return any(_TORCH_NAME.search(n) for n in names)


def _torch_alias(name: str) -> str:
    """kuangliu's CIFAR ResNet names -> torchvision's (``shortcut`` = ``downsample``)."""
    name = re.sub(r"\.shortcut\.", ".downsample.", name)
    return re.sub(r"^linear\.", "fc.", name)


def _resnet_map(model: Any) -> list[tuple[str, tuple[str, ...], str]]:
    """(torch prefix, our module path, kind) for every layer of a `ResNet`."""
    block = {"basic": "_BasicBlock", "bottleneck": "_Bottleneck"}[model.block]
    convs = 2 if model.block == "basic" else 3
    out = [("conv1", ("Conv_0",), "conv"), ("bn1", ("BatchNorm_0",), "bn")]
    j = 0
    for s, n in enumerate(model.stage_sizes):
        for b in range(n):
            here = f"{block}_{j}"
            for c in range(convs):
                out.append((f"layer{s + 1}.{b}.conv{c + 1}", (here, f"Conv_{c}"), "conv"))
                out.append((f"layer{s + 1}.{b}.bn{c + 1}", (here, f"BatchNorm_{c}"), "bn"))
            out.append((f"layer{s + 1}.{b}.downsample.0", (here, f"Conv_{convs}"), "conv"))
            out.append((f"layer{s + 1}.{b}.downsample.1", (here, f"BatchNorm_{convs}"), "bn"))
            j += 1
    out.append(("fc", ("Dense_0",), "fc"))
    return out


def _get(tree: Any, path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(tree, Mapping) or p not in tree:
            return None
        tree = tree[p]
    return tree


def _set(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        tree = tree[p]
    tree[path[-1]] = value


def _unfreeze(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _unfreeze(v) for k, v in tree.items()}
    return tree


def load_torchvision_resnet(
    weights: str | os.PathLike | Mapping[str, np.ndarray],
    model: Any,
    params: Any,
    batch_stats: Any,
    *,
    runs: int | None = None,
) -> tuple[Any, Any, dict]:
    """Our `ResNet`'s ``params``/``batch_stats`` from a torchvision-layout state dict.

    ``W_ours[kh, kw, i, o] = W_torch[o, i, kh, kw]`` for convolutions, ``kernel = fc.weightᵀ``,
    BatchNorm ``scale, bias, mean, var = weight, bias, running_mean, running_var`` (both use
    ``ε = 1e-5`` and ``(x − mean)/√(var + ε)·scale + bias`` in evaluation). With the ImageNet stem
    our ResNets are torchvision's ``resnet18/34/50`` (v1.5 bottleneck: stride on the 3×3 conv;
    max-pool padding −∞ in both), so the logits equal PyTorch's (tested).

    Args:
        weights: a file (`read_weights`) or ``{torch name: array}``.
        model: the `ResNet` module (its ``stage_sizes`` and ``block`` give the names).
        params, batch_stats: the freshly initialised variables (leading runs axis when
            ``runs``), whose shapes the file must match.
        runs: R for vmapped runs (every run gets the same weights), None for one run.

    Returns:
        ``(params, batch_stats, report)`` as host arrays in the variables' dtypes; ``report``
        has ``loaded`` (tensors used), ``new_head`` (True when the classifier was kept fresh)
        and ``source``.

    Raises:
        ValueError: missing, unexpected or mis-shaped tensors, all listed with both shapes.
    """
    where = repr(os.fspath(weights)) if isinstance(weights, str | os.PathLike) else "weights"
    if not isinstance(model, ResNet):
        raise ValueError(
            f"{where}: torchvision weights load into the ResNets (resnet18/34/50), not "
            f"{type(model).__name__}"
        )
    sd = read_weights(weights) if isinstance(weights, str | os.PathLike) else dict(weights)
    sd = {_torch_alias(k): np.asarray(v) for k, v in sd.items()}
    lead = 1 if runs else 0
    params, batch_stats = _unfreeze(params), _unfreeze(batch_stats)
    used: set[str] = {k for k in sd if k.endswith(".num_batches_tracked")}
    missing, bad, plan = [], [], []
    new_head = False
    for prefix, path, kind in _resnet_map(model):
        if ".downsample." in prefix and _get(params, path) is None:
            continue  # no projection in this block (identity shortcut)
        if kind == "conv":
            items = [("weight", "params", path + ("kernel",), (2, 3, 1, 0))]
        elif kind == "bn":
            items = [
                ("weight", "params", path + ("scale",), None),
                ("bias", "params", path + ("bias",), None),
                ("running_mean", "batch_stats", path + ("mean",), None),
                ("running_var", "batch_stats", path + ("var",), None),
            ]
        else:
            items = [
                ("weight", "params", path + ("kernel",), (1, 0)),
                ("bias", "params", path + ("bias",), None),
            ]
        head_plan, head_bad = [], []
        for suffix, coll, target, perm in items:
            name = f"{prefix}.{suffix}"
            tree = params if coll == "params" else batch_stats
            want = tuple(np.shape(_get(tree, target)))[lead:]
            if name not in sd:
                if kind == "fc":
                    head_bad.append(f"{name}: missing")
                else:
                    missing.append(f"{name} (for {'/'.join(target)} {want})")
                continue
            used.add(name)
            value = sd[name] if perm is None else np.transpose(sd[name], perm)
            if value.shape != want:
                torch_want = want if perm is None else tuple(want[i] for i in np.argsort(perm))
                msg = (
                    f"{name}: file {tuple(sd[name].shape)}, model {torch_want} "
                    f"(ours {'/'.join(target)} {want})"
                )
                (head_bad if kind == "fc" else bad).append(msg)
                continue
            (head_plan if kind == "fc" else plan).append((coll, target, value))
        if kind == "fc":
            if head_bad:  # another class count (or no head in the file): keep our fresh head
                feat = np.shape(_get(params, path + ("kernel",)))[lead]
                w = sd.get("fc.weight")
                if w is not None and (w.ndim != 2 or w.shape[1] != feat):
                    bad.append(f"fc.weight: file {tuple(w.shape)}, model (K, {feat})")
                new_head = True
            else:
                plan.extend(head_plan)
    extra = sorted(set(sd) - used)
    if missing or bad or extra:
        raise ValueError(
            f"{where} does not match the model ({type(model).__name__} "
            f"stage_sizes={tuple(model.stage_sizes)}, block={model.block!r}, stem="
            f"{model.stem!r}, width={model.width}): missing tensors {missing}, shape mismatches "
            f"{bad}, unexpected tensors {extra}"
        )
    for coll, target, value in plan:
        tree = params if coll == "params" else batch_stats
        value = np.asarray(value, dtype=_get(tree, target).dtype)
        if runs:
            value = np.broadcast_to(value, (runs,) + value.shape).copy()
        _set(tree, target, value)
    params = jax.tree.map(np.asarray, params)
    batch_stats = jax.tree.map(np.asarray, batch_stats)
    if new_head:
        _log.info("%s: the classifier has another class count; the model keeps a new head", where)
    report = {"loaded": len(plan), "new_head": new_head, "source": where}
    return params, batch_stats, report

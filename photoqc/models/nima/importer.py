"""Import idealo's NIMA MobileNet weights into photoqc's PyTorch network.

Two sources are understood, both idealo's MobileNet v1 (alpha 1.0) NIMA:

- the original Keras weights (``weights_mobilenet_technical_0.11.hdf5``,
  ``weights_mobilenet_aesthetic_0.07.hdf5`` from github.com/idealo/image-quality-assessment),
  read with h5py: kernels are transposed from Keras' (h, w, in, out) layout, batch-norm
  statistics copied as they are;
- a TensorFlow Lite conversion (``*.tflite``), parsed with the ``tflite`` package. The
  converter folded each batch norm into its convolution and, with dynamic-range
  quantisation, stored most kernels as int8 with one scale per output channel. Kernels are
  dequantised (``(q - zero_point) * scale``) and the folded bias goes into an identity
  batch norm (gamma 1, mean 0, variance 1 - eps), so the network is unchanged.

Both produce a state dict for ``NIMA("mobilenet_v1")``
(:class:`photoqc.models.nima.network.NIMA`); this needs torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from photoqc.errors import PhotoqcError
from photoqc.models.nima.network import NIMA
from photoqc.models.nima.spec import KERAS_BN_EPS, MOBILENET_V1_BLOCKS

# Known files: what idealo trained them on. Keys are sha256 of the files in the wild.
KNOWN_FILES: dict[str, dict[str, str]] = {
    "c5ed895dcd58ac0e23b9057118c184cd3a9ee78182547ac8ebaf7492ab9f52f2": {
        "name": "technical",
        "trained_on": "TID2013 (idealo NIMA technical, MobileNet v1; TFLite conversion)",
    },
    "fb110d0f14deab549e14b5ac9a89218b31aeb369ee4b98407e4e74f2d768739f": {
        "name": "aesthetic",
        "trained_on": "AVA (idealo NIMA aesthetic, MobileNet v1; TFLite conversion)",
    },
}
TRAINED_ON_BY_NAME = {
    "technical": "TID2013 (idealo NIMA technical, MobileNet v1)",
    "aesthetic": "AVA (idealo NIMA aesthetic, MobileNet v1)",
}

_LAYERS = ["conv1"] + [f"conv_{kind}_{i}" for i in range(1, 14) for kind in ("dw", "pw")]
"""Keras layer names of MobileNet v1's 27 convolutions, in network order."""


class NimaImportError(PhotoqcError):
    """The file is not an idealo NIMA MobileNet model this importer understands."""


def guess_name(path: str | os.PathLike[str]) -> str | None:
    """``technical`` or ``aesthetic`` when the file name says so."""
    stem = Path(path).name.lower()
    for name in ("technical", "aesthetic"):
        if name in stem:
            return name
    return None


def import_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """State dict for ``NIMA("mobilenet_v1")`` from a ``.tflite`` or Keras ``.hdf5`` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        state = state_from_tflite(path.read_bytes(), str(path))
    elif suffix in {".hdf5", ".h5", ".keras"}:
        state = state_from_keras_h5(path)
    else:
        raise NimaImportError(f"{path}: expected a .tflite or Keras .hdf5/.h5 file")
    _check_fits(state, path)
    return state


def _check_fits(state: dict[str, torch.Tensor], path: Path) -> None:
    expected = NIMA("mobilenet_v1").state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise NimaImportError(f"{path}: no weights found for {', '.join(missing[:4])} ...")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise NimaImportError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
            )


def _conv_entries(layer: str, kernel: np.ndarray) -> dict[str, torch.Tensor]:
    return {f"backbone.{layer}.weight": torch.from_numpy(np.ascontiguousarray(kernel, np.float32))}


def _bn_entries(layer: str, gamma, beta, mean, var) -> dict[str, torch.Tensor]:
    prefix = f"backbone.{layer}_bn"
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731
    return {
        f"{prefix}.weight": as_tensor(gamma),
        f"{prefix}.bias": as_tensor(beta),
        f"{prefix}.running_mean": as_tensor(mean),
        f"{prefix}.running_var": as_tensor(var),
        f"{prefix}.num_batches_tracked": torch.tensor(0, dtype=torch.long),
    }


# --- TensorFlow Lite ------------------------------------------------------------------


def state_from_tflite(data: bytes, source: str = "<tflite>") -> dict[str, torch.Tensor]:
    """Map a TFLite NIMA MobileNet v1 model's constants to a PyTorch state dict."""
    import tflite

    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
    except Exception as exc:  # flatbuffers raises assorted errors for non-tflite bytes
        raise NimaImportError(f"{source}: not a TensorFlow Lite model ({exc})") from None
    ops = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    def constant(tensor_index: int) -> np.ndarray:
        tensor = graph.Tensors(tensor_index)
        raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw is None or len(raw) == 0:
            raise NimaImportError(f"{source}: weight tensor {tensor.Name()!r} has no data")
        dtype = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.INT8: np.int8}.get(
            tensor.Type()
        )
        if dtype is None:
            raise NimaImportError(f"{source}: unsupported weight type {tensor.Type()}")
        values = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy())
        if dtype is np.float32:
            return values.astype(np.float32)
        quant = tensor.Quantization()
        if quant is None or quant.ScaleLength() == 0:
            raise NimaImportError(f"{source}: int8 weights without scales")
        axis = quant.QuantizedDimension()
        shape = [1] * values.ndim
        shape[axis] = -1
        scale = quant.ScaleAsNumpy().astype(np.float32).reshape(shape)
        zero = quant.ZeroPointAsNumpy()
        zero = (
            np.zeros(1, np.float32)
            if isinstance(zero, int)
            else zero.astype(np.float32).reshape(shape)
        )
        return (values.astype(np.float32) - zero) * scale

    convs: list[tuple[str, np.ndarray, np.ndarray]] = []
    dense: tuple[np.ndarray, np.ndarray] | None = None
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        if kind in {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}:
            weight, bias = constant(op.Inputs(1)), constant(op.Inputs(2))
            if kind == "FULLY_CONNECTED":
                dense = (weight, bias)
            else:
                convs.append((kind, weight, bias))
    if len(convs) != len(_LAYERS) or dense is None:
        raise NimaImportError(
            f"{source}: found {len(convs)} convolutions and {'a' if dense else 'no'} dense layer; "
            f"an idealo NIMA MobileNet v1 has {len(_LAYERS)} and one"
        )
    state: dict[str, torch.Tensor] = {}
    for layer, (kind, weight, bias) in zip(_LAYERS, convs, strict=True):
        if kind == "DEPTHWISE_CONV_2D":
            kernel = weight.transpose(3, 0, 1, 2)  # (1, kh, kw, C) -> (C, 1, kh, kw)
        else:
            kernel = weight.transpose(0, 3, 1, 2)  # (out, kh, kw, in) -> (out, in, kh, kw)
        n = kernel.shape[0]
        state |= _conv_entries(layer, kernel)
        # Batch norm was folded into the kernel; what is left is the bias. An identity
        # batch norm carries it: (x - 0) / sqrt((1 - eps) + eps) * 1 + bias.
        state |= _bn_entries(layer, np.ones(n), bias, np.zeros(n), np.full(n, 1.0 - KERAS_BN_EPS))
    weight, bias = dense
    state["head.weight"] = torch.from_numpy(np.ascontiguousarray(weight, np.float32))
    state["head.bias"] = torch.from_numpy(np.ascontiguousarray(bias, np.float32))
    return state


# --- Keras HDF5 -----------------------------------------------------------------------


def _h5_datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset in a Keras weights file keyed by ``layer/weight`` (``:0`` dropped)."""
    import h5py

    found: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as handle:

            def visit(name: str, obj) -> None:
                if isinstance(obj, h5py.Dataset):
                    parts = name.replace(":0", "").split("/")
                    if len(parts) >= 2:
                        found[f"{parts[-2]}/{parts[-1]}"] = obj[()]

            handle.visititems(visit)
    except OSError as exc:
        raise NimaImportError(f"{path}: not a readable HDF5 file ({exc})") from None
    return found


def state_from_keras_h5(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Map a Keras NIMA MobileNet weights file (h5py) to a PyTorch state dict."""
    path = Path(path)
    data = _h5_datasets(path)

    def get(key: str) -> np.ndarray:
        if key not in data:
            raise NimaImportError(f"{path}: no weight {key!r}; is this idealo's NIMA MobileNet?")
        return np.asarray(data[key], np.float32)

    state: dict[str, torch.Tensor] = {}
    for layer in _LAYERS:
        if layer.startswith("conv_dw"):
            kernel = get(f"{layer}/depthwise_kernel").transpose(
                2, 3, 0, 1
            )  # (kh,kw,C,1)->(C,1,kh,kw)
        else:
            kernel = get(f"{layer}/kernel").transpose(3, 2, 0, 1)  # (kh,kw,in,out)->(out,in,kh,kw)
        state |= _conv_entries(layer, kernel)
        bn = f"{layer}_bn"
        state |= _bn_entries(
            layer,
            get(f"{bn}/gamma"),
            get(f"{bn}/beta"),
            get(f"{bn}/moving_mean"),
            get(f"{bn}/moving_variance"),
        )
    dense_layers = {
        key.split("/")[0]
        for key, value in data.items()
        if key.endswith("/kernel") and np.shape(value) == (MOBILENET_V1_BLOCKS[-1][0], 10)
    }
    if len(dense_layers) != 1:
        raise NimaImportError(
            f"{path}: expected one 1024x10 dense layer, found {sorted(dense_layers)}"
        )
    dense = dense_layers.pop()
    state["head.weight"] = torch.from_numpy(np.ascontiguousarray(get(f"{dense}/kernel").T))
    state["head.bias"] = torch.from_numpy(get(f"{dense}/bias"))
    return state

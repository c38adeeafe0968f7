"""NIMA's MobileNet v1 as an ONNX graph: the scoring path, without torch.

The network of :class:`photoqc.models.nima.network.KerasMobileNetV1` plus NIMA's head is written
here as an ONNX graph straight from the weights file's arrays (each batch norm folded into
its convolution, in float64, then float32; TensorFlow's "same" padding is ONNX's
``SAME_UPPER``), and run by ONNX Runtime on the CPU. Measured on this project's 2-core
machine (``benchmarks/bench_features.py``): about 1.5x faster than torch for a batch of
16 at 224x224, and scoring starts without importing torch (about a second). Outputs
agree with the torch network within 1e-4 in the mean score
(``tests/models/test_nima_onnx.py``).

Only MobileNet v1 is written here (the shipped weights and idealo's); other backbones
(MobileNet v2, for networks you train) run through torch
(:func:`photoqc.models.nima.runners.build` chooses).
"""

from __future__ import annotations

import numpy as np

from photoqc.models.nima.spec import KERAS_BN_EPS, MOBILENET_V1_BLOCKS, NUM_BUCKETS
from photoqc.models.nima.weights import NimaWeightsError

OPSET = 17
EMBEDDING_WIDTH = 1024
BACKBONE = "mobilenet_v1"


def mobilenet_v1_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor a NIMA MobileNet v1 state dict holds, with its shape."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv_bn(name: str, shape: tuple[int, ...]) -> None:
        shapes[f"backbone.{name}.weight"] = shape
        for stat in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"backbone.{name}_bn.{stat}"] = (shape[0],)
        shapes[f"backbone.{name}_bn.num_batches_tracked"] = ()

    conv_bn("conv1", (32, 3, 3, 3))
    channels = 32
    for i, (filters, _) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        conv_bn(f"conv_dw_{i}", (channels, 1, 3, 3))
        conv_bn(f"conv_pw_{i}", (filters, channels, 1, 1))
        channels = filters
    shapes["head.weight"] = (NUM_BUCKETS, EMBEDDING_WIDTH)
    shapes["head.bias"] = (NUM_BUCKETS,)
    return shapes


def check_state(state: dict[str, np.ndarray], source: str) -> None:
    """Refuse a state dict that is not exactly a NIMA MobileNet v1 (names and shapes)."""
    expected = mobilenet_v1_shapes()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    problems = [
        *(f"missing {k}" for k in missing[:3]),
        *(f"unexpected {k}" for k in unexpected[:3]),
        *(f"{k} is {tuple(state[k].shape)}, not {expected[k]}" for k in wrong[:3]),
    ]
    if problems:
        raise NimaWeightsError(
            f"{source}: tensors do not fit a NIMA {BACKBONE} network ({'; '.join(problems)})"
        )


def fold_batch_norm(
    weight: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A convolution's weight and bias with the batch norm after it folded in (float32;
    computed in float64)."""
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + KERAS_BN_EPS)
    folded = weight.astype(np.float64) * scale[:, None, None, None]
    bias = beta.astype(np.float64) - mean.astype(np.float64) * scale
    return folded.astype(np.float32), bias.astype(np.float32)


STATS_WIDTH = 2 * sum(filters for filters, _ in MOBILENET_V1_BLOCKS)
"""Numbers in the ``stats`` output: each pointwise block's per-channel mean and standard
deviation over the frame (2 x 5,952 = 11,904)."""


def mobilenet_v1_graph(state: dict[str, np.ndarray]) -> bytes:
    """The serialised ONNX model of a NIMA MobileNet v1 state dict: input ``x``
    (N, 3, H, W) float32 scaled to -1..1 (224 x 224 for the scores NIMA was trained on);
    outputs ``embedding`` (N, 1024), the pooled features NIMA's head reads, ``probs``
    (N, 10), the score distribution, and ``stats`` (N, :data:`STATS_WIDTH`): for each of
    the 13 pointwise blocks in turn, its channels' means then their standard deviations
    over the frame (multi-level spatially pooled features, Hosu, Goldlücke & Saupe, CVPR
    2019), taken from the same pass."""
    from onnx import TensorProto, helper, numpy_helper

    initializers = [
        numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
        numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"),
    ]
    nodes = []
    pooled_stats: list[str] = []

    def channel_stats(x: str) -> None:
        # Two passes (the mean, then the mean square about it): E[x^2] - E[x]^2 in float32
        # loses the spread of nearly constant channels.
        nodes.extend(
            [
                helper.make_node("ReduceMean", [x], [f"{x}.mean4"], axes=[2, 3], keepdims=1),
                helper.make_node("Sub", [x, f"{x}.mean4"], [f"{x}.centred"]),
                helper.make_node("Mul", [f"{x}.centred", f"{x}.centred"], [f"{x}.sq"]),
                helper.make_node("ReduceMean", [f"{x}.sq"], [f"{x}.var"], axes=[2, 3], keepdims=0),
                helper.make_node("Sqrt", [f"{x}.var"], [f"{x}.std"]),
                helper.make_node("Flatten", [f"{x}.mean4"], [f"{x}.mean"], axis=1),
            ]
        )
        pooled_stats.extend([f"{x}.mean", f"{x}.std"])

    def conv_relu6(x: str, name: str, stride: int, groups: int) -> str:
        b = f"backbone.{name}"
        weight, bias = fold_batch_norm(
            state[f"{b}.weight"],
            state[f"{b}_bn.weight"],
            state[f"{b}_bn.bias"],
            state[f"{b}_bn.running_mean"],
            state[f"{b}_bn.running_var"],
        )
        initializers.append(numpy_helper.from_array(weight, f"{name}.w"))
        initializers.append(numpy_helper.from_array(bias, f"{name}.b"))
        kernel = weight.shape[-1]
        nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}.w", f"{name}.b"],
                [f"{name}.conv"],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                group=groups,
                # TensorFlow's "same": the odd pixel of padding after, as ONNX's SAME_UPPER
                auto_pad="SAME_UPPER" if kernel > 1 else "NOTSET",
            )
        )
        nodes.append(helper.make_node("Clip", [f"{name}.conv", "relu6_min", "relu6_max"], [name]))
        return name

    x = conv_relu6("x", "conv1", 2, 1)
    channels = 32
    for i, (filters, stride) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        x = conv_relu6(x, f"conv_dw_{i}", stride, channels)
        x = conv_relu6(x, f"conv_pw_{i}", 1, 1)
        channel_stats(x)
        channels = filters
    initializers.append(numpy_helper.from_array(state["head.weight"], "head.w"))
    initializers.append(numpy_helper.from_array(state["head.bias"], "head.b"))
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["embedding"], axis=1),
        helper.make_node("Gemm", ["embedding", "head.w", "head.b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        helper.make_node("Concat", pooled_stats, ["stats"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "nima_mobilenet_v1",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", EMBEDDING_WIDTH]),
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", NUM_BUCKETS]),
            helper.make_tensor_value_info("stats", TensorProto.FLOAT, ["n", STATS_WIDTH]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return model.SerializeToString()

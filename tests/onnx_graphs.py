"""Tiny ONNX graphs in insightface's input/output layouts, built with onnx.helper.

insightface routes a graph by its outputs and input size: >= 5 outputs -> SCRFD,
a 192x192 input -> Landmark. These graphs compute real outputs from their input, so
tests exercise insightface's decoding and our coordinate mapping end to end.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# kps offsets (in stride units) from an anchor centre: eyes, nose, mouth corners
SCRFD_KPS_OFFSETS = np.array([[-1.0, -0.5], [1.0, -0.5], [0.0, 0.25], [-0.75, 1.0], [0.75, 1.0]])
SCRFD_BOX_DIST = 2.0  # box = centre +- 2 strides


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype=np.float32), name + "_v"))


def make_scrfd(path: Path) -> Path:
    """SCRFD-like detector (9 outputs, 2 anchors, strides 8/16/32): a bright 16px block is a face.

    Stride 8 scores = sigmoid(20 * (mean brightness of the cell - 0.5)); strides 16/32 never fire.
    """
    nodes = [helper.make_node("ReduceMean", ["input.1"], ["gray"], axes=[1], keepdims=1)]
    nodes.append(_const("box_d", np.full((1, 4), SCRFD_BOX_DIST)))
    nodes.append(_const("kps_d", SCRFD_KPS_OFFSETS.reshape(1, 10)))
    nodes.append(_const("k20", np.array(20.0)))
    nodes.append(_const("half", np.array(0.5)))
    nodes.append(_const("zero", np.array(0.0)))
    nodes.append(_const("m10", np.array(-10.0)))
    nodes.append(helper.make_node("Constant", [], ["shape_n1"], value=numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "s")))
    scores, boxes, kps = [], [], []
    for s in (8, 16, 32):
        nodes.append(helper.make_node("AveragePool", ["gray"], [f"p{s}"], kernel_shape=[s, s], strides=[s, s]))
        nodes.append(helper.make_node("Transpose", [f"p{s}"], [f"t{s}"], perm=[0, 2, 3, 1]))
        nodes.append(helper.make_node("Reshape", [f"t{s}", "shape_n1"], [f"r{s}"]))
        if s == 8:
            nodes.append(helper.make_node("Sub", [f"r{s}", "half"], [f"a{s}"]))
            nodes.append(helper.make_node("Mul", [f"a{s}", "k20"], [f"b{s}"]))
        else:
            nodes.append(helper.make_node("Mul", [f"r{s}", "zero"], [f"z{s}"]))
            nodes.append(helper.make_node("Add", [f"z{s}", "m10"], [f"b{s}"]))
        nodes.append(helper.make_node("Sigmoid", [f"b{s}"], [f"c{s}"]))
        nodes.append(helper.make_node("Concat", [f"c{s}", f"c{s}"], [f"cc{s}"], axis=1))  # 2 anchors per cell
        nodes.append(helper.make_node("Reshape", [f"cc{s}", "shape_n1"], [f"score_{s}"]))
        nodes.append(helper.make_node("Mul", [f"score_{s}", "zero"], [f"zz{s}"]))
        nodes.append(helper.make_node("Add", [f"zz{s}", "box_d"], [f"bbox_{s}"]))
        nodes.append(helper.make_node("Add", [f"zz{s}", "kps_d"], [f"kps_{s}"]))
        scores.append(f"score_{s}")
        boxes.append(f"bbox_{s}")
        kps.append(f"kps_{s}")
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", w]) for n, w in
            [(n, 1) for n in scores] + [(n, 4) for n in boxes] + [(n, 10) for n in kps]]
    graph = helper.make_graph(nodes, "tiny_scrfd", [inp], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def canonical_68(num: int = 68) -> np.ndarray:
    """A plausible frontal 68-point layout in [-1, 1] crop coordinates (iBUG order)."""
    pts = np.zeros((68, 2))
    pts[0:17, 0] = np.linspace(-0.6, 0.6, 17)
    pts[0:17, 1] = 0.3 - 0.3 * np.cos(np.linspace(-1.2, 1.2, 17)) + 0.3
    pts[17:22] = np.column_stack([np.linspace(-0.45, -0.1, 5), np.full(5, -0.35)])
    pts[22:27] = np.column_stack([np.linspace(0.1, 0.45, 5), np.full(5, -0.35)])
    pts[27:36] = np.column_stack([np.zeros(9), np.linspace(-0.2, 0.15, 9)])
    ang = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    pts[36:42] = np.column_stack([-0.25 + 0.08 * np.cos(ang), -0.2 + 0.04 * np.sin(ang)])
    pts[42:48] = np.column_stack([0.25 + 0.08 * np.cos(ang), -0.2 + 0.04 * np.sin(ang)])
    ang12 = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    pts[48:60] = np.column_stack([-0.2 * np.cos(ang12), 0.3 + 0.06 * np.sin(ang12)])
    pts[60:68] = np.column_stack([-0.12 * np.cos(ang12[::1][:8] * 1.5), np.full(8, 0.3)])
    return pts


def make_landmark_1k3d68(path: Path) -> Path:
    """1k3d68-like model: input 1x3x192x192, output 1x3309 (1103 xyz points, last 68 used)."""
    pts = np.zeros((1103, 3), dtype=np.float32)
    pts[-68:, :2] = canonical_68()
    flat = pts.reshape(1, 3309)
    nodes = [
        helper.make_node("ReduceMean", ["data"], ["m"], axes=[1, 2, 3], keepdims=0),
        _const("zero", np.array(0.0)),
        _const("lmk", flat),
        helper.make_node("Mul", ["m", "zero"], ["mz"]),
        helper.make_node("Add", ["lmk", "mz"], ["fc1"]),
    ]
    inp = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 192, 192])
    out = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3309])
    model = helper.make_model(helper.make_graph(nodes, "tiny_1k3d68", [inp], [out]), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path

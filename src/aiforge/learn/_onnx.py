"""ONNX Runtime as a serving path: the estimator behind the encoder, converted to ONNX.

Only the estimator is converted: the fitted ``TabularEncoder`` is our own code (and already fast), so
ONNX Runtime receives the encoded matrix as float32. LightGBM and XGBoost convert with onnxmltools,
scikit-learn estimators with skl2onnx, aiforge's torch networks (``mlp``) with ``torch.onnx``
(``aiforge.deep._export``: their own input handling, embeddings' codes included, is part of the graph);
an estimator that does not convert says why (``OnnxConversion.reason``). Whether ONNX Runtime then
serves is decided on evidence, by ``learn._inference.plan_inference``.

The ONNX packages are an optional extra (``pip install 'aiforge[onnx]'``), imported only here and only
when used; without them every model is served by the native fast path.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ONNX_PACKAGES", "OnnxConversion", "OnnxPredictor", "convert_ensemble", "convert_estimator", "missing_onnx",
           "onnx_versions"]

ONNX_PACKAGES = ("onnx", "onnxruntime", "onnxmltools", "skl2onnx")
MISSING_HINT = "pip install 'aiforge[onnx]'"
INPUT = "input"
SINGLE_THREAD_ROWS = 2000  # batches up to this size run on one thread (as the native fast path does)
TORCH_CONVERTER = "torch.onnx"
MAX_ENSEMBLE_NODES = 1_000_000  # tree nodes an ensemble's ONNX model may hold (deep forests: ~40 bytes a node)


def onnx_versions() -> dict[str, str]:
    """The installed ONNX packages and their versions (empty when any is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {name: version(name) for name in ONNX_PACKAGES}
    except PackageNotFoundError:
        return {}


def missing_onnx() -> str | None:
    """Why ONNX Runtime cannot be used here (which packages are missing and how to install them),
    or ``None`` when it can."""
    import importlib.util

    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"{', '.join(missing)} not installed ({MISSING_HINT})"


@dataclass(frozen=True)
class OnnxConversion:
    """The ONNX model of an estimator (``model``), or ``None`` and why not (``reason``)."""

    model: bytes | None
    converter: str  # the package that converted it, or tried to
    reason: str = ""


def convert_estimator(estimator: Any, n_features: int) -> OnnxConversion:
    """ONNX of a fitted estimator that predicts from ``n_features`` float columns (the encoded matrix):
    probabilities for a classifier (no ZipMap), values for a regressor."""
    problem = missing_onnx()
    kind = type(estimator).__name__
    if problem is not None:
        return OnnxConversion(None, "none", problem)
    if type(estimator).__module__.startswith("aiforge.deep."):
        return _convert_torch(estimator, kind, n_features)
    converter = "onnxmltools" if kind.startswith(("LGBM", "XGB")) else "skl2onnx"
    try:
        with warnings.catch_warnings():  # converters warn about opsets and dtypes: parity is what counts
            warnings.simplefilter("ignore")
            onnx_model = _convert(estimator, kind, n_features)
        return OnnxConversion(onnx_model.SerializeToString(), converter)
    except Exception as exc:  # any converter failure means "does not convert", with the reason
        return OnnxConversion(None, converter, f"{converter} could not convert {kind}: {_cause(exc)}")


def convert_ensemble(members: list[tuple[Any, int, float]], widths: list[int], task: TaskKind) -> OnnxConversion:
    """One ONNX model of a weighted ensemble: ``members`` are (fitted estimator, which input feeds it, weight);
    input ``input_<k>`` takes encoder k's matrix (``widths[k]`` float columns); the output is the weighted sum
    of the members' probabilities (one column per class) or values. Each member converts as
    ``convert_estimator`` converts it; the ensemble does not when one of them does not (the reason names it)."""
    problem = missing_onnx()
    if problem is not None:
        return OnnxConversion(None, "none", problem)
    nodes = sum(_tree_nodes(estimator) for estimator, _, _ in members)
    if nodes > MAX_ENSEMBLE_NODES:
        return OnnxConversion(None, "none", f"its trees hold {nodes:,} nodes, more than the {MAX_ENSEMBLE_NODES:,} "
                                            "an ensemble's ONNX model may hold")
    import onnx

    parts = []
    for number, (estimator, feed, _) in enumerate(members, start=1):
        conversion = convert_estimator(estimator, widths[feed])
        if conversion.model is None:
            return OnnxConversion(None, conversion.converter, f"member {number} ({type(estimator).__name__}) does "
                                                              f"not convert: {conversion.reason}")
        parts.append(onnx.load_from_string(conversion.model))
    try:
        merged = _merged(parts, [(feed, weight) for _, feed, weight in members], widths, task)
    except Exception as exc:
        return OnnxConversion(None, "onnx", f"the members' ONNX models could not be merged: {_cause(exc)}")
    return OnnxConversion(merged.SerializeToString(), "+".join(sorted({_converter(e) for e, _, _ in members})))


def _converter(estimator: Any) -> str:
    if type(estimator).__module__.startswith("aiforge.deep."):
        return TORCH_CONVERTER
    return "onnxmltools" if type(estimator).__name__.startswith(("LGBM", "XGB")) else "skl2onnx"


def _tree_nodes(estimator: Any) -> int:
    """How many nodes a scikit-learn tree ensemble's trees hold (0 for other estimators: their ONNX stays small)."""
    trees = getattr(estimator, "estimators_", None)
    if not isinstance(trees, list):
        return 0
    return sum(int(getattr(getattr(t, "tree_", None), "node_count", 0)) for t in trees)


def _merged(parts: list[Any], feeds: list[tuple[int, float]], widths: list[int], task: TaskKind) -> Any:
    """The members' graphs side by side (names prefixed ``m<i>_``), each fed by its input through an Identity,
    each output (probabilities, or values flattened to one per row) times its weight, summed into ``output``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    nodes: list[Any] = []
    initializers: list[Any] = [numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat")]
    opsets: dict[str, int] = {}
    weighted: list[str] = []
    for i, (part, (feed, weight)) in enumerate(zip(parts, feeds, strict=True)):
        graph = compose.add_prefix(part, f"m{i}_").graph
        nodes.append(helper.make_node("Identity", [f"input_{feed}"], [graph.input[0].name]))
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        floats = [o.name for o in graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT]
        out = floats[0] if floats else graph.output[0].name
        if task is TaskKind.REGRESSION:
            nodes.append(helper.make_node("Reshape", [out, "flat"], [f"m{i}_flat"]))
            out = f"m{i}_flat"
        initializers.append(numpy_helper.from_array(np.array([weight], dtype=np.float32), f"m{i}_weight"))
        nodes.append(helper.make_node("Mul", [out, f"m{i}_weight"], [f"m{i}_weighted"]))
        weighted.append(f"m{i}_weighted")
        for opset in part.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
    nodes.append(helper.make_node("Sum", weighted, ["output"]))
    inputs = [helper.make_tensor_value_info(f"input_{k}", TensorProto.FLOAT, [None, width])
              for k, width in enumerate(widths)]
    graph = helper.make_graph(nodes, "aiforge_ensemble", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None] if
                                                             task is TaskKind.REGRESSION else [None, None])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())])
    model.ir_version = max(part.ir_version for part in parts)
    onnx.checker.check_model(model)
    return model


def _convert_torch(estimator: Any, kind: str, n_features: int) -> OnnxConversion:
    """A torch estimator's whole prediction (inputs standardised and coded, the network, softmax or the
    target's units) exported by torch.onnx."""
    expected = getattr(estimator, "n_features_in_", n_features)
    if expected != n_features:
        return OnnxConversion(None, TORCH_CONVERTER, f"{kind} was fitted on {expected} columns, the encoder gives "
                                                     f"{n_features}")
    try:
        from aiforge.deep._export import export_onnx

        return OnnxConversion(export_onnx(estimator), TORCH_CONVERTER)
    except Exception as exc:  # e.g. an int8-quantised network: served natively, with the reason recorded
        return OnnxConversion(None, TORCH_CONVERTER, f"{TORCH_CONVERTER} could not export {kind}: {_cause(exc)}")


def _convert(estimator: Any, kind: str, n_features: int) -> Any:
    if kind.startswith("LGBM"):
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        return onnxmltools.convert_lightgbm(estimator, initial_types=[(INPUT, FloatTensorType([None, n_features]))],
                                            zipmap=False)
    if kind.startswith("XGB"):
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        return onnxmltools.convert_xgboost(estimator, initial_types=[(INPUT, FloatTensorType([None, n_features]))])
    import skl2onnx
    from skl2onnx.common.data_types import FloatTensorType as SklFloatTensorType

    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    return skl2onnx.to_onnx(estimator, initial_types=[(INPUT, SklFloatTensorType([None, n_features]))],
                            options=options)


def _cause(exc: BaseException) -> str:
    """The innermost cause of a converter's failure, on one line (converters wrap the real error in a
    dump of the node they were building)."""
    for _ in range(20):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class OnnxPredictor:
    """ONNX Runtime sessions over an estimator's ONNX model: the encoded matrix in, probabilities (one
    column per class) or values out, as the native estimator gives them.

    Small batches run on a one-thread session (a thread pool costs more than it saves on a few rows);
    a multi-threaded session is made the first time a larger batch comes."""

    def __init__(self, onnx_model: bytes, task: TaskKind) -> None:
        self.onnx_model = onnx_model
        self.task = task
        self._single = _session(onnx_model, threads=1)
        self.inputs = [i.name for i in self._single.get_inputs()]  # an ensemble's: one per encoder
        outputs = self._single.get_outputs()
        if task is TaskKind.REGRESSION:
            self.output = outputs[0].name
        else:  # the probabilities: the float tensor beside the int64 label
            self.output = next((o.name for o in outputs if o.type == "tensor(float)"), outputs[-1].name)
        self._parallel: Any = None
        self._lock = threading.Lock()

    def run(self, encoded: np.ndarray | list[np.ndarray], threads: int | None = None) -> np.ndarray:
        """``encoded``: the encoded matrix, or a list of them (an ensemble: one per input, in order).
        ``threads``: 1 for the one-thread session, 0 for every core; by default one thread up to
        ``SINGLE_THREAD_ROWS`` rows."""
        import numpy as np

        matrices = encoded if isinstance(encoded, list) else [encoded]
        rows = len(matrices[0])
        single = threads == 1 or (threads is None and rows <= SINGLE_THREAD_ROWS)
        session = self._single if single else self._parallel_session()
        feed = {name: np.ascontiguousarray(m, dtype=np.float32) for name, m in zip(self.inputs, matrices, strict=True)}
        out = session.run([self.output], feed)[0]
        out = np.asarray(out, dtype=float)
        return out.reshape(rows) if self.task is TaskKind.REGRESSION else out

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its ONNX model: the sessions are made again where it is loaded (e.g. a Ray worker)."""
        return (OnnxPredictor, (self.onnx_model, self.task))

    def _parallel_session(self) -> Any:
        with self._lock:
            if self._parallel is None:
                self._parallel = _session(self.onnx_model, threads=0)
            return self._parallel


def _session(onnx_model: bytes, *, threads: int) -> Any:
    """An InferenceSession on the CPU: ``threads`` intra-op threads (0: one per core), operators run in
    sequence, graph optimisations on, only errors logged (a converted classifier's label output has a
    declared shape that ONNX Runtime warns about on every batch of more than one row)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])

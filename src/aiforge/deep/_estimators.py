"""Scikit-learn estimators over the torch networks: ``fit``, ``predict``, ``predict_proba``, ``classes_``.

``__init__`` only stores its keyword arguments; ``fit`` standardises the inputs (statistics of the training
rows), builds the network with seeded initial weights and trains it with ``aiforge.deep._loop.train``. The
validation rows for early stopping are ``eval_set`` when given (the search gives its validation fold), else
``validation_fraction`` of the rows (stratified for classifiers); ``validation_fraction=0`` trains
``max_epochs`` epochs. ``deadline`` (a ``time.perf_counter()`` value) or ``time_budget`` (seconds) ends
training early with the best weights so far.

A fitted estimator pickles its network as a ``state_dict`` of CPU tensors (loaded back with
``weights_only=True``): a model trained on a GPU loads and predicts on a machine without one.

``adversarial`` trains on FGSM or PGD versions of a share of every batch (``aiforge.deep._adversarial``);
``augment`` augments every training batch (``aiforge.deep._augment``: flips, shifts, rotations and cutout for
the CNNs, Gaussian noise for every family), never the validation rows or predictions; ``privacy`` (the MLPs)
trains with DP-SGD to a target (epsilon, delta) and records the spent budget in
``epsilon_`` and ``delta_`` (``aiforge.deep._private``). ``attack`` (classifiers) runs FGSM or PGD against the
fitted network.
"""

from __future__ import annotations

import io
import math
import time
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError

from aiforge.deep._loop import TrainConfig, TrainingHistory, train
from aiforge.deep._runtime import (
    choose_device,
    choose_precision,
    deterministic,
    require_torch,
    seeded,
    torch_threads,
)

if TYPE_CHECKING:
    import torch

__all__ = ["CNNClassifier", "CNNRegressor", "MLPClassifier", "MLPRegressor", "RNNClassifier", "RNNRegressor"]

PREDICT_ROWS = 8192  # rows per forward pass when predicting
MIN_VALIDATION_ROWS = 10  # fewer rows than this and validation_fraction holds none out


class _TorchEstimator(BaseEstimator):
    """What every torch estimator shares: the fit (split, standardise, build, train), predictions in
    batches, pickling. A family (MLP, CNN, RNN) says how its inputs become tensors and how its network is
    configured; a task (classification, regression) says how targets are encoded and scored."""

    _kind: ClassVar[str]  # the network family: a key of aiforge.deep._modules.MODULES
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int | None
    schedule: str
    warmup: float
    clip_norm: float | None
    validation_fraction: float
    amp: str
    device: str
    n_jobs: int | None
    random_state: int
    time_budget: float | None
    adversarial: Any
    augment: Any

    # --- a family defines these -------------------------------------------------------------------
    def _array(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def _fit_inputs(self, X: np.ndarray) -> None:
        raise NotImplementedError

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def _module_config(self, n_outputs: int) -> dict[str, Any]:
        raise NotImplementedError

    def _restore(self, X: np.ndarray, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        """``X`` with its float inputs replaced by ``inputs`` (as ``_inputs`` gives them), in X's own units."""
        raise NotImplementedError

    def _privacy(self) -> Any:
        """The DP-SGD target (a ``PrivacyConfig``), or None: only the MLPs train privately."""
        return None

    def _new_module(self, config: dict[str, Any]) -> torch.nn.Module:
        """The network built from ``config`` (initial weights: fit calls this seeded; unpickling loads weights)."""
        from aiforge.deep._modules import build_module

        return build_module(self._kind, **config)

    def _prepare(self, module: torch.nn.Module) -> None:
        """What happens to a new network before training (a transfer learner loads and freezes its backbone)."""

    def _train_options(self, module: torch.nn.Module) -> dict[str, Any]:
        """More arguments of ``train`` for this network (parameter groups, a hook per epoch)."""
        return {}

    # --- a task defines these ---------------------------------------------------------------------
    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _loss(self) -> Any:
        """The loss of each row: (outputs, encoded targets) -> one value per row."""
        raise NotImplementedError

    def _target_weights(self, target: np.ndarray) -> np.ndarray | None:
        """Weights of rows by their (encoded) target, e.g. class weights; None: all alike."""
        return None

    @property
    def _n_outputs(self) -> int:
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------------
    def _train_config(self) -> TrainConfig:
        return TrainConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=int(self.batch_size),
                           max_epochs=int(self.max_epochs), patience=self.patience,
                           schedule=self.schedule,  # type: ignore[arg-type]  # TrainConfig checks the name
                           warmup=self.warmup, clip_norm=self.clip_norm, seed=int(self.random_state))

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, eval_set: tuple[Any, Any] | None = None,
            deadline: float | None = None) -> _TorchEstimator:
        """Train on ``X``, ``y`` (each row's loss weighted by ``sample_weight``, if given); ``eval_set`` =
        (X, y) validates each epoch for early stopping (else ``validation_fraction`` of the rows do);
        training ends by ``deadline`` or ``time_budget``."""
        torch = require_torch(type(self).__name__)
        started = time.perf_counter()
        config = self._train_config()
        if self.time_budget is not None:
            if not self.time_budget > 0:
                raise ValueError(f"time_budget must be a positive number of seconds, not {self.time_budget!r}")
            deadline = min(deadline if deadline is not None else math.inf, started + self.time_budget)
        X_all = self._array(X)
        y_all = np.asarray(y)
        if y_all.ndim != 1 or len(y_all) != len(X_all):
            raise ValueError(f"y must be one value per row of X ({len(X_all)} rows), got shape {y_all.shape}")
        w_all = _sample_weight(sample_weight, len(y_all))
        from aiforge.deep._adversarial import AdversarialTraining
        from aiforge.deep._augment import Augmentation

        adversarial = AdversarialTraining.from_param(self.adversarial)
        augmentation = Augmentation.from_param(self.augment)
        if augmentation is not None and augmentation.image_operations and self._kind not in ("cnn", "transfer"):
            raise ValueError(f"augment: {', '.join(augmentation.image_operations)} apply to images (CNNClassifier, "
                             f"CNNRegressor, TransferClassifier, TransferRegressor); {type(self).__name__} takes "
                             f"noise only")
        privacy = self._privacy()
        for stale in ("epsilon_", "delta_", "privacy_"):
            if hasattr(self, stale):
                delattr(self, stale)
        w_valid = None
        if eval_set is not None:
            X_fit, y_fit, w_fit = X_all, y_all, w_all
            X_valid, y_valid = self._array(eval_set[0]), np.asarray(eval_set[1])
        else:
            X_fit, y_fit, w_fit, X_valid, y_valid, w_valid = self._holdout(X_all, y_all, w_all)
        self._fit_inputs(X_fit)
        target = self._fit_target(y_fit)
        weights = _product(w_fit, self._target_weights(target))
        device = choose_device(self.device)
        # DP-SGD runs in float32: 'auto' does not pick mixed precision for it (an explicit choice is refused)
        precision = choose_precision("off" if privacy is not None and self.amp == "auto" else self.amp, device)
        module_config = self._module_config(self._n_outputs)
        valid, valid_weights = None, None
        if X_valid is not None and y_valid is not None:
            if len(y_valid) != len(X_valid):
                raise ValueError(f"eval_set holds {len(X_valid)} rows of X but {len(y_valid)} of y")
            valid_target = self._encode_target(y_valid)
            valid = (_tensors(torch, self._inputs(X_valid)), torch.from_numpy(valid_target))
            valid_weights = _maybe_tensor(torch, _product(w_valid, self._target_weights(valid_target)))
        with torch_threads(self.n_jobs), deterministic(device):
            module = seeded(self.random_state, lambda: self._new_module(module_config))
            self._prepare(module)
            history = train(module, _tensors(torch, self._inputs(X_fit)), torch.from_numpy(target), self._loss(),
                            config, device=device, precision=precision, weights=_maybe_tensor(torch, weights),
                            valid=valid, valid_weights=valid_weights, deadline=deadline, adversarial=adversarial,
                            privacy=privacy, augment=augmentation, **self._train_options(module))
        self.module_ = module
        self.module_config_ = module_config
        self.history_: TrainingHistory = history
        self.best_epoch_ = history.best_epoch
        self.n_epochs_ = len(history.epochs)
        self.device_ = str(device)
        if history.privacy is not None:
            self.privacy_ = history.privacy
            self.epsilon_, self.delta_ = history.privacy.epsilon, history.privacy.delta
        return self

    def _holdout(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> tuple[Any, ...]:
        """The training rows and the validation rows that ``validation_fraction`` holds out (none when it is
        0 or too few rows would be held out), each as (X, y, sample weights)."""
        fraction = self.validation_fraction
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), not {fraction!r}")
        held = int(round(len(y) * fraction))
        if held < MIN_VALIDATION_ROWS or len(y) - held < 2:
            return X, y, weights, None, None, None
        from sklearn.model_selection import train_test_split

        stratify = None
        if isinstance(self, ClassifierMixin):
            _, counts = np.unique(y, return_counts=True)
            if counts.min() >= 2 and held >= len(counts):
                stratify = y
        fit_rows, valid_rows = train_test_split(np.arange(len(y)), test_size=held, random_state=self.random_state,
                                                stratify=stratify)
        if weights is None:
            return X[fit_rows], y[fit_rows], None, X[valid_rows], y[valid_rows], None
        return X[fit_rows], y[fit_rows], weights[fit_rows], X[valid_rows], y[valid_rows], weights[valid_rows]

    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs (logits, or standardised values) for ``X``, in float32 batches."""
        if not hasattr(self, "module_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit first")
        torch = require_torch(type(self).__name__)
        arrays = self._inputs(self._array(X))
        rows = len(arrays[0])
        if rows == 0:
            return np.zeros((0, self._n_outputs), dtype=np.float32)
        device = next(self.module_.parameters()).device
        outputs = []
        with torch_threads(self.n_jobs), torch.inference_mode():
            for start in range(0, rows, PREDICT_ROWS):
                batch = _tensors(torch, tuple(a[start: start + PREDICT_ROWS] for a in arrays))
                outputs.append(self.module_(*(t.to(device) for t in batch)).float().cpu().numpy())
        return np.concatenate(outputs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        module = state.pop("module_", None)
        if module is not None:
            torch = require_torch(type(self).__name__)
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buffer)
            state["_weights"] = buffer.getvalue()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("_weights", None)
        super().__setstate__(state)
        if weights is not None:
            torch = require_torch(f"loading a {type(self).__name__}")
            module = seeded(0, lambda: self._new_module(self.module_config_))
            module.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True))
            module.eval()
            self.module_ = module


def _tensors(torch: Any, arrays: tuple[np.ndarray, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


def _maybe_tensor(torch: Any, values: np.ndarray | None) -> torch.Tensor | None:
    return None if values is None else torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def _sample_weight(sample_weight: Any, rows: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (rows,):
        raise ValueError(f"sample_weight must be one number per row of X ({rows} rows), got shape {weights.shape}")
    if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
        raise ValueError("sample_weight must be finite, non-negative numbers, not all zero")
    return weights


def _product(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return a if b is None else b
    return a * b


def _standardiser(values: np.ndarray, axes: tuple[int, ...], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (1 where constant) over ``axes``, refusing missing or infinite values."""
    if not np.isfinite(values).all():
        raise ValueError(f"{what} hold missing or infinite values: impute them first "
                         f"(aiforge's TabularEncoder does for tables)")
    mean = values.mean(axis=axes, dtype=np.float64)
    std = values.std(axis=axes, dtype=np.float64)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def _standardised(values: np.ndarray, mean: np.ndarray, scale: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise ValueError(f"{what} hold missing or infinite values: impute them first")
    return ((values - mean) / scale).astype(np.float32)


# --- tasks -----------------------------------------------------------------------------------------------


class _Classification(_TorchEstimator):
    """Targets are labels: ``classes_`` in sorted order, cross-entropy loss (optionally class-weighted),
    ``predict_proba`` the softmax of the network's outputs."""

    class_weight: Any

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs at least 2 classes in y, found {len(self.classes_)}")
        target = self._encode_target(y)
        self.class_weights_ = None
        if self.class_weight is not None:
            from sklearn.utils.class_weight import compute_class_weight

            weight = self.class_weight
            if isinstance(weight, dict):  # by label, as scikit-learn takes it: by position here
                weight = {i: weight.get(c, 1.0) for i, c in enumerate(self.classes_.tolist())}
            self.class_weights_ = compute_class_weight(weight, classes=np.arange(len(self.classes_)), y=target)
        return target

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            raise ValueError(f"labels {sorted(set(y[unknown].tolist()))[:5]} are not among the classes seen in "
                             f"training {self.classes_.tolist()[:20]}")
        return index.astype(np.int64)

    @property
    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _loss(self) -> Any:
        torch = require_torch()
        return torch.nn.CrossEntropyLoss(reduction="none")

    def _target_weights(self, target: np.ndarray) -> np.ndarray | None:
        return None if self.class_weights_ is None else self.class_weights_[target]

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self._outputs(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        expo = np.exp(logits)
        return np.asarray(expo / expo.sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        outputs = self._outputs(X)  # first: it says when the estimator is not fitted
        return np.asarray(self.classes_[np.argmax(outputs, axis=1)])

    def attack(self, X: Any, y: Any, *, method: str = "pgd", epsilon: float | None = None, low: Any = None,
               high: Any = None, steps: int = 10, threshold: float = 0.5,
               random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """White-box evasion of the fitted network: FGSM or PGD (``aiforge.deep._adversarial.attack``) on the
        cross-entropy of the true labels ``y``. Only the float inputs move (a table's numeric columns; category
        codes stay), within ``epsilon`` standardised units and/or the bounds ``low`` and ``high`` (arrays shaped
        like X, in X's units; both are needed without ``epsilon``).

        Returns the adversarial X (in X's units) and, per row, whether it fools the network: its decision
        differs from ``y`` (two classes: the second class is decided at probability >= ``threshold``; more:
        the most probable class)."""
        if not hasattr(self, "module_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit first")
        torch = require_torch(type(self).__name__)
        from aiforge.deep._adversarial import ATTACKS, attack

        if method not in ATTACKS:
            raise ValueError(f"method must be one of {', '.join(ATTACKS)}, not {method!r}")
        if epsilon is None and (low is None or high is None):
            raise ValueError("an attack needs a bounded box: give epsilon (standardised units), or both low and high")
        if epsilon is not None and not (math.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"epsilon must be a positive number of standardised units, not {epsilon!r}")
        X_all = self._array(X)
        target_all = self._encode_target(np.asarray(y))
        if len(target_all) != len(X_all):
            raise ValueError(f"y must be one label per row of X ({len(X_all)} rows), got {len(target_all)}")
        arrays = self._inputs(X_all)
        bounds = []
        for side, given in ((-1.0, low), (1.0, high)):
            edge = [a + side * epsilon if epsilon is not None and a.dtype.kind == "f" else None for a in arrays]
            if given is not None:
                limits = self._inputs(self._array(given))
                if len(limits[0]) != len(X_all):
                    raise ValueError(f"low and high must be shaped like X ({len(X_all)} rows)")
                edge = [None if a.dtype.kind != "f" else lim if e is None else
                        (np.maximum(e, lim) if side < 0 else np.minimum(e, lim))
                        for a, e, lim in zip(arrays, edge, limits, strict=True)]
            # the box always holds the input itself
            bounds.append([None if e is None else (np.minimum(e, a) if side < 0 else np.maximum(e, a))
                           for a, e in zip(arrays, edge, strict=True)])
        device = next(self.module_.parameters()).device
        two = len(self.classes_) == 2

        def wrong(outputs: Any, target: Any) -> Any:
            if two:
                decided = (torch.softmax(outputs, dim=1)[:, 1] >= threshold).long()
            else:
                decided = outputs.argmax(dim=1)
            return decided != target

        def part(values: list[np.ndarray | None], rows: slice) -> tuple[Any, ...]:
            return tuple(None if v is None else torch.from_numpy(np.ascontiguousarray(v[rows])).to(device)
                         for v in values)

        generator = torch.Generator(device=device).manual_seed(int(random_state))
        results, fooled = [], []
        self.module_.eval()
        with torch_threads(self.n_jobs):
            for start in range(0, len(X_all), PREDICT_ROWS):
                rows = slice(start, start + PREDICT_ROWS)
                inputs = part(list(arrays), rows)
                adversarial, hit = attack(self.module_, inputs, torch.from_numpy(target_all[rows]).to(device),
                                          self._loss(), part(bounds[0], rows), part(bounds[1], rows),
                                          method=method,  # checked above
                                          steps=steps, generator=generator, wrong=wrong)
                results.append(tuple(t.cpu().numpy() for t in adversarial))
                assert hit is not None
                fooled.append(hit.cpu().numpy())
        if not results:
            return X_all.copy(), np.zeros(0, dtype=bool)
        joined = tuple(np.concatenate([r[i] for r in results]) for i in range(len(arrays)))
        return self._restore(X_all, joined), np.concatenate(fooled)


class _Regression(_TorchEstimator):
    """Targets are numbers, standardised for training (MSE loss) and mapped back by ``predict``."""

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("y holds missing or infinite values")
        self.target_mean_ = float(values.mean())
        std = float(values.std())
        self.target_scale_ = std if std > 0 else 1.0
        return self._encode_target(values)

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        values = np.asarray(y, dtype=np.float64)
        return ((values - self.target_mean_) / self.target_scale_).astype(np.float32)

    @property
    def _n_outputs(self) -> int:
        return 1

    def _loss(self) -> Any:
        return lambda output, target: (output[:, 0] - target) ** 2

    def predict(self, X: Any) -> np.ndarray:
        out = self._outputs(X)[:, 0].astype(np.float64)
        return np.asarray(out * self.target_scale_ + self.target_mean_)


# --- families --------------------------------------------------------------------------------------------


class _MLP(_TorchEstimator):
    """Rows of a table: numeric columns standardised; the columns at ``categorical`` hold integer codes
    (negative or unseen in training: unknown) and each gets an embedding. ``privacy`` trains with DP-SGD."""

    _kind = "mlp"
    categorical: list[int] | None
    hidden_width: int
    hidden_layers: int
    dropout: float
    batch_norm: bool
    max_embedding: int

    def _array(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects a table (rows x columns), got shape {values.shape}")
        return values

    def _fit_inputs(self, X: np.ndarray) -> None:
        columns = X.shape[1]
        categorical = sorted({int(c) for c in self.categorical or []})
        if any(c < 0 or c >= columns for c in categorical) or len(categorical) != len(self.categorical or []):
            raise ValueError(f"categorical must list distinct column positions in [0, {columns}), "
                             f"got {self.categorical!r}")
        self.n_features_in_ = columns
        self.categorical_columns_ = categorical
        self.numeric_columns_ = [c for c in range(columns) if c not in set(categorical)]
        self.numeric_mean_, self.numeric_scale_ = _standardiser(X[:, self.numeric_columns_], (0,),
                                                                "the numeric columns of X")
        codes = X[:, categorical]
        known = np.where(np.isfinite(codes) & (codes >= 0), codes, -1.0)
        self.cardinalities_ = [int(known[:, j].max(initial=-1.0)) + 2 for j in range(len(categorical))]

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} columns, but {type(self).__name__} was fitted on "
                             f"{self.n_features_in_}")
        numeric = _standardised(X[:, self.numeric_columns_], self.numeric_mean_, self.numeric_scale_,
                                "the numeric columns of X")
        raw = X[:, self.categorical_columns_]
        codes = np.where(np.isfinite(raw) & (raw >= 0), np.floor(np.nan_to_num(raw)) + 1, 0).astype(np.int64)
        codes[codes >= np.asarray(self.cardinalities_, dtype=np.int64)] = 0  # a code unseen in training: unknown
        return numeric, codes

    def _module_config(self, n_outputs: int) -> dict[str, Any]:
        # batch norm mixes the rows of a batch: no per-row gradient to clip, so DP-SGD trains without it
        return {"n_numeric": len(self.numeric_columns_), "cardinalities": list(self.cardinalities_),
                "n_outputs": n_outputs, "width": int(self.hidden_width), "depth": int(self.hidden_layers),
                "dropout": float(self.dropout), "batch_norm": bool(self.batch_norm) and self._privacy() is None,
                "max_embedding": int(self.max_embedding)}

    def _restore(self, X: np.ndarray, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        out = X.copy()
        out[:, self.numeric_columns_] = inputs[0] * self.numeric_scale_ + self.numeric_mean_
        return out

    def _privacy(self) -> Any:
        from aiforge.deep._private import PrivacyConfig

        return PrivacyConfig.from_param(getattr(self, "privacy", None))


class _CNN(_TorchEstimator):
    """Images as (n, channels, height, width) floats, or (n, height, width) for one channel; each channel
    standardised. With ``image_shape`` (height, width[, channels]), X may also be a table of one image per row,
    its pixels row-major with the channels last (``aiforge.data``'s pixel columns): the table the tuning
    engine gives every learner."""

    _kind = "cnn"
    channels: int
    blocks: int
    dropout: float
    image_shape: Any

    def _array(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float32)
        shape = self._image_shape()
        if values.ndim == 2 and shape is not None:
            if values.shape[1] != shape[0] * shape[1] * shape[2]:
                raise ValueError(f"{type(self).__name__} expects rows of {shape[0] * shape[1] * shape[2]} pixels "
                                 f"(image_shape {list(shape)}), got {values.shape[1]} columns")
            values = values.reshape(len(values), *shape).transpose(0, 3, 1, 2)
        if values.ndim == 3:
            values = values[:, None, :, :]
        if values.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects images as (n, channels, height, width) or "
                             f"(n, height, width), got shape {values.shape}")
        return values

    def _fit_inputs(self, X: np.ndarray) -> None:
        self.n_channels_ = X.shape[1]
        self.channel_mean_, self.channel_scale_ = _standardiser(X, (0, 2, 3), "the images")

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        if X.shape[1] != self.n_channels_:
            raise ValueError(f"the images have {X.shape[1]} channels, but {type(self).__name__} was fitted on "
                             f"{self.n_channels_}")
        return (_standardised(X, self.channel_mean_[None, :, None, None], self.channel_scale_[None, :, None, None],
                              "the images"),)

    def _module_config(self, n_outputs: int) -> dict[str, Any]:
        return {"in_channels": int(self.n_channels_), "n_outputs": n_outputs, "channels": int(self.channels),
                "blocks": int(self.blocks), "dropout": float(self.dropout)}

    def _restore(self, X: np.ndarray, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        scale, mean = self.channel_scale_[None, :, None, None], self.channel_mean_[None, :, None, None]
        images = np.asarray(inputs[0] * scale + mean)
        if self._image_shape() is None:
            return images
        return np.ascontiguousarray(images.transpose(0, 2, 3, 1).reshape(len(images), -1))  # back to rows

    def _image_shape(self) -> tuple[int, int, int] | None:
        shape = getattr(self, "image_shape", None)
        if shape is None:
            return None
        dims = tuple(int(d) for d in shape)
        if len(dims) not in (2, 3) or min(dims) < 1:
            raise ValueError(f"image_shape must be (height, width) or (height, width, channels), not {shape!r}")
        return (dims[0], dims[1], dims[2] if len(dims) == 3 else 1)


class _RNN(_TorchEstimator):
    """Sequences as (n, time steps, features) floats, or (n, time steps) for one feature; each feature
    standardised."""

    _kind = "rnn"
    cell: str
    hidden_size: int
    num_layers: int
    bidirectional: bool
    dropout: float

    def _array(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float32)
        if values.ndim == 2:
            values = values[:, :, None]
        if values.ndim != 3 or values.shape[1] == 0:
            raise ValueError(f"{type(self).__name__} expects sequences as (n, time steps, features) or "
                             f"(n, time steps), got shape {values.shape}")
        return values

    def _fit_inputs(self, X: np.ndarray) -> None:
        self.n_sequence_features_ = X.shape[2]
        self.feature_mean_, self.feature_scale_ = _standardiser(X, (0, 1), "the sequences")

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        if X.shape[2] != self.n_sequence_features_:
            raise ValueError(f"the sequences have {X.shape[2]} features per step, but {type(self).__name__} was "
                             f"fitted on {self.n_sequence_features_}")
        return (_standardised(X, self.feature_mean_, self.feature_scale_, "the sequences"),)

    def _module_config(self, n_outputs: int) -> dict[str, Any]:
        return {"n_features": int(self.n_sequence_features_), "n_outputs": n_outputs, "cell": str(self.cell),
                "hidden_size": int(self.hidden_size), "layers": int(self.num_layers),
                "bidirectional": bool(self.bidirectional), "dropout": float(self.dropout)}

    def _restore(self, X: np.ndarray, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        return np.asarray(inputs[0] * self.feature_scale_ + self.feature_mean_)


# --- the estimators --------------------------------------------------------------------------------------
# Every __init__ names its parameters (scikit-learn's get_params reads the signature) and only stores them.
# Training: lr, weight_decay (AdamW), batch_size, max_epochs, patience (early stopping, epochs), schedule
# (cosine | onecycle | constant), warmup (share of the steps), clip_norm (None: no clipping),
# validation_fraction, amp (auto | off | bfloat16 | float16), device (auto | cpu | cuda), n_jobs (torch's
# threads; None leaves torch's setting), random_state, time_budget (seconds), adversarial (None or a dict:
# method, epsilon, steps, ratio), augment (None or a dict: flip, vflip, crop, rotate, cutout, noise; the image
# operations for the CNNs only: aiforge.deep._augment). The MLPs add privacy (None or a dict: epsilon, delta,
# max_grad_norm).


def _keep(estimator: _TorchEstimator, params: dict[str, Any]) -> None:
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class MLPClassifier(_Classification, ClassifierMixin, _MLP):
    """A multilayer perceptron for tables: categorical columns (integer codes at ``categorical``) embedded,
    ``hidden_layers`` blocks of ``hidden_width`` units with batch norm (not with ``privacy``) and dropout.

    >>> import numpy as np
    >>> from aiforge.deep import MLPClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> MLPClassifier(max_epochs=20, random_state=0).fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(self, *, hidden_width: int = 128, hidden_layers: int = 2, dropout: float = 0.1,
                 batch_norm: bool = True, categorical: list[int] | None = None, max_embedding: int = 16,
                 class_weight: Any = None, lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 128,
                 max_epochs: int = 100, patience: int | None = 10, schedule: str = "cosine", warmup: float = 0.05,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None,
                 privacy: dict[str, Any] | None = None) -> None:
        _keep(self, locals())


class MLPRegressor(_Regression, RegressorMixin, _MLP):
    """A multilayer perceptron for tables, predicting a number (trained on the standardised target)."""

    def __init__(self, *, hidden_width: int = 128, hidden_layers: int = 2, dropout: float = 0.1,
                 batch_norm: bool = True, categorical: list[int] | None = None, max_embedding: int = 16,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 128, max_epochs: int = 100,
                 patience: int | None = 10, schedule: str = "cosine", warmup: float = 0.05,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None,
                 privacy: dict[str, Any] | None = None) -> None:
        _keep(self, locals())


class CNNClassifier(_Classification, ClassifierMixin, _CNN):
    """A small convolutional network for images (NCHW, or rows of pixels with ``image_shape``): ``blocks``
    blocks from ``channels`` channels."""

    def __init__(self, *, channels: int = 32, blocks: int = 2, dropout: float = 0.1, class_weight: Any = None,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 128, max_epochs: int = 100,
                 patience: int | None = 10, schedule: str = "cosine", warmup: float = 0.05,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None, image_shape: tuple[int, ...] | None = None) -> None:
        _keep(self, locals())


class CNNRegressor(_Regression, RegressorMixin, _CNN):
    """A small convolutional network for images (NCHW), predicting a number."""

    def __init__(self, *, channels: int = 32, blocks: int = 2, dropout: float = 0.1, lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 128, max_epochs: int = 100,
                 patience: int | None = 10, schedule: str = "cosine", warmup: float = 0.05,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None, image_shape: tuple[int, ...] | None = None) -> None:
        _keep(self, locals())


class RNNClassifier(_Classification, ClassifierMixin, _RNN):
    """A recurrent network (``cell``: lstm or gru) for sequences (n, time steps, features)."""

    def __init__(self, *, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, class_weight: Any = None, lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 128, max_epochs: int = 100,
                 patience: int | None = 10, schedule: str = "cosine", warmup: float = 0.05,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None) -> None:
        _keep(self, locals())


class RNNRegressor(_Regression, RegressorMixin, _RNN):
    """A recurrent network (``cell``: lstm or gru) for sequences, predicting a number."""

    def __init__(self, *, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, lr: float = 1e-3, weight_decay: float = 1e-4,
                 batch_size: int = 128, max_epochs: int = 100, patience: int | None = 10,
                 schedule: str = "cosine", warmup: float = 0.05, clip_norm: float | None = 1.0,
                 validation_fraction: float = 0.1, amp: str = "auto", device: str = "auto",
                 n_jobs: int | None = None, random_state: int = 0, time_budget: float | None = None,
                 adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None) -> None:
        _keep(self, locals())

"""What the two neural forecasters (DeepAR+ and CNN-QR) share: training windows, scaling, calendar features and
saving a torch module's weights without pickle.

Both are *global* models: one network for every series, trained on windows drawn at random from all of them, and
told which series a window comes from by a learned embedding. A window is ``history`` steps of the past (the
context the network reads, plus what its lags reach back to) and ``horizon`` steps to predict; values before a
series starts are zeros with an "observed" flag of 0. Each window is divided by its own scale (1 + the mean
absolute value of its context), so series of any magnitude share the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from models.forecast.base import SeriesSet, time_features

N_TIME_FEATURES = 7


@dataclass
class PaddedSeries:
    """A series with ``pad`` zeros in front (observed 0), its calendar features over the padded span."""

    values: np.ndarray  # float32 (pad + n,)
    observed: np.ndarray  # float32 (pad + n,)
    features: np.ndarray  # float32 (pad + n + horizon, N_TIME_FEATURES): through the future too
    pad: int


def pad_series(data: SeriesSet, pad: int, horizon: int) -> list[PaddedSeries]:
    """Every series of ``data`` padded in front by ``pad`` steps, with features running ``horizon`` steps past
    its end (the forecast steps read them too)."""
    out = []
    for series in data.series:
        n = len(series.values)
        index = pd.date_range(series.start - pad * data.offset, periods=pad + n + horizon, freq=data.offset)
        values = np.concatenate([np.zeros(pad), series.values]).astype(np.float32)
        observed = np.concatenate([np.zeros(pad), np.ones(n)]).astype(np.float32)
        out.append(PaddedSeries(values, observed, time_features(index, data.frequency, data.holiday_country), pad))
    return out


@dataclass
class Batch:
    """Windows as tensors: ``target``/``observed`` (B, history + horizon), ``features`` (B, history + horizon,
    F), ``series`` (B,) embedding indices, ``scale`` (B, 1)."""

    target: torch.Tensor
    observed: torch.Tensor
    features: torch.Tensor
    series: torch.Tensor
    scale: torch.Tensor


def window_scale(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """1 + the mean absolute observed value of each row: what a window is divided by."""
    count = np.maximum(observed.sum(axis=1), 1.0)
    return 1.0 + np.abs(values * observed).sum(axis=1) / count


class WindowSampler:
    """Draws training windows of ``history + horizon`` steps, every position of every series equally likely,
    as long as the window's forecast part lies on observed data."""

    def __init__(self, padded: list[PaddedSeries], history: int, horizon: int, scale_steps: int, seed: int) -> None:
        self.padded = padded
        self.history = history
        self.horizon = horizon
        self.scale_steps = scale_steps
        self.rng = np.random.default_rng(seed)
        # window ends (exclusive) such that the forecast part is observed: end - horizon >= pad + 1
        self.ends = [np.arange(p.pad + 1 + horizon, len(p.values) + 1) for p in padded]
        self.ends = [e[e >= history + horizon] for e in self.ends]
        sizes = np.array([len(e) for e in self.ends], dtype=np.float64)
        if sizes.sum() == 0:
            raise ValueError("series are too short for a single training window")
        self.weights = sizes / sizes.sum()

    def sample(self, batch_size: int) -> Batch:
        which = self.rng.choice(len(self.padded), size=batch_size, p=self.weights)
        length = self.history + self.horizon
        target = np.empty((batch_size, length), dtype=np.float32)
        observed = np.empty((batch_size, length), dtype=np.float32)
        features = np.empty((batch_size, length, N_TIME_FEATURES), dtype=np.float32)
        for row, index in enumerate(which):
            series = self.padded[index]
            end = int(self.rng.choice(self.ends[index]))
            target[row] = series.values[end - length : end]
            observed[row] = series.observed[end - length : end]
            features[row] = series.features[end - length : end]
        context = slice(self.history - self.scale_steps, self.history)
        scale = window_scale(target[:, context], observed[:, context]).astype(np.float32)
        return Batch(
            torch.from_numpy(target / scale[:, None]),
            torch.from_numpy(observed),
            torch.from_numpy(features),
            torch.from_numpy(which.astype(np.int64)),
            torch.from_numpy(scale[:, None]),
        )


def last_window(padded: PaddedSeries, history: int, horizon: int, scale_steps: int) -> tuple[np.ndarray, ...]:
    """The newest ``history`` steps of a padded series (its forecast starts right after them), their observed
    flags, the features of history + horizon steps, and the scale."""
    n = len(padded.values)
    target = padded.values[n - history :]
    observed = padded.observed[n - history :]
    features = padded.features[n - history : n + horizon]
    scale = window_scale(target[None, history - scale_steps :], observed[None, history - scale_steps :])
    return target, observed, features, scale


def state_arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A module's weights as named numpy arrays (saved in ``.npz``; no pickle)."""
    return {f"w.{name}": tensor.detach().cpu().numpy() for name, tensor in module.state_dict().items()}


def load_state_arrays(module: torch.nn.Module, arrays: dict[str, np.ndarray]) -> None:
    module.load_state_dict({name[2:]: torch.from_numpy(np.array(value)) for name, value in arrays.items()})


def train_loop(
    module: torch.nn.Module,
    loss_of: object,
    sampler: WindowSampler,
    batches: int,
    batch_size: int,
    learning_rate: float,
) -> list[float]:
    """Adam over ``batches`` random batches, gradient norm clipped at 10; returns the loss of each batch."""
    optimiser = torch.optim.Adam(module.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(batches, 1))
    losses = []
    module.train()
    for _ in range(batches):
        batch = sampler.sample(batch_size)
        loss = loss_of(batch)  # type: ignore[operator]
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 10.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    module.eval()
    return losses

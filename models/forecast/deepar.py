"""DeepAR+: an autoregressive recurrent network (Salinas et al., 2020; Forecast's ``Deep_AR_Plus``), in torch.

Global over all series: at each step an LSTM reads the previous values at a few lags (1, 2, 3, one and two
seasons back, and a week back for sub-daily data), the calendar features (with the holiday flag), the series'
embedding and the window's log scale, and outputs a normal distribution for the next value (in scaled units).
Training maximises the likelihood of random windows (teacher forcing over context and forecast steps); a
forecast draws ``num_samples`` paths step by step, each drawn value fed back as the next input. The mean and
quantiles are the paths' mean and empirical quantiles.

gluonts' and pytorch-forecasting's DeepAR would bring Lightning (and gluonts requires pandas<3); the model is
short, and owning it keeps training on two CPU cores to a fixed number of batches with no framework overhead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from models.forecast.base import SEASONALITY, Forecaster, ForecasterParams, Prediction, SeriesSet
from models.forecast.neural import (
    N_TIME_FEATURES,
    Batch,
    WindowSampler,
    last_window,
    load_state_arrays,
    pad_series,
    state_arrays,
    train_loop,
)


class DeepArParams(ForecasterParams):
    context_length: int | None = Field(
        default=None, ge=1, description="Steps the LSTM unrolls over before the forecast; default twice the horizon."
    )
    hidden_size: int = Field(default=40, ge=4, le=512)
    num_layers: int = Field(default=2, ge=1, le=4)
    embedding_size: int = Field(default=4, ge=1, le=64)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    batches: int = Field(default=600, ge=1, description="Training batches (a fixed budget, not epochs).")
    batch_size: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=3e-3, gt=0.0)
    num_samples: int = Field(default=200, ge=10, description="Sample paths per series at prediction.")


def lags_for(frequency: str) -> list[int]:
    """Previous values the network reads at each step."""
    season = SEASONALITY[frequency]
    lags = {1, 2, 3, season, 2 * season}
    if frequency in {"H", "30min", "15min", "10min", "5min"}:
        lags.add(7 * season)
    return sorted(lag for lag in lags if lag >= 1)


class _DeepArNet(nn.Module):
    def __init__(self, n_series: int, n_lags: int, params: DeepArParams) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_series, params.embedding_size)
        width = n_lags + N_TIME_FEATURES + params.embedding_size + 1
        self.rnn = nn.LSTM(
            width,
            params.hidden_size,
            params.num_layers,
            batch_first=True,
            dropout=params.dropout if params.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(params.hidden_size, 2)

    def step_inputs(
        self, lagged: torch.Tensor, features: torch.Tensor, series: torch.Tensor, scale: torch.Tensor
    ) -> torch.Tensor:
        steps = lagged.shape[1]
        static = torch.cat([self.embedding(series), torch.log(scale)], dim=1)
        return torch.cat([lagged, features, static[:, None, :].expand(-1, steps, -1)], dim=2)

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        output, state = self.rnn(inputs, state)
        raw = self.head(output)
        return raw[..., 0], nn.functional.softplus(raw[..., 1]) + 1e-4, state


def _lagged(target: torch.Tensor, lags: list[int], first: int, steps: int) -> torch.Tensor:
    """(B, steps, len(lags)): for positions first..first+steps-1 of ``target``, the values ``lag`` steps back."""
    return torch.stack([target[:, first - lag : first - lag + steps] for lag in lags], dim=2)


class DeepArPlus(Forecaster):
    algorithm = "Deep_AR_Plus"
    params_class = DeepArParams
    params: DeepArParams

    def __init__(self, params: Any = None, seed: int = 0) -> None:
        super().__init__(params, seed)
        self.series_index_: dict[str, int] = {}
        self.net_: _DeepArNet | None = None
        self.losses_: list[float] = []

    def _geometry(self) -> tuple[list[int], int, int]:
        lags = lags_for(str(self.frequency_))
        context = self.params.context_length or 2 * int(self.horizon_ or 1)
        return lags, context, max(lags)

    def _fit(self, data: SeriesSet) -> None:
        torch.manual_seed(self.seed)
        lags, context, max_lag = self._geometry()
        horizon = int(self.horizon_ or 1)
        self.series_index_ = {s.id: i for i, s in enumerate(data.series)}
        self.net_ = _DeepArNet(len(data.series), len(lags), self.params)
        padded = pad_series(data, max_lag + context, horizon)
        sampler = WindowSampler(padded, max_lag + context, horizon, context, self.seed)
        net = self.net_

        def loss_of(batch: Batch) -> torch.Tensor:
            steps = context + horizon
            inputs = net.step_inputs(
                _lagged(batch.target, lags, max_lag, steps),
                batch.features[:, max_lag:],
                batch.series,
                batch.scale,
            )
            mu, sigma, _ = net(inputs)
            truth = batch.target[:, max_lag:]
            nll = torch.distributions.Normal(mu, sigma).log_prob(truth).neg()
            weight = batch.observed[:, max_lag:]
            return (nll * weight).sum() / weight.sum().clamp(min=1.0)

        self.losses_ = train_loop(
            net, loss_of, sampler, self.params.batches, self.params.batch_size, self.params.learning_rate
        )

    @torch.no_grad()
    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]:
        assert self.net_ is not None
        lags, context_length, max_lag = self._geometry()
        history = max_lag + context_length
        generator = torch.Generator().manual_seed(self.seed)
        samples = self.params.num_samples
        out = {}
        for series, padded in zip(context.series, pad_series(context, history, horizon), strict=True):
            if series.id not in self.series_index_:
                raise ValueError(f"Deep_AR_Plus: series {series.id!r} was not in the data it was fitted on")
            target, _, features, scale = last_window(padded, history, horizon, context_length)
            buffer = torch.zeros(samples, history + horizon)
            buffer[:, :history] = torch.from_numpy(target / scale[0])
            feats = torch.from_numpy(features)[None].expand(samples, -1, -1)
            index = torch.full((samples,), self.series_index_[series.id], dtype=torch.long)
            scale_t = torch.full((samples, 1), float(scale[0]))
            warm = self.net_.step_inputs(
                _lagged(buffer, lags, max_lag, context_length), feats[:, max_lag:history], index, scale_t
            )
            _, _, state = self.net_(warm)
            for step in range(horizon):
                position = history + step
                inputs = self.net_.step_inputs(
                    _lagged(buffer, lags, position, 1), feats[:, position : position + 1], index, scale_t
                )
                mu, sigma, state = self.net_(inputs, state)
                noise = torch.randn(samples, generator=generator)
                buffer[:, position] = mu[:, 0] + sigma[:, 0] * noise
            paths = buffer[:, history:].numpy().astype(np.float64) * float(scale[0])
            out[series.id] = Prediction(
                mean=paths.mean(axis=0), quantiles={q: np.quantile(paths, q, axis=0) for q in quantiles}
            )
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self.net_ is not None
        return {"series_index": self.series_index_}, state_arrays(self.net_)

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.series_index_ = {k: int(v) for k, v in state["series_index"].items()}
        lags = lags_for(str(self.frequency_))
        self.net_ = _DeepArNet(len(self.series_index_), len(lags), self.params)
        load_state_arrays(self.net_, arrays)
        self.net_.eval()

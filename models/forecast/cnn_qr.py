"""CNN-QR: a convolutional sequence-to-sequence quantile regressor (Forecast's ``CNN_QR``, after MQ-CNN, Wen et
al. 2017), in torch.

An encoder of causal dilated convolutions reads the context (scaled values, observed flags, calendar features
with the holiday flag); its last state, the series' embedding and each future step's calendar features and
position feed a small decoder that outputs, for every step of the horizon at once, a grid of quantiles and a
mean. Training minimises the pinball loss over the grid (and the squared error of the mean) on random windows.
Any quantile in 0.01-0.99 is read off the grid by linear interpolation between its sorted values.

CNN-QR is Amazon's own and no library ships it; MQ-CNN lived in gluonts' MXNet side, which is gone. It learns one
horizon: it forecasts at most the horizon it was fitted for.
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

QUANTILE_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


class CnnQrParams(ForecasterParams):
    context_length: int | None = Field(
        default=None, ge=1, description="Steps the encoder reads; default a week of seasons or four horizons."
    )
    channels: int = Field(default=32, ge=4, le=256)
    dilations: tuple[int, ...] = Field(default=(1, 2, 4, 8, 16, 32), min_length=1)
    decoder_size: int = Field(default=64, ge=4, le=1024)
    embedding_size: int = Field(default=4, ge=1, le=64)
    batches: int = Field(default=800, ge=1, description="Training batches (a fixed budget, not epochs).")
    batch_size: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=3e-3, gt=0.0)


class _CausalConv(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, dilation: int) -> None:
        super().__init__()
        self.pad = dilation
        self.conv = nn.Conv1d(channels_in, channels_out, kernel_size=2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(nn.functional.pad(x, (self.pad, 0))))


class _CnnQrNet(nn.Module):
    def __init__(self, n_series: int, horizon: int, params: CnnQrParams) -> None:
        super().__init__()
        self.horizon = horizon
        layers: list[nn.Module] = []
        width = 2 + N_TIME_FEATURES
        for dilation in params.dilations:
            layers.append(_CausalConv(width, params.channels, dilation))
            width = params.channels
        self.encoder = nn.Sequential(*layers)
        self.embedding = nn.Embedding(n_series, params.embedding_size)
        decoder_in = params.channels + params.embedding_size + 1 + N_TIME_FEATURES + horizon
        self.decoder = nn.Sequential(
            nn.Linear(decoder_in, params.decoder_size),
            nn.ReLU(),
            nn.Linear(params.decoder_size, params.decoder_size),
            nn.ReLU(),
            nn.Linear(params.decoder_size, len(QUANTILE_GRID) + 1),
        )

    def forward(
        self,
        target: torch.Tensor,
        observed: torch.Tensor,
        past_features: torch.Tensor,
        future_features: torch.Tensor,
        series: torch.Tensor,
        scale: torch.Tensor,
    ) -> torch.Tensor:
        """(B, horizon, len(QUANTILE_GRID) + 1): the quantile grid, then the mean, in scaled units."""
        encoded = self.encoder(
            torch.cat([target[..., None], observed[..., None], past_features], dim=2).transpose(1, 2)
        )
        last = encoded[:, :, -1]
        static = torch.cat([last, self.embedding(series), torch.log(scale)], dim=1)
        batch = target.shape[0]
        position = torch.eye(self.horizon)[None].expand(batch, -1, -1)
        inputs = torch.cat([static[:, None, :].expand(-1, self.horizon, -1), future_features, position], dim=2)
        return self.decoder(inputs)


class CnnQr(Forecaster):
    algorithm = "CNN_QR"
    params_class = CnnQrParams
    params: CnnQrParams
    any_horizon = False

    def __init__(self, params: Any = None, seed: int = 0) -> None:
        super().__init__(params, seed)
        self.series_index_: dict[str, int] = {}
        self.net_: _CnnQrNet | None = None
        self.losses_: list[float] = []

    def _context(self) -> int:
        season = SEASONALITY[str(self.frequency_)]
        return self.params.context_length or min(max(4 * int(self.horizon_ or 1), 7 * season), 512)

    def _fit(self, data: SeriesSet) -> None:
        torch.manual_seed(self.seed)
        horizon = int(self.horizon_ or 1)
        context = self._context()
        self.series_index_ = {s.id: i for i, s in enumerate(data.series)}
        self.net_ = _CnnQrNet(len(data.series), horizon, self.params)
        sampler = WindowSampler(pad_series(data, context, horizon), context, horizon, context, self.seed)
        grid = torch.tensor(QUANTILE_GRID)
        net = self.net_

        def loss_of(batch: Batch) -> torch.Tensor:
            out = net(
                batch.target[:, :context],
                batch.observed[:, :context],
                batch.features[:, :context],
                batch.features[:, context:],
                batch.series,
                batch.scale,
            )
            truth = batch.target[:, context:, None]
            weight = batch.observed[:, context:]
            error = truth - out[..., :-1]
            pinball = torch.maximum(grid * error, (grid - 1.0) * error).mean(dim=2)
            squared = (truth[..., 0] - out[..., -1]) ** 2
            return ((pinball + 0.5 * squared) * weight).sum() / weight.sum().clamp(min=1.0)

        self.losses_ = train_loop(
            net, loss_of, sampler, self.params.batches, self.params.batch_size, self.params.learning_rate
        )

    @torch.no_grad()
    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]:
        assert self.net_ is not None
        fitted = int(self.horizon_ or horizon)
        length = self._context()
        out = {}
        for series, padded in zip(context.series, pad_series(context, length, fitted), strict=True):
            if series.id not in self.series_index_:
                raise ValueError(f"CNN_QR: series {series.id!r} was not in the data it was fitted on")
            target, observed, features, scale = last_window(padded, length, fitted, length)
            raw = self.net_(
                torch.from_numpy(target / scale[0])[None],
                torch.from_numpy(observed)[None],
                torch.from_numpy(features[:length])[None],
                torch.from_numpy(features[length:])[None],
                torch.tensor([self.series_index_[series.id]]),
                torch.tensor([[float(scale[0])]]),
            )[0].numpy().astype(np.float64) * float(scale[0])
            grid = np.sort(raw[:horizon, :-1], axis=1)
            out[series.id] = Prediction(
                mean=raw[:horizon, -1],
                quantiles={q: np.array([np.interp(q, QUANTILE_GRID, row) for row in grid]) for q in quantiles},
            )
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self.net_ is not None
        return {"series_index": self.series_index_}, state_arrays(self.net_)

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.series_index_ = {k: int(v) for k, v in state["series_index"].items()}
        self.net_ = _CnnQrNet(len(self.series_index_), int(self.horizon_ or 1), self.params)
        load_state_arrays(self.net_, arrays)
        self.net_.eval()

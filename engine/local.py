"""The parts of the network that look at the picture where each query point projects.

- CameraHead: the prepared image's camera (engine.camera.ImageCamera) from the encoder's pooled
  features and, with a trunk (`camera_trunk` > 0), a small CNN of its own on the picture.
- PixelFeatures: the encoder's stem, layer1, layer2 and layer3 maps, each mapped to the same
  channels by a 1x1 convolution, upsampled to the stem's resolution (half the image's) and summed:
  one map that holds fine detail (a chair leg two pixels wide) and context together, so a query
  samples it once.
- LocalDecoder: a small fully connected stream on what a point sees -- the feature map and the
  picture itself, sampled bilinearly where the point projects -- plus the point's own features and
  its depth along the view. Its logit is added to the global decoder's (DISN's two streams): the
  global stream knows the category and fills in the unseen sides, the local one draws the thin
  parts and holes the picture shows.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .camera import VECTOR_SIZE, ImageCamera, mask_agreement
from .frame import node_grid
from .model import centred, frequency_scales, leaky_tail, point_feature_width, point_features

POOLED_CHANNELS = 512  # ResNet18's layer4


class CameraTrunk(nn.Module):
    """A small CNN of the camera head's own: the picture -> its 4x4 map at 8 x `width` channels,
    flattened. The encoder's pooled features are trained for the shape and have lost where things
    are in the picture; a trunk trained on the camera alone keeps the layout (the flattened map,
    not a pooled one) and can learn it on a frozen encoder, so a pixel-aligned stream can be grown
    onto a global model without changing it."""

    def __init__(self, width: int, channels: int):
        super().__init__()

        def conv(a, b, stride, kernel=3):
            return [nn.Conv2d(a, b, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]

        layers = conv(channels, width, 2, kernel=5)
        widths = [width, 2 * width, 4 * width, 8 * width, 8 * width]   # at S/2, S/4, S/8, S/16, S/32
        for a, b in zip(widths[:-1], widths[1:]):
            layers += conv(a, b, 2) + conv(b, b, 1)
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.out_features = widths[-1] * 16

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(centred(images))


class CameraHead(nn.Module):
    """The encoder's pooled features -> raw outputs, read as an ImageCamera by `vector` / `camera`.

    `bins` > 0: the azimuth is a class among `bins` sectors (each centred on a multiple of 360 /
    bins degrees) plus an offset within each. Many objects look alike from several sides (a
    rectangular table from the front and the back, a round one from anywhere): a class gives each
    such view its own peak and the most likely one is a camera consistent with the picture, where
    regressing sin/cos averages the views into none of them (tables were 90 degrees off). `bins`
    0: sin/cos regression, as in checkpoints made before the bins."""

    def __init__(self, bins: int = 0, hidden: int = 256, trunk: int = 0, image_channels: int = 4):
        super().__init__()
        self.bins = bins
        outputs = VECTOR_SIZE if bins == 0 else 2 * bins + VECTOR_SIZE - 2
        self.trunk = CameraTrunk(trunk, image_channels) if trunk > 0 else None
        inputs = POOLED_CHANNELS + (self.trunk.out_features if self.trunk is not None else 0)
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))
        # start at a typical camera of the training renders: front, 25 degrees up, distance 3.3, focal 6.4
        rest = [0.44, 1.2, 1.85, 0.0, 0.0]
        with torch.no_grad():
            self.net[-1].weight.mul_(0.01)
            self.net[-1].bias.copy_(torch.tensor([0.0, 1.0] + rest if bins == 0 else [0.0] * (2 * bins) + rest))

    def forward(self, pooled: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """pooled [B, 512], images [B, C, S, S] (used by a trunk only) -> raw outputs
        [B, VECTOR_SIZE] (sin/cos) or [B, 2 bins + 5]: azimuth logits, offsets within each sector
        (in sectors), then the rest of ImageCamera.to_vector."""
        if self.trunk is not None:
            pooled = torch.cat([pooled, self.trunk(images).to(pooled.dtype)], -1)
        return self.net(pooled)

    def vector(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw outputs -> camera vectors [B, 7] (see ImageCamera.to_vector): the most likely sector."""
        if self.bins == 0:
            return raw
        raw = raw.float()
        return self._vector_in(raw, raw[:, :self.bins].argmax(-1, keepdim=True))

    def _vector_in(self, raw: torch.Tensor, sector: torch.Tensor) -> torch.Tensor:
        """Binned raw outputs -> camera vectors [B, 7], the azimuth read in `sector` [B, 1]."""
        offset = raw[:, self.bins:2 * self.bins].gather(1, sector).clamp(-0.5, 0.5)
        azimuth = (sector + offset) * (2 * math.pi / self.bins)
        return torch.cat([torch.sin(azimuth), torch.cos(azimuth), raw[:, 2 * self.bins:]], -1)

    def camera(self, raw: torch.Tensor) -> ImageCamera:
        return ImageCamera.from_vector(self.vector(raw))

    def loss(self, raw: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        """Raw outputs against true camera vectors [B, 7]. Sin/cos: mean squared error of the vectors
        (all of order one). Bins: the azimuth's cross-entropy against a soft label (a circular
        Gaussian of one sector's width around the true azimuth, less its entropy, so a perfect
        head scores 0), the squared offset error in the true sector and the rest's mean squared
        error."""
        raw, true = raw.float(), true.float()
        if self.bins == 0:
            return F.mse_loss(raw, true)
        position, nearest, sector = self._true_sector(true)
        offset = raw[:, self.bins:2 * self.bins].gather(1, sector).squeeze(-1)
        sectors = torch.arange(self.bins, device=raw.device, dtype=raw.dtype)
        apart = torch.remainder(sectors - position.unsqueeze(-1) + self.bins / 2, self.bins) - self.bins / 2
        label = torch.softmax(-0.5 * apart.pow(2), -1)
        log_p = torch.log_softmax(raw[:, :self.bins], -1)
        azimuth = (label * (label.clamp(min=1e-12).log() - log_p)).sum(-1).mean()
        offset_error = (offset - (position - nearest)).pow(2).mean()
        return azimuth + offset_error + F.mse_loss(raw[:, 2 * self.bins:], true[:, 2:])

    def _true_sector(self, true: torch.Tensor):
        """Binned heads: the true azimuth in sectors [B], the nearest sector's centre [B] (rounded,
        not wrapped) and that sector's index [B, 1]."""
        position = torch.atan2(true[:, 0], true[:, 1]) * (self.bins / (2 * math.pi))
        nearest = torch.round(position)
        return position, nearest, torch.remainder(nearest, self.bins).long().unsqueeze(-1)

    def projection_loss(self, raw: torch.Tensor, true: torch.Tensor, points: torch.Tensor,
                        inside: torch.Tensor) -> torch.Tensor:
        """Mean squared distance in the image between where the shape's inside points [B, N, 3]
        (`inside` [B, N] > 0.5) fall under the head's camera and under the true one [B, 7]. It
        judges elevation, distance, focal length and origin together by what the local stream
        needs from them, a point landing on its own pixel: distance and focal length trade against
        each other in a cropped picture, and a leg two pixels wide is missed by an elevation a few
        degrees off. Binned heads are read in the true azimuth's sector (the classification is the
        cross-entropy's job), so only the offset and the rest are judged here."""
        raw, true = raw.float(), true.float()
        vector = raw if self.bins == 0 else self._vector_in(raw, self._true_sector(true)[2])
        points = points.float()
        seen, _ = ImageCamera.from_vector(vector).project(points)
        truth, _ = ImageCamera.from_vector(true).project(points)
        weight = (inside > 0.5).float()
        error = (seen - truth).pow(2).sum(-1)
        return ((error * weight).sum(-1) / weight.sum(-1).clamp(min=1.0)).mean()


class PixelFeatures(nn.Module):
    def __init__(self, in_channels: tuple[int, ...], channels: int, leaky_slope: float):
        super().__init__()
        self.maps = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.slope = leaky_slope

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        size = maps[0].shape[-2:]
        out = self.maps[0](maps[0])
        for conv, m in zip(self.maps[1:], maps[1:]):
            out = out + F.interpolate(conv(m), size=size, mode="bilinear", align_corners=False)
        return F.leaky_relu(out, self.slope)


def sample_at(maps: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """maps [B, C, H, W] at image positions [B, N, 2] (grid_sample's, -1..1) -> [B, N, C]; zero
    outside the image."""
    return _bilinear(maps, positions.unsqueeze(2).to(maps.dtype)).squeeze(-1).transpose(1, 2)


def sample_columns(maps: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """One map [1, C, H, W] at grid_sample positions [1, N, 1, 2] -> [C, N]; zero outside."""
    return _bilinear(maps, grid)[0, :, :, 0]


def _bilinear(maps: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class LocalDecoder(nn.Module):
    """(what a point sees, its features, its depth) -> a logit added to the global decoder's."""

    def __init__(self, seen_channels: int, hidden: list[int], leaky_slope: float, point_frequencies: int):
        super().__init__()
        self.register_buffer("scales", frequency_scales(point_frequencies), persistent=False)
        self.seen = seen_channels
        widths = [seen_channels + point_feature_width(point_frequencies) + 1] + list(hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], 1)
        with torch.no_grad():  # starts silent: at first the model is the global one it may be initialised from
            self.out.weight.zero_()
            self.out.bias.zero_()
        self.slope = leaky_slope

    def _own(self, points: torch.Tensor, camera: ImageCamera) -> tuple[torch.Tensor, torch.Tensor]:
        """(image positions, the point's own inputs: point features and depth relative to the origin)."""
        positions, depth = camera.project(points)
        relative = (depth - camera.distance.to(depth.dtype).unsqueeze(-1)).unsqueeze(-1)
        return positions, torch.cat([point_features(points, self.scales.to(points.dtype)), relative], -1)

    def forward(self, features: torch.Tensor, images: torch.Tensor, points: torch.Tensor,
                camera: ImageCamera) -> torch.Tensor:
        """features [B, C, H, W], images [B, 4, S, S], points [B, N, 3] -> logits [B, N]."""
        positions, own = self._own(points, camera)
        seen = torch.cat([sample_at(features, positions), sample_at(images, positions)], -1)
        h = self.layers[0](torch.cat([seen, own.to(seen.dtype)], -1))
        return leaky_tail(h, [*self.layers[1:], self.out], self.slope)

    def point_fn(self, features: torch.Tensor, images: torch.Tensor, camera: ImageCamera,
                 dtype: torch.dtype | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """For one image: points [M, 3] -> logits [M]. The first layer's part on the feature map
        is applied to the map once (sampling is linear, so sampling the projected map is exact);
        the picture's few channels are sampled as they are and join the point's own inputs in one
        matrix product. The layers run on [channels, points] columns, the layout grid_sample
        writes, so no sample is transposed or added with a stride."""
        dtype = dtype or self.out.weight.dtype
        first = self.layers[0]
        c = features.shape[1]
        w_seen, w_own = first.weight[:, :self.seen], first.weight[:, self.seen:]
        projected = F.conv2d(features, w_seen[:, :c, None, None]).to(dtype)
        picture = images.to(dtype)
        w_first = torch.cat([w_own, w_seen[:, c:]], 1).to(dtype)     # on [own inputs; picture]
        bias = first.bias.to(dtype)[:, None]
        layers = [(m.weight.to(dtype), m.bias.to(dtype)[:, None]) for m in [*self.layers[1:], self.out]]
        slope = self.slope

        def evaluate(points: torch.Tensor) -> torch.Tensor:
            positions, own = self._own(points[None].float(), camera)
            grid = positions.unsqueeze(2).to(dtype)
            inputs = torch.cat([own[0].to(dtype).t(), sample_columns(picture, grid)], 0)
            h = torch.addmm(sample_columns(projected, grid), w_first, inputs).add_(bias)
            for weight, layer_bias in layers:
                h = torch.addmm(layer_bias, weight, F.leaky_relu(h, slope, inplace=True))
            return h[0].float()

        return evaluate


OUTSIDE_LOGIT = -8.0  # what a carved point gets: clearly outside, without infinities in the mesher


def silhouette_fn(mask: torch.Tensor, camera: ImageCamera, grow: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """(points [M, 3], logits [M]) -> logits with the points outside the grown mask [1, 1, S, S]
    made outside: what the picture shows as background is not the object."""
    grown = F.max_pool2d(mask.float(), 2 * grow + 1, stride=1, padding=grow)

    def carve(points: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        positions, _ = camera.project(points[None].float())
        seen = sample_at(grown, positions)[0, :, 0]
        return torch.where(seen < 0.5, torch.clamp(logits, max=OUTSIDE_LOGIT), logits)

    return carve


# camera_agreement projects the inside nodes of a GATE_GRID^3 grid onto GATE_PIXELS^2 pixels: the
# nodes land closer together than the pixels, so a right camera covers the mask without holes
GATE_GRID, GATE_PIXELS = 48, 32


def camera_agreement(global_fn: Callable[[torch.Tensor], torch.Tensor], mask: torch.Tensor,
                     camera: ImageCamera) -> float:
    """mask_agreement of the global stream's coarse inside nodes with the picture's mask [S, S]
    (0 when the global stream sees nothing inside)."""
    nodes = node_grid(GATE_GRID, device=mask.device)
    inside = nodes[global_fn(nodes) > 0]
    return mask_agreement(inside, camera, mask, GATE_PIXELS) if len(inside) else 0.0


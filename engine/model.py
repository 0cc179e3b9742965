"""The network: a ResNet18 image encoder and an IM-NET style implicit occupancy decoder, and, when
the config asks for them (`local_features` > 0), a camera head and a second decoder stream that
sees the picture where each query point projects (pixel-aligned features, as in DISN)."""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .camera import ImageCamera

DEFAULT_CONFIG = {
    "architecture": "imdec-resnet18-imnet",
    "latent_dim": 128,
    "image_size": 128,
    "image_channels": 4,  # premultiplied RGB + alpha (the object mask)
    "decoder_hidden": [256, 256, 128, 128, 64],
    "leaky_slope": 0.02,
    # sin/cos of the point at 2^0..2^(n-1) x pi next to xyz: plain xyz makes a fully connected
    # decoder slow to learn thin parts (legs, wings, poles); 0 is the original IM-NET input
    "point_frequencies": 4,
    # channels of the pixel-aligned feature map the local stream samples (0: the global-only
    # IM-NET model, which recognises its catalogue but drops thin parts and unseen shapes)
    "local_features": 0,
    "local_hidden": [128, 128, 64],
    # azimuth sectors the camera head classifies among (0: it regresses sin/cos, which averages
    # the views of objects that look alike from several sides)
    "camera_bins": 24,
    # width of the camera head's own CNN on the picture (0: the head reads the encoder's pooled
    # features alone, which lose where things are in the picture)
    "camera_trunk": 0,
    # the local stream is left out of a picture whose camera puts the global stream's shape on
    # less than this share of the mask (local.camera_agreement; 0: never); tools/calibrate_camera_gate.py
    "camera_gate": 0.0,
}

# checkpoints written before a config key existed were made with these values
LEGACY_CONFIG = {"point_frequencies": 0, "local_features": 0, "camera_bins": 0, "camera_trunk": 0}


def make_config(**overrides) -> dict:
    """The default config with `overrides`; for a stored checkpoint use `stored_config`."""
    unknown = set(overrides) - set(DEFAULT_CONFIG)
    if unknown:
        raise ValueError(f"unknown model config keys: {sorted(unknown)}")
    config = dict(DEFAULT_CONFIG)
    config.update(overrides)
    config["decoder_hidden"] = [int(w) for w in config["decoder_hidden"]]
    config["local_hidden"] = [int(w) for w in config["local_hidden"]]
    return config


def stored_config(config: dict) -> dict:
    """A checkpoint's config, with the values of its time for keys added since."""
    return make_config(**{**LEGACY_CONFIG, **config})


def point_feature_width(frequencies: int) -> int:
    return 3 + 6 * frequencies


def frequency_scales(frequencies: int) -> torch.Tensor:
    """The octaves of the point features: 2^0..2^(n-1) x pi."""
    return (2.0 ** torch.arange(frequencies, dtype=torch.float32)) * math.pi


def point_features(points: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """[..., 3] -> [..., 3 + 6 * len(scales)]: xyz, then sin and cos of xyz at each scale."""
    if len(scales) == 0:
        return points
    angles = (points.unsqueeze(-1) * scales).flatten(-2)
    return torch.cat([points, angles.sin(), angles.cos()], -1)


def centred(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1], so that untrained batch-norm statistics start sensibly."""
    return images * 2.0 - 1.0


class ImageEncoder(nn.Module):
    """torchvision's ResNet18 (untrained; nothing is downloaded) mapping an image to a latent z."""

    def __init__(self, latent_dim: int, channels: int):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=latent_dim)
        if channels != 3:
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(centred(images))

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """(z [B, D], feature maps [stem at S/2, layer1 at S/4, layer2 at S/8, layer3 at S/16],
        pooled layer4 features [B, 512]): the same z as forward()."""
        n = self.net
        stem = n.relu(n.bn1(n.conv1(centred(images))))
        l1 = n.layer1(n.maxpool(stem))
        l2 = n.layer2(l1)
        l3 = n.layer3(l2)
        pooled = torch.flatten(n.avgpool(n.layer4(l3)), 1)
        return n.fc(pooled), [stem, l1, l2, l3], pooled


ENCODER_MAP_CHANNELS = (64, 64, 128, 256)  # ResNet18's stem, layer1, layer2, layer3


def leaky_tail(h: torch.Tensor, layers, slope: float, inplace: bool = False) -> torch.Tensor:
    """The rest of a fully connected decoder after its first layer: leaky ReLU of `h`, each of
    `layers` (modules or functions) with a leaky ReLU but the last, one logit per row. `inplace`
    (inference only, `h` is overwritten): no new buffer per activation, less memory traffic."""
    h = F.leaky_relu(h, slope, inplace=inplace)
    for layer in layers[:-1]:
        h = F.leaky_relu(layer(h), slope, inplace=inplace)
    return layers[-1](h).squeeze(-1)


def cast_layers(layers, dtype: torch.dtype) -> list:
    """Linear layers as functions with their weights taken once in `dtype` (not on every call)."""
    return [partial(F.linear, weight=layer.weight.to(dtype), bias=layer.bias.to(dtype)) for layer in layers]


class ImplicitDecoder(nn.Module):
    """Fully connected occupancy decoder: (z, xyz) -> logit, inside where the logit is positive."""

    def __init__(self, latent_dim: int, hidden: list[int], leaky_slope: float, point_frequencies: int = 0):
        super().__init__()
        # not in the state dict: derived from the config
        self.register_buffer("scales", frequency_scales(point_frequencies), persistent=False)
        self.point_width = point_feature_width(point_frequencies)  # first-layer inputs from the point; the rest are z
        widths = [self.point_width + latent_dim] + list(hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], 1)
        self.latent_dim = latent_dim
        self.slope = leaky_slope

    def forward(self, z: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """z [B, D], points [B, N, 3] -> logits [B, N]."""
        first, k = self.layers[0], self.point_width
        # the z part of the first layer once per shape, not once per point
        shape_bias = F.linear(z, first.weight[:, k:], first.bias).unsqueeze(1)
        h = F.linear(point_features(points, self.scales.to(points.dtype)), first.weight[:, :k]) + shape_bias
        return leaky_tail(h, [*self.layers[1:], self.out], self.slope)

    def point_fn(self, z: torch.Tensor, dtype: torch.dtype | None = None,
                 int8: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
        """Bind one latent z [D] and return points [M, 3] -> float32 logits [M] for grid extraction.

        The weights are taken once, in `dtype` if given (float16 on a GPU halves memory traffic;
        grid coordinates stay exact enough in float16 up to 1024^3 cells). `int8`: the layers after
        the first with dynamically quantised int8 weights (CPU only; `python -m engine bench
        --int8` measures what it gains and how far its mesh moves)."""
        dtype = dtype or self.out.weight.dtype
        first, k, scales = self.layers[0], self.point_width, self.scales.to(dtype)
        w_point = first.weight[:, :k].to(dtype).t().contiguous()
        shape_bias = F.linear(z.reshape(1, -1).to(first.weight.dtype), first.weight[:, k:], first.bias).to(dtype)
        layers = list(self.layers[1:]) + [self.out]
        if int8:
            from torch.ao.quantization import quantize_dynamic

            layers = list(quantize_dynamic(nn.Sequential(*layers), {nn.Linear}, dtype=torch.qint8))
        else:
            layers = cast_layers(layers, dtype)
        slope = self.slope

        def evaluate(points: torch.Tensor) -> torch.Tensor:
            h = torch.addmm(shape_bias, point_features(points.to(dtype), scales), w_point)
            return leaky_tail(h, layers, slope, inplace=True).float()

        return evaluate


class IMDecNet(nn.Module):
    """Image -> occupancy logits at query points. Global-only (`local_features` 0): the IM-NET
    decoder on z. Otherwise the sum of that and a local stream on pixel-aligned features, with the
    camera that places the points in the picture predicted by a camera head."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = make_config(**config)
        c = self.config
        self.encoder = ImageEncoder(c["latent_dim"], c["image_channels"])
        self.decoder = ImplicitDecoder(c["latent_dim"], c["decoder_hidden"], c["leaky_slope"], c["point_frequencies"])
        self.local = None
        if c["local_features"] > 0:
            from .local import CameraHead, LocalDecoder, PixelFeatures

            self.camera_head = CameraHead(c["camera_bins"], trunk=c["camera_trunk"], image_channels=c["image_channels"])
            self.pixel_features = PixelFeatures(ENCODER_MAP_CHANNELS, c["local_features"], c["leaky_slope"])
            self.local = LocalDecoder(c["local_features"] + c["image_channels"], c["local_hidden"],
                                      c["leaky_slope"], c["point_frequencies"])

    def forward(self, images: torch.Tensor, points: torch.Tensor, camera=None, with_camera: bool = False):
        """Logits [B, N] (and the camera head's raw outputs, or None, with_camera). `camera`: what
        places the points in the images: None for the predicted camera, or a function of the
        predicted camera vectors [B, 7] that returns an ImageCamera (training mixes in the true one)."""
        logits, predicted = self.predict(images, points, camera)
        return (logits, predicted) if with_camera else logits

    def predict(self, images: torch.Tensor, points: torch.Tensor, camera=None):
        """(logits [B, N], the camera head's raw outputs or None); `camera` as in forward()."""
        if self.local is None:
            return self.decoder(self.encoder(images), points), None
        z, maps, pooled = self.encoder.features(images)
        predicted = self.camera_head(pooled, images)
        vector = self.camera_head.vector(predicted.detach())
        camera = camera(vector) if camera is not None else ImageCamera.from_vector(vector)
        features = self.pixel_features(maps)
        return self.decoder(z, points) + self.local(features, images, points, camera), predicted

    def camera_outputs(self, images: torch.Tensor) -> torch.Tensor:
        """A local model's camera head on images [B, C, S, S]: raw outputs, read by
        camera_head.camera / camera_head.vector."""
        return self.camera_head(self.encoder.features(images)[2], images)

    @torch.no_grad()
    def point_fn(self, images: torch.Tensor, dtype: torch.dtype | None = None, int8: bool = False,
                 silhouette: int = 0, camera: ImageCamera | None = None,
                 global_only: bool = False, camera_gate: float | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """One prepared image [1, C, S, S] -> points [M, 3] -> float32 logits [M], for grid
        extraction: the encoder runs once, the decoders per call. Local models: `camera` places
        the points in the picture (default: the camera head's); `global_only` leaves the local
        stream out; `silhouette` > 0: points that the camera puts outside the object's mask, grown
        by that many pixels, are outside whatever the decoders say; `camera_gate` > 0: the local
        stream is left out when the camera puts the global stream's shape on less than that share
        of the mask (local.camera_agreement): a wrong camera makes it sample the wrong pixels
        (None: the config's camera_gate)."""
        if self.local is None or global_only:
            return self.decoder.point_fn(self.encoder(images)[0], dtype, int8=int8)
        from .local import camera_agreement, silhouette_fn

        z, maps, pooled = self.encoder.features(images)
        camera = self.camera_head.camera(self.camera_head(pooled, images)) if camera is None else camera
        global_fn = self.decoder.point_fn(z[0], dtype, int8=int8)
        camera_gate = self.config["camera_gate"] if camera_gate is None else camera_gate
        if camera_gate > 0 and camera_agreement(global_fn, images[0, 3], camera) < camera_gate:
            return global_fn
        local_fn = self.local.point_fn(self.pixel_features(maps), images, camera, dtype)
        if silhouette <= 0:
            return lambda points: global_fn(points) + local_fn(points)
        carve = silhouette_fn(images[:, 3:], camera, silhouette)
        return lambda points: carve(points, global_fn(points) + local_fn(points))

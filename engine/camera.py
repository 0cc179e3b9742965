"""The camera of a prepared image: what the camera head predicts, and where a 3D point falls in
the image (see docs/CONVENTIONS.md, "Cameras").

A prepared image (after `engine.images.prepare_batch`'s crop, pad and resize) is described by the
camera's azimuth and elevation in the shape frame, its distance from the frame's origin, the focal
length of the prepared square (1 / tan(fov / 2)) and where the origin falls in it. The camera looks
along the line from its eye to the origin; the origin's image position absorbs both the crop's
offset and the renderer's small look-at jitter, so the projection of the object (within a few
tenths of a pixel at 128^2) needs nothing else. Image positions are grid_sample's: x from -1 (left
edge) to 1 (right edge), y from -1 (top edge) to 1 (bottom edge).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

VECTOR_SIZE = 7  # sin az, cos az, elevation, log distance, log focal, origin x, origin y


def view_direction(azimuth: torch.Tensor, elevation: torch.Tensor) -> torch.Tensor:
    """[B, 3] unit vectors from the look-at point to the eye: (sin az cos el, -cos az cos el, sin el)."""
    ce = torch.cos(elevation)
    return torch.stack([ce * torch.sin(azimuth), -ce * torch.cos(azimuth), torch.sin(elevation)], -1)


def image_axes(forward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(right, up) [B, 3] of cameras looking along `forward` with Z up in the image (looking
    straight down or up: +Y up)."""
    zup = torch.zeros_like(forward)
    zup[:, 2] = 1
    vertical = forward[:, 2].abs() > 0.999
    zup[vertical, 1] = 1
    zup[vertical, 2] = 0
    right = F.normalize(torch.cross(forward, zup, dim=-1), dim=-1)
    return right, torch.cross(right, forward, dim=-1)


@dataclasses.dataclass
class ImageCamera:
    azimuth: torch.Tensor    # [B] radians, from the front (-Y), counter-clockwise seen from above
    elevation: torch.Tensor  # [B] radians above the XY plane
    distance: torch.Tensor   # [B] eye to the frame's origin
    focal: torch.Tensor      # [B] 1 / tan(fov / 2) of the prepared square
    origin: torch.Tensor     # [B, 2] where the frame's origin falls in the prepared image

    def __len__(self) -> int:
        return self.azimuth.shape[0]

    def to(self, device) -> "ImageCamera":
        return ImageCamera(*(getattr(self, f.name).to(device) for f in dataclasses.fields(self)))

    def direction(self) -> torch.Tensor:
        """[B, 3] unit vector from the origin to the eye."""
        return view_direction(self.azimuth, self.elevation)

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """points [B, N, 3] in the shape frame -> (image positions [B, N, 2], depth along the view [B, N])."""
        back = self.direction().to(points.dtype)                       # eye direction, = -forward
        right, up = image_axes(-back)
        q = points - (back * self.distance.to(points.dtype).unsqueeze(-1)).unsqueeze(1)
        depth = -(q * back.unsqueeze(1)).sum(-1)
        scale = (self.focal.to(points.dtype).unsqueeze(-1) / depth.clamp(min=1e-3))
        x = (q * right.unsqueeze(1)).sum(-1) * scale
        y = -(q * up.unsqueeze(1)).sum(-1) * scale
        return torch.stack([x, y], -1) + self.origin.to(points.dtype).unsqueeze(1), depth

    def to_vector(self) -> torch.Tensor:
        """[B, VECTOR_SIZE]: the camera head's targets."""
        return torch.stack([torch.sin(self.azimuth), torch.cos(self.azimuth), self.elevation,
                            torch.log(self.distance), torch.log(self.focal), self.origin[:, 0], self.origin[:, 1]], -1)

    @classmethod
    def from_vector(cls, v: torch.Tensor) -> "ImageCamera":
        v = v.float()
        return cls(torch.atan2(v[:, 0], v[:, 1]), v[:, 2], torch.exp(v[:, 3]), torch.exp(v[:, 4]), v[:, 5:7])

    def jittered(self, generator: torch.Generator | None, angle_deg: float = 3.0, scale: float = 0.03,
                 shift: float = 0.02) -> "ImageCamera":
        """A nearby camera, so the decoder learns to use a predicted (imperfect) one."""
        def noise(*shape):
            return torch.randn(*shape, generator=generator, device=generator.device if generator else "cpu").to(self.azimuth.device)

        b = len(self)
        a = math.radians(angle_deg)
        return ImageCamera(self.azimuth + a * noise(b), self.elevation + a * noise(b),
                           self.distance * (1 + scale * noise(b)), self.focal * (1 + scale * noise(b)),
                           self.origin + shift * noise(b, 2))


def view_angle_error(a: ImageCamera, b: ImageCamera) -> torch.Tensor:
    """[B] degrees between the two cameras' view directions."""
    cos = (a.direction() * b.direction()).sum(-1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cos))


def prepared_camera(cameras, crop: torch.Tensor) -> ImageCamera:
    """The ImageCamera of rendered images after prepare_batch's crop.

    cameras: the renderer's Cameras (look-at `target`, full `fov` of the render); crop [B, 3]: the
    crop's centre (x, y) in the render's image positions and its scale (render side / crop side)."""
    eye, fwd, right, up = cameras.basis()
    q = -eye                                             # the frame's origin, seen from the eye
    depth = (q * fwd).sum(-1)
    tan = torch.tan(cameras.fov / 2)
    x = (q * right).sum(-1) / depth / tan
    y = -(q * up).sum(-1) / depth / tan
    scale = crop[:, 2]
    origin = torch.stack([(x - crop[:, 0]) * scale, (y - crop[:, 1]) * scale], -1)
    return ImageCamera(cameras.azimuth, cameras.elevation, eye.norm(dim=-1), scale / tan, origin)


def covered_pixels(points: torch.Tensor, camera: ImageCamera, size: int = 64) -> torch.Tensor:
    """The pixels (of a size x size image, flattened [size * size] bool) that points [N, 3] fall
    on, seen by the camera (a batch of 1)."""
    positions, depth = camera.project(points[None].float())
    pixels = ((positions[0] + 1) * (size / 2)).floor().long()
    seen = (pixels >= 0).all(-1) & (pixels < size).all(-1) & (depth[0] > 0)
    grid = torch.zeros(size * size, dtype=torch.bool, device=points.device)
    grid[pixels[seen, 1] * size + pixels[seen, 0]] = True
    return grid


def pixel_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """IoU of two boolean pixel sets (1 when both are empty)."""
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def silhouette_agreement(points: torch.Tensor, a: ImageCamera, b: ImageCamera, size: int = 64) -> float:
    """IoU of the pixels (of a size x size image) that a shape's inside points [N, 3] cover seen by
    one camera (batch of 1) and by the other. 1 when the cameras agree or when the shape looks the
    same from both (a table turned by 180 degrees): a view error that places every point as well
    is not counted, where view_angle_error counts it in full."""
    return pixel_iou(covered_pixels(points, a, size), covered_pixels(points, b, size))


def mask_agreement(points: torch.Tensor, camera: ImageCamera, mask: torch.Tensor, size: int = 64) -> float:
    """IoU of the pixels that inside points [N, 3] cover seen by the camera with the picture's
    mask [S, S] (alpha in 0..1, S a multiple of size): how well the camera puts a shape on the
    object in the picture, measured without knowing the true camera."""
    shown = F.adaptive_avg_pool2d(mask[None, None].float(), size)[0, 0].flatten() > 0.5
    return pixel_iou(covered_pixels(points, camera, size), shown.to(points.device))

"""Weather and light effects: fog, rain, snow, shadows and sun flare (after the Automold road-augmentation recipes).

Each op draws its random layout once per call from ``np.random`` and paints it on every input key.
Images are uint8 or float in [0, 1], (H, W, 3) colour or (H, W) / (H, W, 1) grey; the work is done in
float and the result keeps the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate.base import Keys, OptKeys, _RandomPerKey, check_image, finish, max_value
from fastest.op.numpyop.univariate.shapes import disk, lines, polygon


# ----- colour helpers -------------------------------------------------------------------------------------------
def rgb_to_hls(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` RGB in [0, 1] → HLS with every component in [0, 1] (hue as a fraction of a turn).

    >>> rgb_to_hls(np.array([1.0, 0.0, 0.0]))
    array([0. , 0.5, 1. ])
    """
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    light = (high + low) / 2.0
    delta = high - low
    safe = np.where(delta == 0, 1.0, delta)
    sat = np.where(delta == 0, 0.0, delta / np.where(light <= 0.5, high + low, 2.0 - high - low).clip(1e-12))
    rc, gc, bc = (high - r) / safe, (high - g) / safe, (high - b) / safe
    hue = np.where(r == high, bc - gc, np.where(g == high, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = np.where(delta == 0, 0.0, (hue / 6.0) % 1.0)
    return np.stack([hue, light, sat], axis=-1)


def hls_to_rgb(hls: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_hls`.

    >>> hls_to_rgb(np.array([0.0, 0.5, 1.0]))
    array([1., 0., 0.])
    """
    hue, light, sat = hls[..., 0] % 1.0, hls[..., 1], hls[..., 2]
    m2 = np.where(light <= 0.5, light * (1.0 + sat), light + sat - light * sat)
    m1 = 2.0 * light - m2

    def channel(h: np.ndarray) -> np.ndarray:
        h = h % 1.0
        return np.where(h < 1 / 6, m1 + (m2 - m1) * h * 6.0, np.where(
            h < 0.5, m2, np.where(h < 2 / 3, m1 + (m2 - m1) * (2 / 3 - h) * 6.0, m1)))

    return np.stack([channel(hue + 1 / 3), channel(hue), channel(hue - 1 / 3)], axis=-1)


def edit_lightness(image: np.ndarray, owner: str, fn: Any) -> np.ndarray:
    """Apply ``fn`` to the HLS lightness (in [0, 1]) of an image; grey images are their own lightness."""
    check_image(image, owner)
    unit = image.astype(np.float64) / max_value(image)
    if unit.ndim == 3 and unit.shape[2] == 3:
        hls = rgb_to_hls(unit)
        hls[..., 1] = fn(hls[..., 1])
        return finish(hls_to_rgb(hls) * max_value(image), image)
    if unit.ndim == 3 and unit.shape[2] != 1:
        raise FastestValueError(f"{owner} works on RGB (H, W, 3) or grey images, received shape {image.shape}.")
    return finish(fn(unit) * max_value(image), image)


def box_blur(unit: np.ndarray, size: int) -> np.ndarray:
    """A ``size x size`` mean filter per channel (mirrored borders, like OpenCV's default)."""
    if size <= 1:
        return unit
    return ndimage.uniform_filter(unit, size=(size, size) + (1,) * (unit.ndim - 2), mode="mirror")


def paint_color(color: Sequence[float], image: np.ndarray) -> np.ndarray:
    """An RGB colour in 0–255 units as the pixel value of ``image`` in [0, 1] units (grey: the mean)."""
    rgb = np.asarray(color, dtype=np.float64) / 255.0
    return rgb if image.ndim == 3 and image.shape[2] == 3 else np.full(image.shape[2:], rgb.mean())


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise FastestValueError(message)


# ----- ops -------------------------------------------------------------------------------------------------------
class RandomFog(_RandomPerKey):
    """Add fog: overlapping white haze discs spread from the centre outwards, then a light blur.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        fog_coef_lower: Lower bound of the fog intensity, in [0, 1].
        fog_coef_upper: Upper bound of the fog intensity, in [0, 1].
        alpha_coef: Opacity of each haze disc (times the fog intensity).

    >>> np.random.seed(0)
    >>> image = np.full((90, 90, 3), 60, np.uint8)
    >>> bool(RandomFog("x", "x").forward(image, {}).mean() > 60)
    True
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 fog_coef_lower: float = 0.3, fog_coef_upper: float = 1.0, alpha_coef: float = 0.08) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        _check(0 <= fog_coef_lower <= fog_coef_upper <= 1, "RandomFog: need 0 <= fog_coef_lower <= fog_coef_upper "
               f"<= 1, received fog_coef_lower={fog_coef_lower}, fog_coef_upper={fog_coef_upper}.")
        _check(0 <= alpha_coef <= 1, f"RandomFog: alpha_coef must be in [0, 1], received {alpha_coef}.")
        self.fog_coef_lower, self.fog_coef_upper, self.alpha_coef = fog_coef_lower, fog_coef_upper, alpha_coef

    def draw(self, value: np.ndarray) -> tuple[float, np.ndarray]:
        fog = float(np.random.uniform(self.fog_coef_lower, self.fog_coef_upper))
        height, width = value.shape[:2]
        hw = max(1, int(width // 3 * fog))
        mid_x, mid_y, ring = width // 2 - 2 * hw, height // 2 - hw, 1
        points = []
        while mid_x > -hw or mid_y > -hw:
            count = hw // 10 * ring
            xs = np.random.randint(mid_x, max(mid_x, width - mid_x - hw) + 1, size=count)
            ys = np.random.randint(mid_y, max(mid_y, height - mid_y - hw) + 1, size=count)
            points.append(np.stack([xs, ys], axis=1))
            mid_x -= max(1, 3 * hw * width // (height + width))
            mid_y -= max(1, 3 * hw * height // (height + width))
            ring += 1
        return fog, np.concatenate(points) if points else np.zeros((0, 2), np.int64)

    def apply(self, value: np.ndarray, params: tuple[float, np.ndarray]) -> np.ndarray:
        check_image(value, "RandomFog")
        fog, points = params
        height, width = value.shape[:2]
        hw = max(int(width // 3 * fog), 10)
        coverage = np.zeros((height, width))
        for x, y in points:
            coverage += disk(height, width, x + hw // 2, y + hw // 2, hw // 2)
        keep = (1.0 - self.alpha_coef * fog) ** coverage  # the image's share after the overlapping white discs
        if value.ndim == 3:
            keep = keep[..., None]
        unit = value.astype(np.float64) / max_value(value)
        return finish(box_blur(unit * keep + (1.0 - keep), hw // 10) * max_value(value), value)


class RandomRain(_RandomPerKey):
    """Add rain: slanted streaks, a blur and a darker image.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        slant_lower: Lower bound of the streaks' horizontal slant in pixels, in [-20, 20].
        slant_upper: Upper bound of the slant, in [-20, 20].
        drop_length: Streak length in pixels, in [0, 100].
        drop_width: Streak width in pixels, in [1, 5].
        drop_color: Streak colour (r, g, b) in 0–255.
        blur_value: Size of the box blur (rainy views are blurry).
        brightness_coefficient: Brightness factor in [0, 1] (rainy days are shady).
        rain_type: None, 'drizzle', 'heavy' or 'torrential' (sets the number and length of the drops).

    >>> np.random.seed(0)
    >>> RandomRain("x", "x").forward(np.full((40, 40, 3), 100, np.uint8), {}).mean() < 100
    np.True_
    """

    _TYPES = {None: (600, None), "drizzle": (770, 10), "heavy": (600, 30), "torrential": (500, 60)}

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 slant_lower: int = -10, slant_upper: int = 10, drop_length: int = 20, drop_width: int = 1,
                 drop_color: tuple[int, int, int] = (200, 200, 200), blur_value: int = 7,
                 brightness_coefficient: float = 0.7, rain_type: str | None = None) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        _check(-20 <= slant_lower <= slant_upper <= 20, "RandomRain: need -20 <= slant_lower <= slant_upper <= 20, "
               f"received slant_lower={slant_lower}, slant_upper={slant_upper}.")
        _check(1 <= drop_width <= 5, f"RandomRain: drop_width must be in [1, 5], received {drop_width}.")
        _check(0 <= drop_length <= 100, f"RandomRain: drop_length must be in [0, 100], received {drop_length}.")
        _check(0 <= brightness_coefficient <= 1,
               f"RandomRain: brightness_coefficient must be in [0, 1], received {brightness_coefficient}.")
        _check(rain_type in self._TYPES, f"RandomRain: rain_type must be one of {list(self._TYPES)}, received "
               f"{rain_type!r}.")
        _check(blur_value >= 1, f"RandomRain: blur_value must be >= 1, received {blur_value}.")
        self.slant = (slant_lower, slant_upper)
        self.drop_length, self.drop_width, self.drop_color = drop_length, drop_width, drop_color
        self.blur_value, self.brightness_coefficient, self.rain_type = blur_value, brightness_coefficient, rain_type

    def draw(self, value: np.ndarray) -> tuple[int, int, np.ndarray]:
        slant = int(np.random.uniform(*self.slant))
        height, width = value.shape[:2]
        area_per_drop, length = self._TYPES[self.rain_type]
        length = self.drop_length if length is None else length
        count = height * width // area_per_drop
        xs = np.random.randint(slant, width + 1, size=count) if slant < 0 else \
            np.random.randint(0, max(width - slant, 0) + 1, size=count)
        ys = np.random.randint(0, max(height - length, 0) + 1, size=count)
        return slant, length, np.stack([xs, ys], axis=1)

    def apply(self, value: np.ndarray, params: tuple[int, int, np.ndarray]) -> np.ndarray:
        check_image(value, "RandomRain")
        slant, length, starts = params
        unit = value.astype(np.float64) / max_value(value)
        streaks = lines(value.shape[0], value.shape[1], starts, starts + [slant, length], self.drop_width)
        unit[streaks] = paint_color(self.drop_color, unit)
        # scaling HSV's value channel keeps hue and saturation: it scales R, G and B alike
        return finish(box_blur(unit, self.blur_value) * self.brightness_coefficient * max_value(value), value)


class RandomSnow(_RandomPerKey):
    """Bleach the darker pixels to simulate snow: HLS lightness below a threshold is multiplied.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        snow_point_lower: Lower bound of the amount of snow, in [0, 1].
        snow_point_upper: Upper bound of the amount of snow, in [0, 1].
        brightness_coeff: Lightness factor for the snowy pixels (>= 0; larger is more snow).

    >>> RandomSnow("x", "x").forward(np.array([[[40, 40, 40], [250, 250, 250]]], np.uint8), {})
    array([[[100, 100, 100],
            [250, 250, 250]]], dtype=uint8)
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 snow_point_lower: float = 0.1, snow_point_upper: float = 0.3, brightness_coeff: float = 2.5) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        _check(0 <= snow_point_lower <= snow_point_upper <= 1, "RandomSnow: need 0 <= snow_point_lower <= "
               f"snow_point_upper <= 1, received {snow_point_lower}, {snow_point_upper}.")
        _check(brightness_coeff >= 0, f"RandomSnow: brightness_coeff must be >= 0, received {brightness_coeff}.")
        self.snow_point = (snow_point_lower, snow_point_upper)
        self.brightness_coeff = brightness_coeff

    def draw(self, value: np.ndarray) -> float:
        return (float(np.random.uniform(*self.snow_point)) * 127.5 + 85.0) / 255.0  # the lightness threshold

    def apply(self, value: np.ndarray, params: float) -> np.ndarray:
        return edit_lightness(value, "RandomSnow", lambda light: np.where(
            light < params, np.minimum(light * self.brightness_coeff, 1.0), light))


class RandomShadow(_RandomPerKey):
    """Add shadows: random polygons in a region of the image get half their lightness.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        shadow_roi: Region where shadows appear, (x_min, y_min, x_max, y_max) as fractions in [0, 1].
        num_shadows_lower: Fewest shadows (>= 0).
        num_shadows_upper: Most shadows (>= num_shadows_lower).
        shadow_dimension: Number of vertices of each shadow polygon (>= 3).

    >>> np.random.seed(0)
    >>> out = RandomShadow("x", "x", shadow_roi=(0, 0, 1, 1)).forward(np.full((20, 20, 3), 200, np.uint8), {})
    >>> sorted(np.unique(out).tolist())[:1], out.max()
    ([100], np.uint8(200))
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 shadow_roi: tuple[float, float, float, float] = (0.0, 0.5, 1.0, 1.0), num_shadows_lower: int = 1,
                 num_shadows_upper: int = 2, shadow_dimension: int = 5) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        x_min, y_min, x_max, y_max = shadow_roi
        _check(0 <= x_min <= x_max <= 1 and 0 <= y_min <= y_max <= 1, "RandomShadow: shadow_roi must be (x_min, "
               f"y_min, x_max, y_max) with 0 <= min <= max <= 1, received {shadow_roi!r}.")
        _check(0 <= num_shadows_lower <= num_shadows_upper, "RandomShadow: need 0 <= num_shadows_lower <= "
               f"num_shadows_upper, received {num_shadows_lower}, {num_shadows_upper}.")
        _check(shadow_dimension >= 3, f"RandomShadow: shadow_dimension must be >= 3, received {shadow_dimension}.")
        self.shadow_roi, self.shadow_dimension = shadow_roi, shadow_dimension
        self.num_shadows = (num_shadows_lower, num_shadows_upper)

    def draw(self, value: np.ndarray) -> np.ndarray:
        height, width = value.shape[:2]
        x_min, y_min, x_max, y_max = self.shadow_roi
        shade = np.zeros((height, width), dtype=bool)
        for _ in range(np.random.randint(self.num_shadows[0], self.num_shadows[1] + 1)):
            xs = np.random.randint(int(x_min * width), int(x_max * width) + 1, size=self.shadow_dimension)
            ys = np.random.randint(int(y_min * height), int(y_max * height) + 1, size=self.shadow_dimension)
            shade |= polygon(height, width, np.stack([xs, ys], axis=1))
        return shade

    def apply(self, value: np.ndarray, params: np.ndarray) -> np.ndarray:
        if value.shape[:2] != params.shape:
            raise FastestValueError(f"RandomShadow draws one shadow layout per call, but the keys have different "
                                    f"sizes ({params.shape} and {value.shape[:2]}). Use one RandomShadow per key.")
        return edit_lightness(value, "RandomShadow", lambda light: np.where(params, light * 0.5, light))


class RandomSunFlare(_RandomPerKey):
    """Add a sun flare: a bright glow of ``src_radius`` pixels and a trail of faint circles through it.

    Args:
        inputs: Key(s) of the images.
        outputs: Key(s) to write the results to.
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        flare_roi: Region of the flare centre, (x_min, y_min, x_max, y_max) as fractions in [0, 1].
        angle_lower: Lower bound of the trail's angle as a fraction of a turn, in [0, angle_upper].
        angle_upper: Upper bound of the angle, in [angle_lower, 1].
        num_flare_circles_lower: Fewest trail circles (>= 0).
        num_flare_circles_upper: Most trail circles.
        src_radius: Radius of the glow in pixels.
        src_color: Colour (r, g, b) of the glow in 0–255.

    >>> np.random.seed(0)
    >>> out = RandomSunFlare("x", "x", src_radius=20).forward(np.zeros((30, 30, 3), np.uint8), {})
    >>> bool(out.max() > 200), out.dtype
    (True, dtype('uint8'))
    """

    def __init__(self, inputs: Keys, outputs: Keys, mode: OptKeys = None, ds_id: OptKeys = None,
                 flare_roi: tuple[float, float, float, float] = (0, 0, 1, 0.5), angle_lower: float = 0.0,
                 angle_upper: float = 1.0, num_flare_circles_lower: int = 6, num_flare_circles_upper: int = 10,
                 src_radius: int = 400, src_color: tuple[int, int, int] = (255, 255, 255)) -> None:
        super().__init__(inputs, outputs, mode, ds_id)
        x_min, y_min, x_max, y_max = flare_roi
        _check(0 <= x_min <= x_max <= 1 and 0 <= y_min <= y_max <= 1, "RandomSunFlare: flare_roi must be (x_min, "
               f"y_min, x_max, y_max) with 0 <= min <= max <= 1, received {flare_roi!r}.")
        _check(0 <= angle_lower <= angle_upper <= 1, "RandomSunFlare: need 0 <= angle_lower <= angle_upper <= 1, "
               f"received {angle_lower}, {angle_upper}.")
        _check(0 <= num_flare_circles_lower <= num_flare_circles_upper, "RandomSunFlare: need 0 <= "
               f"num_flare_circles_lower <= num_flare_circles_upper, received {num_flare_circles_lower}, "
               f"{num_flare_circles_upper}.")
        self.flare_roi, self.angle = flare_roi, (angle_lower, angle_upper)
        self.num_circles = (num_flare_circles_lower, num_flare_circles_upper)
        self.src_radius, self.src_color = src_radius, src_color

    def draw(self, value: np.ndarray) -> tuple[int, int, list[tuple[float, int, int, int, np.ndarray]]]:
        height, width = value.shape[:2]
        angle = 2 * math.pi * np.random.uniform(*self.angle)
        center_x = int(width * np.random.uniform(self.flare_roi[0], self.flare_roi[2]))
        center_y = int(height * np.random.uniform(self.flare_roi[1], self.flare_roi[3]))
        steps = np.arange(-center_x, width - center_x, 10, dtype=np.float64)
        trail_x, trail_y = center_x + steps * math.cos(angle), center_y + steps * math.sin(angle)
        circles = []
        for _ in range(np.random.randint(self.num_circles[0], self.num_circles[1] + 1)):
            alpha = float(np.random.uniform(0.05, 0.2))
            index = np.random.randint(len(steps)) if len(steps) else 0
            radius = np.random.randint(1, max(height // 100 - 2, 2) + 1) ** 3
            color = np.array([np.random.randint(max(c - 50, 0), c + 1) for c in self.src_color])
            circles.append((alpha, int(trail_x[index]) if len(steps) else center_x,
                            int(trail_y[index]) if len(steps) else center_y, radius, color))
        return center_x, center_y, circles

    def apply(self, value: np.ndarray, params: tuple[int, int, list[Any]]) -> np.ndarray:
        check_image(value, "RandomSunFlare")
        center_x, center_y, circles = params
        height, width = value.shape[:2]
        output = value.astype(np.float64) / max_value(value)
        overlay = output.copy()
        for alpha, x, y, radius, color in circles:  # faint circles along the trail
            overlay[disk(height, width, x, y, radius)] = paint_color(color, output)
            output = alpha * overlay + (1 - alpha) * output
        glow, color = output.copy(), paint_color(self.src_color, output)
        count = self.src_radius // 10
        alphas, radii = np.linspace(0.0, 1.0, count), np.linspace(1, self.src_radius, count)
        rows, cols = np.ogrid[:height, :width]
        distance = np.sqrt((cols - center_x) ** 2 + (rows - center_y) ** 2)
        for i in range(count):  # concentric discs, more opaque towards the centre
            glow[distance <= int(radii[i])] = color
            weight = alphas[count - i - 1] ** 3
            output = weight * glow + (1 - weight) * output
        return finish(output * max_value(value), value)

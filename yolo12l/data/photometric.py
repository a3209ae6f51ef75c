"""Your own photometric albumentations transforms, run by ``pipeline.TrainAugment`` on the final training image.

The data config takes them as a list (``--data.init_args.albumentations``), each item one of

* an ``A.to_dict(transform)`` dict: ``{"__version__": "2.0.8", "transform": {"__class_fullname__": "Blur", ...}}``;
* a transform dict as inside it: ``{"__class_fullname__": "Blur", "blur_limit": [3, 7], "p": 0.1}``;
* ``{"name": "Blur", "params": {"blur_limit": [3, 7], "p": 0.1}}``;
* (Python) an albumentations transform object.

A whole ``A.to_dict(A.Compose([...]))`` dict is taken too. ``albumentations_light: true`` adds Ultralytics' optional
light step first: Blur, MedianBlur, ToGray and CLAHE, each with probability 0.01 and albumentations' default
parameters. Only image-only (photometric) transforms are accepted: the boxes are not passed through them, so a
transform that moves pixels (any ``DualTransform``: flips, crops, affine…) is refused with one line. Randomness comes
from the sample's generators (the same sample for the same seed, epoch and index).
"""
from __future__ import annotations

import inspect
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

Spec = Sequence[Any] | Mapping[str, Any] | None

# Ultralytics' optional light step (its Albumentations class, p 0.01 each; those at p 0 there are left out)
LIGHT = ("Blur", "MedianBlur", "ToGray", "CLAHE")
LIGHT_P = 0.01


def _transform(item: Any, where: str) -> Any:
    import albumentations as A

    if isinstance(item, (A.BasicTransform, A.BaseCompose)):
        return item
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where} {item!r}: must be an albumentations transform dict ({{name, params}} or "
                          "A.to_dict output)")
    item = dict(item)
    if "name" in item:  # {name, params}: the class with its own defaults (p included)
        unknown = set(item) - {"name", "params"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} beside 'name' (put arguments in 'params')")
        cls = _class(item["name"], where)
        return _call(lambda: cls(**dict(item.get("params") or {})), where, item["name"])
    body = item["transform"] if "transform" in item else item  # A.to_dict output, or the dict inside it
    name = body.get("__class_fullname__") if isinstance(body, Mapping) else None
    if not isinstance(name, str):
        raise ConfigError(f"{where} {item!r}: names no transform (give 'name' or '__class_fullname__')")
    cls = _class(name, where)
    if "p" not in body:  # the class's default, as for {name, params} (from_dict would warn and use 0.5)
        body = {**body, "p": inspect.signature(cls).parameters["p"].default}
    return _call(lambda: A.from_dict({"transform": body}), where, name)


def _class(name: Any, where: str) -> type:
    import albumentations as A

    cls = getattr(A, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, (A.BasicTransform, A.BaseCompose))):
        raise ConfigError(f"{where} {name!r}: not an albumentations transform (albumentations {A.__version__})")
    return cls


def _call(make: Any, where: str, name: str) -> Any:
    try:
        return make()
    except Exception as e:  # a bad parameter: albumentations' (pydantic's) own words, on one line
        lines = [x.strip() for x in str(e).splitlines() if x.strip() and not x.strip().startswith("For further")]
        text = " ".join(lines[1:]) if len(lines) > 1 and "validation error" in lines[0] else " ".join(lines)
        raise ConfigError(f"{where} {name}: {text[:400] or type(e).__name__}") from None


def _refuse_spatial(t: Any, where: str) -> None:
    import albumentations as A

    if isinstance(t, A.BaseCompose):
        for k, inner in enumerate(t.transforms):
            _refuse_spatial(inner, f"{where}.transforms[{k}]")
    elif not isinstance(t, A.ImageOnlyTransform):
        raise ConfigError(f"{where} {type(t).__name__}: moves pixels (a spatial transform) and the boxes would not "
                          "follow; only photometric (image-only) transforms are supported here (mosaic, affine and "
                          "flip have their own settings: scale, translate, degrees, shear, fliplr)")


def build_photometric(spec: Spec = None, light: bool = False, where: str = "albumentations") -> Any | None:
    """The ``A.Compose`` of ``light``'s step and the transforms of ``spec``, or None when there are none.

    Raises :class:`~yolo12l.errors.ConfigError` naming the item (``where[k]``) that is unknown, malformed or
    spatial."""
    if spec is None and not light:
        return None
    import albumentations as A

    if isinstance(spec, Mapping):
        spec = [spec]
    elif spec is not None and (isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence)):
        raise ConfigError(f"{where} {spec!r}: must be a list of albumentations transforms")
    steps = [getattr(A, name)(p=LIGHT_P) for name in LIGHT] if light else []
    for k, item in enumerate(spec or []):
        t = _transform(item, f"{where}[{k}]")
        _refuse_spatial(t, f"{where}[{k}]")
        steps.append(t)
    if not steps:
        return None
    return A.Compose(steps, p=1.0)


def apply_photometric(compose: Any, img: np.ndarray, r: random.Random) -> np.ndarray:
    """``img`` (h, w, 3) uint8 RGB through ``compose`` with random state drawn from ``r`` -> (h, w, 3) uint8."""
    compose.set_random_state(np.random.default_rng(r.getrandbits(64)), random.Random(r.getrandbits(64)))
    out = compose(image=img, force_apply=True)["image"]
    if out.shape != img.shape or out.dtype != np.uint8:
        raise ConfigError(f"albumentations: the transforms gave a {out.dtype} {out.shape} image for a uint8 "
                          f"{img.shape} one; use transforms that keep the size and uint8")
    return out


def serialisable(spec: Spec) -> list[Any] | None:
    """``spec`` as plain dicts (``A.to_dict``) for hyperparameters / configs: objects become their dicts."""
    if spec is None:
        return None
    import albumentations as A

    items = [spec] if isinstance(spec, Mapping) else list(spec)
    return [A.to_dict(t) if isinstance(t, (A.BasicTransform, A.BaseCompose)) else t for t in items]


__all__ = ["LIGHT", "LIGHT_P", "build_photometric", "apply_photometric", "serialisable"]

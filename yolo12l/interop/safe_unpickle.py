"""Restricted unpickling of torch checkpoint files that pickle whole model objects.

Ultralytics writes ``.pt`` files whose ``data.pkl`` pickles its ``DetectionModel`` object. Unpickling such a file
normally imports ``ultralytics`` and lets the pickle call any global it names (``os.system`` included). Here the
pickle can only reach an explicit allow-list:

- tensor / storage rebuild functions (our own validating versions, never torch's ``_load_from_bytes``),
  storage types, torch dtypes, ``torch.Size``, ``torch.device``, ``collections.OrderedDict``, a few inert builtins;
- inert :class:`StandIn` classes for ``ultralytics.*`` and ``torch.nn.*`` classes: they run no code of the real
  class and only record the attributes the pickle gives them (``BUILD`` / ``__setstate__``, ``NEWOBJ``, ``REDUCE``,
  ``copyreg._reconstructor``, ``copyreg.__newobj__``);
- inert metadata types (``datetime``, pure paths, ``SimpleNamespace``, ``argparse.Namespace``, numpy scalars).

Any other global raises :class:`UnsafeCheckpointError` naming it, before anything is called; the object-building
opcodes (``REDUCE``, ``NEWOBJ``, ``BUILD``, ``EXT*``) are checked too (see :class:`RestrictedUnpickler`). Torch zip
archives are opened with :mod:`zipfile` directly and storages read as raw bytes; torch.load is used only with
``weights_only=True``, for the legacy non-zip tensor format.
"""
from __future__ import annotations

import _compat_pickle
import argparse
import collections
import datetime
import io
import os
import pathlib
import pickle
import re
import sys
import types
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO
from collections.abc import Callable

import torch

from ..errors import UserError

__all__ = ["UnsafeCheckpointError", "StandIn", "RestrictedUnpickler", "safe_load", "stand_in_class", "is_stand_in"]

_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_STAND_IN_PREFIXES = ("ultralytics.", "torch.nn.")


class UnsafeCheckpointError(UserError, pickle.UnpicklingError):
    """The file asks for a global (function/class) outside the allow-list, or misuses an allowed one."""


# --------------------------------------------------------------------------------------------------- stand-ins
class StandIn:
    """Inert stand-in for a class the pickle names (``ultralytics.nn.tasks.DetectionModel``, ``torch.nn.Conv2d`` ...).

    Instances keep whatever the pickle gives them: ``BUILD`` state goes to ``__dict__`` (dict state) or
    ``_standin_state`` (anything else); constructor arguments go to ``_standin_args`` / ``_standin_kwargs``.
    """

    _standin_module: str = ""
    _standin_name: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:
        if cls is StandIn:
            raise TypeError("StandIn is abstract: use stand_in_class(module, name)")
        obj = object.__new__(cls)
        if args:
            obj.__dict__["_standin_args"] = args
        if kwargs:
            obj.__dict__["_standin_kwargs"] = kwargs
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # REDUCE calls cls(*args): arguments recorded in __new__
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)) \
                and isinstance(state[1], dict):  # (dict state, slot state) as pickle protocol 2 writes it
            state = {**(state[0] or {}), **state[1]}
        if isinstance(state, dict):
            for key in state:
                if not isinstance(key, str):
                    raise UnsafeCheckpointError(f"{self._standin_qualname()}: non-string attribute name {key!r}")
            self.__dict__.update(state)
        else:
            self.__dict__["_standin_state"] = state

    @classmethod
    def _standin_qualname(cls) -> str:
        return f"{cls._standin_module}.{cls._standin_name}"

    def __repr__(self) -> str:
        attrs = ", ".join(k for k in list(self.__dict__)[:8] if not k.startswith("_standin"))
        return f"<StandIn {self._standin_qualname()} ({attrs}{', ...' if len(self.__dict__) > 8 else ''})>"


_STAND_IN_CLASSES: dict[tuple[str, str], type[StandIn]] = {}


def stand_in_class(module: str, name: str) -> type[StandIn]:
    """The (cached) :class:`StandIn` subclass standing for ``module.name``."""
    key = (module, name)
    if key not in _STAND_IN_CLASSES:
        _STAND_IN_CLASSES[key] = type(name, (StandIn,), {
            "_standin_module": module, "_standin_name": name, "__module__": __name__, "__qualname__": name})
    return _STAND_IN_CLASSES[key]


def is_stand_in(obj: Any, qualname: str | None = None) -> bool:
    """Whether ``obj`` is a stand-in instance (optionally for exactly ``module.name`` == ``qualname``)."""
    return isinstance(obj, StandIn) and (qualname is None or obj._standin_qualname() == qualname)


# ------------------------------------------------------------------------------------------ tensors and storages
@dataclass(frozen=True, slots=True)  # slots: no __dict__ a pickle could BUILD into
class _StorageType:
    """What ``torch.HalfStorage`` etc. unpickle to: a dtype tag, deliberately not callable."""

    name: str
    dtype: torch.dtype


@dataclass(frozen=True, slots=True)
class _TensorType:
    """What ``torch.Tensor`` / ``torch.nn.Parameter`` unpickle to (only accepted by ``_rebuild_from_type_v2``)."""

    name: str


_TORCH_DTYPES: dict[str, torch.dtype] = {k: v for k, v in vars(torch).items() if isinstance(v, torch.dtype)}
_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128, "UntypedStorage": torch.uint8,
}
_TENSOR = _TensorType("torch.Tensor")
_PARAMETER = _TensorType("torch.nn.parameter.Parameter")


def _check_int_tuple(name: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise UnsafeCheckpointError(f"_rebuild_tensor_v2: {name} must be a tuple of ints, got {type(value).__name__}")
    return tuple(value)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """Validating replacement for ``torch._utils._rebuild_tensor_v2``: a strided view of a storage read from the zip."""
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise UnsafeCheckpointError("_rebuild_tensor_v2: first argument is not a storage of this archive")
    size, stride = _check_int_tuple("size", size), _check_int_tuple("stride", stride)
    if not isinstance(storage_offset, int) or storage_offset < 0 or len(size) != len(stride) \
            or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise UnsafeCheckpointError(f"_rebuild_tensor_v2: bad offset/size/stride {storage_offset}, {size}, {stride}")
    if backward_hooks:
        raise UnsafeCheckpointError("_rebuild_tensor_v2: tensors with backward hooks are not accepted")
    if all(size):  # non-empty: the last element it addresses must lie inside the storage
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel():
            raise UnsafeCheckpointError(f"_rebuild_tensor_v2: view {size}/{stride}+{storage_offset} exceeds storage "
                                        f"of {storage.numel()} elements")
    tensor = storage.as_strided(size, stride, storage_offset)
    return tensor.requires_grad_(bool(requires_grad)) if tensor.is_floating_point() else tensor


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None) -> torch.nn.Parameter:
    if not isinstance(data, torch.Tensor):
        raise UnsafeCheckpointError("_rebuild_parameter: data is not a tensor")
    if backward_hooks:
        raise UnsafeCheckpointError("_rebuild_parameter: parameters with backward hooks are not accepted")
    if state:
        raise UnsafeCheckpointError("_rebuild_parameter_with_state: parameters with extra state are not accepted")
    return torch.nn.Parameter(data.detach(), requires_grad=bool(requires_grad) and data.is_floating_point())


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    """``torch._tensor._rebuild_from_type_v2``, only for plain tensors / parameters without extra state."""
    if func not in (_rebuild_tensor_v2, _rebuild_parameter) or new_type not in (_TENSOR, _PARAMETER):
        raise UnsafeCheckpointError("_rebuild_from_type_v2: only torch.Tensor / Parameter rebuilds are accepted")
    if state:
        raise UnsafeCheckpointError("_rebuild_from_type_v2: tensors with extra Python state are not accepted")
    if not isinstance(args, tuple):
        raise UnsafeCheckpointError("_rebuild_from_type_v2: args must be a tuple")
    tensor = func(*args)
    return torch.nn.Parameter(tensor.detach(), tensor.requires_grad) if new_type is _PARAMETER else tensor


# -------------------------------------------------------------------------------------- pickle protocol helpers
def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocols 0/1) for stand-ins whose base is ``object``."""
    if not _is_stand_in_class(cls) or base is not object or state is not None:
        raise UnsafeCheckpointError(f"copyreg._reconstructor({cls!r}, {base!r}, ...): only stand-in classes with "
                                    "base object are accepted")
    return cls.__new__(cls)


def _newobj(cls: Any, *args: Any) -> Any:
    """``copyreg.__newobj__`` / ``NEWOBJ``: ``cls.__new__(cls, *args)`` for stand-ins and a few plain types."""
    if not (_is_stand_in_class(cls) or any(cls is t for t in _NEWOBJ_TYPES)):
        raise UnsafeCheckpointError(f"copyreg.__newobj__({cls!r}, ...): class not in the allow-list")
    return cls.__new__(cls, *args)


def _newobj_ex(cls: Any, args: Any, kwargs: Any) -> Any:
    if not isinstance(args, tuple) or not isinstance(kwargs, dict):
        raise UnsafeCheckpointError("copyreg.__newobj_ex__: bad arguments")
    obj = _newobj(cls, *args)
    if kwargs:
        obj.__dict__["_standin_kwargs"] = kwargs
    return obj


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """How protocol 2 pickles ``bytes``: ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError("_codecs.encode: only (str, 'latin1') is accepted")
    return text.encode("latin1")


_NEWOBJ_TYPES: tuple[type, ...] = (collections.OrderedDict, types.SimpleNamespace, argparse.Namespace)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """numpy scalars (``best_fitness`` is a ``np.float64`` in some Ultralytics versions): numeric dtypes only."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with torch in practice
        return {}

    def dtype(spec: Any, align: Any = False, copy: Any = True) -> Any:
        if not isinstance(spec, str) or not re.fullmatch(r"[<>|=]?[biufc?][0-9]*", spec):
            raise UnsafeCheckpointError(f"numpy.dtype({spec!r}): only numeric dtypes are accepted")
        return np.dtype(spec)

    def scalar(dt: Any, data: Any = None) -> Any:
        if not isinstance(dt, np.dtype) or dt.kind not in "biufc" or not isinstance(data, bytes) \
                or len(data) != dt.itemsize:
            raise UnsafeCheckpointError("numpy scalar: only numeric dtypes with matching raw bytes are accepted")
        return np.frombuffer(data, dtype=dt)[0]

    out: dict[tuple[str, str], Any] = {}
    for core in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(core, "scalar")] = scalar
    out[("numpy", "dtype")] = dtype
    return out


def _allowed_globals() -> dict[tuple[str, str], Any]:
    g: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TENSOR,
        ("torch.nn.parameter", "Parameter"): _PARAMETER,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("copyreg", "__newobj__"): _newobj,
        ("copyreg", "__newobj_ex__"): _newobj_ex,
        ("_codecs", "encode"): _codecs_encode,
        ("types", "SimpleNamespace"): types.SimpleNamespace,
        ("argparse", "Namespace"): argparse.Namespace,
    }
    for name in ("set", "frozenset", "slice", "complex", "object"):
        g[("builtins", name)] = getattr(__import__("builtins"), name)
    for name, dt in _TORCH_DTYPES.items():
        g[("torch", name)] = dt
    for name, dt in _STORAGE_DTYPES.items():
        g[("torch", name)] = _StorageType(name, dt)
    g[("torch.storage", "UntypedStorage")] = _StorageType("UntypedStorage", torch.uint8)
    for name in ("datetime", "date", "time", "timedelta", "timezone"):
        g[("datetime", name)] = getattr(datetime, name)
    # Paths become pure paths: inert, and a WindowsPath from a Windows-trained checkpoint still loads on Linux.
    for mod in ("pathlib", "pathlib._local"):
        for name, cls in (("PosixPath", pathlib.PurePosixPath), ("PurePosixPath", pathlib.PurePosixPath),
                          ("WindowsPath", pathlib.PureWindowsPath), ("PureWindowsPath", pathlib.PureWindowsPath),
                          ("Path", pathlib.PurePath), ("PurePath", pathlib.PurePath)):
            g[(mod, name)] = cls
    g.update(_numpy_globals())
    return g


_ALLOWED = _allowed_globals()
_CALLABLE_IDS = frozenset(id(v) for v in _ALLOWED.values() if callable(v))


def _is_stand_in_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, StandIn) and obj is not StandIn


def _is_numpy_dtype(obj: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.dtype)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


# ------------------------------------------------------------------------------------------------- unpickler
class RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be restricted
    """Unpickler that resolves only allow-listed globals, calls only allow-listed callables, and reads storages
    through ``load_storage``.

    Besides ``find_class``, the object-building opcodes are checked: ``REDUCE`` only calls allow-listed functions /
    types and stand-in classes, ``NEWOBJ`` only instantiates stand-ins and a few plain types, ``BUILD`` only sets
    state on stand-ins, namespaces and numpy dtypes (never on classes or tensors), ``EXT*`` is refused. So a file
    can neither run code nor modify shared objects (classes, markers) for later loads.

    Args:
        file: binary file positioned at the pickle.
        load_storage: ``(key, dtype, numel) -> 1-D tensor`` for torch persistent ids; ``None`` refuses them.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, load_storage: Callable[[str, torch.dtype, int], torch.Tensor] | None = None):
        super().__init__(file)
        self._load_storage = load_storage
        self._storages: dict[tuple[str, torch.dtype], torch.Tensor] = {}  # shared by all views of a storage

    def _load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not (_is_stand_in_class(func) or id(func) in _CALLABLE_IDS) or not isinstance(args, tuple):
            raise UnsafeCheckpointError(f"refusing to call {func!r}: not an allow-listed callable")
        self.stack[-1] = func(*args)

    def _load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if not isinstance(args, tuple):
            raise UnsafeCheckpointError("NEWOBJ: arguments must be a tuple")
        self.append(_newobj(cls, *args))

    def _load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(_newobj_ex(cls, args, kwargs))

    def _load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, StandIn):
            inst.__setstate__(state)
        elif type(inst) in (types.SimpleNamespace, argparse.Namespace) and isinstance(state, dict) \
                and all(isinstance(k, str) for k in state):
            inst.__dict__.update(state)
        elif _is_numpy_dtype(inst):
            inst.__setstate__(state)
        else:
            raise UnsafeCheckpointError(f"refusing to set state on a {type(inst).__name__} object")

    def _refuse_ext(self) -> None:
        raise UnsafeCheckpointError("refusing pickle extension codes (EXT opcodes)")

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex
    dispatch[pickle.BUILD[0]] = _load_build
    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse_ext
    del _op

    def find_class(self, module: str, name: str) -> Any:
        written = f"{module}.{name}"
        if not (isinstance(module, str) and isinstance(name, str) and _IDENTIFIER.fullmatch(written)):
            raise UnsafeCheckpointError(f"refusing global {written!r}: not a plain dotted name")
        # Protocol 0-2 pickles use Python 2 names (__builtin__.set, commands.Popen): map them as pickle itself does.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.startswith(_STAND_IN_PREFIXES) and "." not in name and not name.startswith("__"):
            return stand_in_class(module, name)
        qual = f"{module}.{name}"
        shown = repr(qual) if qual == written else f"{qual!r} (written as {written!r})"
        raise UnsafeCheckpointError(f"refusing global {shown}: not in the allow-list of inert tensor/model types "
                                    "(the file may try to run code; it was not executed)")

    def persistent_load(self, pid: Any) -> Any:
        if self._load_storage is None:
            raise UnsafeCheckpointError(f"persistent id {pid!r} outside a torch archive")
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if isinstance(storage_type, torch.dtype):
            dtype = storage_type
        elif isinstance(storage_type, _StorageType):
            dtype = storage_type.dtype
        else:
            raise UnsafeCheckpointError(f"persistent id {pid!r}: unknown storage type")
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_]+", key) \
                or not isinstance(numel, int) or numel < 0:
            raise UnsafeCheckpointError(f"persistent id {pid!r}: bad storage key/size")
        if (key, dtype) not in self._storages:
            self._storages[(key, dtype)] = self._load_storage(key, dtype, numel)
        return self._storages[(key, dtype)]


# --------------------------------------------------------------------------------------------------- files
def _read_storage(zf: zipfile.ZipFile, prefix: str, byteorder: str) -> Callable[[str, torch.dtype, int], torch.Tensor]:
    def load(key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        name = f"{prefix}data/{key}"
        try:
            info = zf.getinfo(name)
        except KeyError:
            raise UnsafeCheckpointError(f"storage {name!r} missing from the archive") from None
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if info.file_size < numel * itemsize:
            raise UnsafeCheckpointError(f"storage {name!r} holds {info.file_size} bytes, {numel * itemsize} expected")
        raw = bytearray(zf.read(name))
        if info.file_size == 0:
            return torch.empty(0, dtype=dtype)
        flat = torch.frombuffer(raw, dtype=torch.uint8)[: numel * itemsize]
        if byteorder != sys.byteorder and itemsize > 1:
            flat = flat.view(-1, itemsize).flip(-1).reshape(-1)
        return flat.clone().view(dtype) if numel else torch.empty(0, dtype=dtype)

    return load


def _load_zip(zf: zipfile.ZipFile) -> Any:
    pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise UnsafeCheckpointError(f"not a torch archive: expected one <name>/data.pkl, found {pkl}")
    prefix = pkl[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{prefix}byteorder" in zf.namelist():
        byteorder = zf.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise UnsafeCheckpointError(f"unknown byteorder {byteorder!r}")
    with zf.open(pkl[0]) as f:
        return RestrictedUnpickler(io.BytesIO(f.read()), _read_storage(zf, prefix, byteorder)).load()


def safe_load(path: str | os.PathLike) -> Any:
    """Load a torch checkpoint (zip format) or a raw pickle without running code from it.

    Unknown classes under ``ultralytics.*`` / ``torch.nn.*`` become :class:`StandIn` objects; tensors come back on
    CPU in their stored dtype. Legacy (pre-1.6, non-zip) torch files go through ``torch.load(weights_only=True)``.

    Raises:
        UnsafeCheckpointError: the file names a global outside the allow-list (nothing from it was executed).
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return _load_zip(zf)
    with open(path, "rb") as f:
        obj = RestrictedUnpickler(f).load()
    if type(obj) is int and obj == _LEGACY_TORCH_MAGIC:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise UnsafeCheckpointError(f"legacy (non-zip) torch file refused by torch's weights-only loader: {e}") \
                from None
    return obj

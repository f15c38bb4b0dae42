"""Read pickled model files without running anything a pickle asks for.

FLAME's official ``.pkl`` files hold chumpy objects (``chumpy.ch.Ch``, whose value a pickle
stores in its state as ``x``) and a scipy sparse matrix; DECA's ``landmark_embedding.npy`` is a
pickled dict (its dynamic-contour entries are torch tensors); EMOCA's Lightning checkpoints carry
their training configuration (omegaconf, Lightning) beside the weights.

:class:`SafeUnpickler` rebuilds numpy arrays, sets, ordered dicts and builtin values; turns every
``chumpy.*`` object into its plain ndarray and every scipy sparse matrix into a
``scipy.sparse.csc_matrix``; maps the globals of an explicit list of ignorable modules to inert
placeholders (loaded as None); and refuses any other global -- ``os.system``, ``builtins.eval``,
anything -- before it is imported. No code named by the file runs.
"""
from __future__ import annotations

import pickle
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import BinaryIO

import numpy as np

_NUMPY = {
    "_reconstruct": np.empty(0).__reduce__()[0],
    "scalar": np.float64(0).__reduce__()[0],
    "ndarray": np.ndarray,
    "dtype": np.dtype,
}
_BUILTINS = {t.__name__: t for t in (set, frozenset, object, dict, list, tuple, int, float, bool, str, bytes, complex)}
_COLLECTIONS = {"OrderedDict": OrderedDict, "defaultdict": defaultdict}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allowed set (``qualname`` is ``module.name``)."""

    def __init__(self, qualname: str):
        super().__init__(f"it imports {qualname}, which no model file needs")
        self.qualname = qualname


class ChumpyValue:
    """Stand-in for any ``chumpy`` object: keeps the pickled state (the value is ``state['x']``)."""

    def __setstate__(self, state):
        self.state = state


class SparseValue:
    """Stand-in for a scipy sparse matrix: keeps the pickled state (data, indices, indptr, shape)."""

    def __setstate__(self, state):
        self.state = state


class Inert:
    """Stand-in for an ignorable global: accepts any arguments, state and items (a pickled dict
    or list subclass fills itself so), loads as None."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles written by Python 3 use it (bytes as latin-1 text)."""
    if encoding.replace("-", "").lower() != "latin1":
        raise UnsafePickleError(f"_codecs.encode to {encoding}")
    return text.encode("latin1")


def _reconstructor(cls, base, state):
    """``copyreg._reconstructor`` for the stand-ins only (old pickle protocols build objects so)."""
    if not (isinstance(cls, type) and issubclass(cls, (ChumpyValue, SparseValue, Inert)) and base is object):
        raise UnsafePickleError(f"copyreg._reconstructor of {getattr(cls, '__name__', cls)}")
    return object.__new__(cls)


class SafeUnpickler(pickle.Unpickler):
    """An unpickler with an allow-list (see the module text). ``ignore``: module prefixes whose
    globals become :class:`Inert` placeholders; ``extra``: more allowed ``(module, name) ->
    object`` pairs (e.g. torch's tensor rebuild functions for checkpoints)."""

    def __init__(self, file: BinaryIO, ignore: tuple[str, ...] = (), extra: dict | None = None, **kwargs):
        kwargs.setdefault("encoding", "latin1")  # Python 2 pickles (FLAME 2020)
        super().__init__(file, **kwargs)
        self._ignore = ignore
        self._extra = extra or {}

    def find_class(self, module: str, name: str):
        module = {"copy_reg": "copyreg", "__builtin__": "builtins"}.get(module, module)
        if (module, name) in self._extra:
            return self._extra[(module, name)]
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray") and name in _NUMPY:
            return _NUMPY[name]
        if module == "builtins" and name in _BUILTINS:
            return _BUILTINS[name]
        if module == "collections" and name in _COLLECTIONS:
            return _COLLECTIONS[name]
        if module == "copyreg" and name == "_reconstructor":
            return _reconstructor
        if module == "_codecs" and name == "encode":
            return _latin1
        if module.split(".")[0] == "chumpy":
            return ChumpyValue
        if module.startswith("scipy.sparse") and name.endswith("_matrix"):
            return SparseValue
        if any(module == p or module.startswith(p + ".") for p in self._ignore):
            return type(name, (Inert,), {})
        raise UnsafePickleError(f"{module}.{name}")


def plain(value):
    """``value`` with the stand-ins replaced: chumpy -> ndarray, sparse -> csc_matrix, inert ->
    None (recursively through dicts, lists and tuples)."""
    if isinstance(value, ChumpyValue):
        x = value.state.get("x") if isinstance(value.state, dict) else None
        if x is None:
            raise pickle.UnpicklingError("a chumpy object holds no stored value ('x')")
        return np.asarray(x)
    if isinstance(value, SparseValue):
        return _sparse(value.state)
    if isinstance(value, Inert):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def _sparse(state):
    from scipy.sparse import csc_matrix, csr_matrix

    if not isinstance(state, dict) or not {"data", "indices", "indptr"} <= state.keys():
        raise pickle.UnpicklingError("a sparse matrix without data, indices and indptr")
    shape = tuple(state.get("_shape", state.get("shape")))
    kind = csr_matrix if state.get("format") == "csr" else csc_matrix
    return kind((state["data"], state["indices"], state["indptr"]), shape=shape).tocsc()


def load_pickle(path: Path, ignore: tuple[str, ...] = ()):
    """The content of the pickle file at ``path``, made :func:`plain`."""
    with open(path, "rb") as f:
        return plain(SafeUnpickler(f, ignore=ignore).load())


def load_npy(path: Path, ignore: tuple[str, ...] = ()):
    """An ``.npy`` file: a plain array, or for an object array (``np.save`` of a dict) the
    unpickled object, read with :class:`SafeUnpickler` instead of ``allow_pickle=True``."""
    from numpy.lib import format as npy

    with open(path, "rb") as f:
        version = npy.read_magic(f)
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        _, _, dtype = read_header(f)
        if not dtype.hasobject:
            f.seek(0)
            return np.load(f, allow_pickle=False)
        value = plain(SafeUnpickler(f, ignore=ignore).load())
    if isinstance(value, np.ndarray) and value.dtype.hasobject and value.shape == ():
        return value.item()  # np.save(dict) stores a 0-d object array
    return value


def _torch_globals() -> dict:
    """What a torch checkpoint's pickle needs to rebuild tensors (storages are torch's own)."""
    import torch

    return {
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): torch._tensor._rebuild_from_type_v2,
        ("torch", "Tensor"): torch.Tensor,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
    }


def load_checkpoint(path: Path, ignore: tuple[str, ...] = ()):
    """A torch checkpoint on the CPU: ``torch.load(weights_only=True)``; when that refuses a
    global, once more with :class:`SafeUnpickler`, torch's tensor globals allowed and the
    ``ignore`` modules (training configuration) loaded as None. Anything else is refused."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    extra = _torch_globals()

    class _Unpickler(SafeUnpickler):
        def __init__(self, file, **kwargs):
            super().__init__(file, ignore=ignore, extra=extra, **kwargs)

    class _Module:  # the two names torch.load uses of a pickle module
        Unpickler = _Unpickler
        load = staticmethod(lambda file, **kwargs: _Unpickler(file, **kwargs).load())  # legacy-format headers

    return plain(torch.load(path, map_location="cpu", weights_only=False, pickle_module=_Module))

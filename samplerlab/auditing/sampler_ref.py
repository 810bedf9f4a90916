"""Turn a sampler reference into a sampler: a zoo name, ``module:attr``, ``file.py:attr``, or a
library sampler ``deepinv:NAME`` / ``diffusers:NAME`` (:mod:`samplerlab.adapters`).

``attr`` (dotted names allowed) is either a sampler — any callable ``sampler(task, n,
generator)`` — or a factory returning one: a class, or a function whose parameters all have
defaults. Factories receive ``params`` and, when they accept it, ``problem`` (controls such as
the oracle need the exact problem). Every failure is a :class:`SamplerRefError` with a one-line
message.

Example:
    >>> sampler, name = resolve_sampler("dps", params={"zeta": 0.5})
    >>> name, sampler.zeta
    ('dps', 0.5)
    >>> resolve_sampler("math:pi")
    Traceback (most recent call last):
    ...
    samplerlab.errors.SamplerRefError: math:pi: 'pi' is a float, not callable (expected a sampler or a factory)
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

from samplerlab.errors import SamplerRefError

__all__ = ["SamplerRefError", "Resolved", "resolve", "resolve_sampler", "ref_source", "parse_params"]


_LIBRARIES = ("deepinv", "diffusers")  # LIBRARY:NAME refs go to samplerlab.adapters


def parse_params(items) -> dict:
    """``["zeta=0.5", "variant='ode'"]`` → ``{"zeta": 0.5, "variant": "ode"}`` (Python literals, else strings)."""
    import ast

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise SamplerRefError(f"--param: expected NAME=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _load_module(ref: str, target: str):
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise SamplerRefError(f"{ref}: no such file {target!r}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(path.stem, module)
        folder = str(path.resolve().parent)  # the sampler file may import modules that sit beside it
        if folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise SamplerRefError(f"{ref}: importing {target!r} raised {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        raise SamplerRefError(f"{ref}: module {exc.name!r} not found") from exc
    except Exception as exc:
        raise SamplerRefError(f"{ref}: importing {target!r} raised {type(exc).__name__}: {exc}") from exc


def _required(obj) -> list[str]:
    """Names of the required positional parameters of a function (``[]`` for other callables)."""
    if not (inspect.isfunction(obj) or inspect.ismethod(obj)):
        return []
    return [p.name for p in inspect.signature(obj).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _call_factory(ref: str, obj, params: dict, problem):
    kw = {**params, **({"problem": problem} if problem is not None and _accepts(obj, "problem") else {})}
    try:
        out = obj(**kw)
    except Exception as exc:
        raise SamplerRefError(f"{ref}: the factory raised {type(exc).__name__}: {exc}") from exc
    if not callable(out):
        raise SamplerRefError(f"{ref}: the factory returned a {type(out).__name__}, not a callable sampler")
    return out


def _is_factory(obj) -> bool:
    """A class, or a function every parameter of which has a default (or is keyword-only)."""
    if inspect.isclass(obj):
        return True
    return (inspect.isfunction(obj) or inspect.ismethod(obj)) and not _required(obj)


def _builds_with(obj, params: dict) -> bool:
    """``obj`` is a factory callable with ``params`` (and the problem): all defaults, or its
    required arguments all given."""
    required = _required(obj)
    return _is_factory(obj) or bool(params and required and set(required) <= set(params) | {"problem"})


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _zoo(ref: str, problem, params: dict):
    from samplerlab import samplers

    spec = samplers.describe(ref)
    if "problem" in spec.params and "problem" not in params:
        if problem is None:
            raise SamplerRefError(f"{ref}: this control needs the exact problem (give a scenario)")
        params = {**params, "problem": problem}
    try:
        return samplers.get(ref, **params)
    except ValueError as exc:
        raise SamplerRefError(str(exc)) from exc


def _fault(ref: str, problem, params: dict):
    """``fault:NAME`` (``samplerlab.samplers.faults``: exact draws with one injected failure, or ``fault:exact``);
    ``stream`` is its only parameter."""
    from samplerlab.samplers.faults import FAULTS, fault_sampler

    name = ref[len("fault:"):]
    unknown = sorted(set(params) - {"stream"})
    if unknown:
        raise SamplerRefError(f"{ref}: unknown parameter(s) {unknown}, expected stream")
    if problem is None:
        raise SamplerRefError(f"{ref}: a fault is built for its problem; give a scenario")
    try:
        return fault_sampler(name, problem, params.get("stream"))
    except KeyError:
        raise SamplerRefError(f"{ref}: unknown fault, expected one of fault:exact, "
                              + ", ".join(f"fault:{k}" for k in FAULTS)) from None
    except ValueError as exc:
        raise SamplerRefError(f"{ref}: cannot be built for this problem: {exc}") from None


@dataclass(frozen=True)
class Resolved:
    """A resolved reference: the sampler, its label, its parameters with every default the
    factory fills in (``problem`` left out), and where its code came from (``source``: ``kind``,
    a content ``hash`` of the defining file, its ``path`` or the library ``version``)."""

    sampler: object
    name: str
    params: dict
    source: dict


def _defaults(factory, params: dict) -> dict:
    """The factory's keyword defaults overlaid with ``params`` (``problem`` and ``**kw`` left out)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return dict(params)
    out = {p.name: p.default for p in sig.parameters.values()
           if p.default is not p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "problem"}
    return {**out, **{k: v for k, v in params.items() if k != "problem"}}


def ref_source(ref) -> dict:
    """Where a sampler reference's code lives, read without building it: ``kind`` (zoo, fault,
    library, file, module, callable), a content ``hash`` of the defining file (``None`` when none
    can be read), its ``path``, and for a library sampler the library's ``version``. Every edit
    to a user's sampler file changes the hash; zoo and fault samplers are also covered by
    samplerlab's code hash (:func:`samplerlab.core.provenance.code_hash`).

    >>> ref_source("dps")["kind"], ref_source("no/such/file.py:f")["hash"]
    ('zoo', None)
    """
    from samplerlab.core.provenance import file_hash, object_source_hash, text_hash

    def where(kind, digest_path, **extra):
        return {"kind": kind, "hash": digest_path[0], "path": digest_path[1], **extra}

    if callable(ref) and not isinstance(ref, str):
        return where("callable", object_source_hash(ref))
    ref = str(ref)
    library, _, name = ref.partition(":")
    if ref.startswith("fault:"):
        from samplerlab.samplers import faults

        return where("fault", object_source_hash(faults))
    if library in _LIBRARIES and name:
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version(library)
        except PackageNotFoundError:
            release = None
        from samplerlab.adapters import SAMPLER_MODULES

        # the bridge and the module of ready samplers both decide what runs
        files = sorted({Path(__file__).parent.parent / "adapters" / f"{library}.py",
                        Path(__file__).parent.parent
                        / Path(*SAMPLER_MODULES[library].split(".")[1:]).with_suffix(".py")})
        digest = text_hash("".join(file_hash(f) for f in files).encode()) if all(f.is_file() for f in files) else None
        return where("library", (digest, str(files[0])), library=library, version=release)
    if ":" not in ref:
        from samplerlab import samplers

        known = ref in samplers.available()
        return where("zoo", object_source_hash(samplers.describe(ref).factory) if known else (None, None))
    target = ref.rpartition(":")[0]
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        return where("file", (file_hash(path), str(path.resolve())) if path.is_file() else (None, None))
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None)
    return where("module", (file_hash(origin), origin) if origin and Path(origin).is_file() else (None, None))


def resolve_sampler(ref, problem=None, params: dict | None = None):
    """``(sampler, name)`` for a zoo name, ``module:attr``, ``path.py:attr`` or a callable."""
    out = resolve(ref, problem, params)
    return out.sampler, out.name


def resolve(ref, problem=None, params: dict | None = None) -> Resolved:
    """:func:`resolve_sampler` with the resolved parameters and the source's hash (:class:`Resolved`)."""
    from samplerlab.core.provenance import json_safe

    params = dict(params or {})
    if callable(ref) and not isinstance(ref, str):
        label = getattr(ref, "__name__", type(ref).__name__.lower())
        if params:  # a factory given as an object: honour params, as for module:attr references
            if not _builds_with(ref, params):
                raise SamplerRefError(f"{label}: parameters {sorted(params)} given, but it is a sampler, not a factory")
            return Resolved(_call_factory(label, ref, params, problem), label, json_safe(_defaults(ref, params)),
                            ref_source(ref))
        return Resolved(ref, label, {}, ref_source(ref))
    ref = str(ref)
    if ref.startswith("fault:"):  # fault-injection controls of the validation studies
        return Resolved(_fault(ref, problem, params), ref, {"stream": params.get("stream")}, ref_source(ref))
    if ref.partition(":")[0] in _LIBRARIES and ref.partition(":")[2]:  # deepinv:dps, diffusers:dps
        from samplerlab.adapters import resolve as resolve_library
        from samplerlab.adapters import sampler_factory

        sampler, name = resolve_library(ref, problem, params)
        return Resolved(sampler, name, json_safe(_defaults(sampler_factory(ref), params)), ref_source(ref))
    if ":" not in ref and (ref.endswith(".py") or "/" in ref):
        raise SamplerRefError(f"{ref}: a file needs the sampler's name after a colon — did you mean {ref}:NAME "
                              "(NAME the function, class or factory in that file)?")
    if ":" not in ref:
        from samplerlab import samplers

        if ref not in samplers.available():
            raise SamplerRefError(f"{ref}: unknown sampler, expected one of {', '.join(samplers.available())} "
                                  "or module:attr / file.py:attr")
        spec = samplers.describe(ref)
        resolved = {k: v[0] for k, v in spec.params.items() if k != "problem"}
        resolved.update({k: v for k, v in params.items() if k != "problem"})
        return Resolved(_zoo(ref, problem, params), ref, json_safe(resolved), ref_source(ref))
    target, _, attr = ref.rpartition(":")
    if not target or not attr:
        raise SamplerRefError(f"{ref}: expected module:attr or file.py:attr")
    obj = _load_module(ref, target)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SamplerRefError(f"{ref}: {target!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SamplerRefError(f"{ref}: {attr!r} is a {type(obj).__name__}, not callable "
                              "(expected a sampler or a factory)")
    resolved = {}
    if _builds_with(obj, params):
        resolved = _defaults(obj, params)
        obj = _call_factory(ref, obj, params, problem)
    elif params:
        raise SamplerRefError(f"{ref}: parameters {sorted(params)} given, but {attr!r} is a sampler, not a factory")
    elif _required(obj) and not {"task", "n"} <= set(_required(obj)):
        raise SamplerRefError(f"{ref}: {attr!r} needs the argument(s) {_required(obj)}; pass them with --param "
                              "NAME=VALUE (or params= in pytest)")
    return Resolved(obj, attr.split(".")[-1], json_safe(resolved), ref_source(ref))

"""What a model version takes and returns: names, datatypes and dimensions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DYNAMIC", "Signature", "TensorSpec"]

DYNAMIC = -1
"""A dimension of any size, such as the batch dimension."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One input or output tensor as declared by the model (or by preprocessing)."""

    name: str
    datatype: str
    """Protocol datatype, e.g. ``FP32``."""
    shape: tuple[int, ...]
    """Dimensions, :data:`DYNAMIC` (-1) where any size is accepted."""
    dim_names: tuple[str, ...] = ()
    """Per dimension, the graph's symbolic name ("" for none): dimensions of one name, in any of the
    inputs, must have one size (``[batch, n]`` and ``[batch, n]`` take equal ``n``)."""
    nonempty_axes: tuple[int, ...] = ()
    """Dimensions that may not be 0 although dynamic (those that preprocessing resizes)."""

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass(frozen=True, slots=True)
class Signature:
    """A model's inputs and outputs, in graph order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def batched(self) -> bool:
        """Whether requests may be concatenated along the first dimension.

        True when every input and output has a dynamic first dimension, which
        is how an ONNX graph says it takes a batch (Triton's ``max_batch_size``
        > 0 means the same).
        """
        tensors = self.inputs + self.outputs
        return bool(tensors) and all(t.rank >= 1 and t.shape[0] == DYNAMIC for t in tensors)

    def input(self, name: str) -> TensorSpec:
        """The input called ``name``; KeyError when there is none."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def replace_inputs(self, replacements: Iterable[TensorSpec]) -> Signature:
        """This signature with the inputs of the same names replaced."""
        by_name = {spec.name: spec for spec in replacements}
        return Signature(tuple(by_name.get(s.name, s) for s in self.inputs), self.outputs)

"""One model instance as the batcher drives it: preprocessing, then its session.

Preprocessing runs with the session's array module, so on CUDA the decoded
request batch is uploaded once (as its compact client type, usually uint8)
and everything after happens on the device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from services.inference.execution import Outputs
from services.inference.preprocessing import Preprocessor, PreprocessSpec
from services.inference.sessions import ModelSession
from services.inference.signature import DYNAMIC, Signature
from services.inference.tensors import DATATYPES

__all__ = ["Pipeline", "build_preprocessors", "dummy_feeds"]


class Pipeline:
    """One instance as the batcher drives it: preprocessing, then the session."""

    def __init__(self, session: ModelSession, preprocessors: Mapping[str, Preprocessor]) -> None:
        self.session = session
        self._preprocessors = preprocessors

    def prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        session = self.session
        session.activate()
        if not self._preprocessors:
            return feeds
        prepared: dict[str, Any] = dict(feeds)
        for name, preprocessor in self._preprocessors.items():
            prepared[name] = preprocessor(session.xp, session.to_device(feeds[name]))
        return prepared

    def infer(self, feeds: dict[str, Any]) -> Outputs:
        return self.session.run(feeds)

    def run_once(self, feeds: dict[str, np.ndarray]) -> Outputs:
        """Prepare and run one batch directly (warm-up), outside any batcher."""
        return self.infer(self.prepare(feeds))


def build_preprocessors(signature: Signature, specs: Sequence[PreprocessSpec]) -> dict[str, Preprocessor]:
    """One checked :class:`Preprocessor` per preprocessed input; ValueError names what is wrong."""
    preprocessors: dict[str, Preprocessor] = {}
    for spec in specs:
        if spec.input in preprocessors:
            raise ValueError(f"input {spec.input!r} has more than one preprocessing step list")
        try:
            model_input = signature.input(spec.input)
        except KeyError:
            raise ValueError(
                f"preprocessing names input {spec.input!r}, which the model does not have"
            ) from None
        preprocessors[spec.input] = Preprocessor(spec, model_input)
    return preprocessors


def dummy_feeds(signature: Signature) -> dict[str, np.ndarray]:
    """Zeros (empty strings) for every input, dynamic dimensions 1: a warm-up request."""
    feeds: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        shape = tuple(1 if dim == DYNAMIC else dim for dim in spec.shape)
        if spec.datatype == "BYTES":
            feeds[spec.name] = np.full(shape, "", dtype=object)
        else:
            feeds[spec.name] = np.zeros(shape, dtype=DATATYPES[spec.datatype].dtype)
    return feeds

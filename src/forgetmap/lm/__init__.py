"""Language models: load, encode examples, score them and fine-tune (full or LoRA).

Heavy libraries (torch, transformers, peft) are imported inside the functions, so importing this
package is cheap.
"""

from forgetmap.lm._encode import EncodedExample, encode_examples
from forgetmap.lm._load import BUNDLED_IDS, load_model
from forgetmap.lm._loaded import LoadedModel
from forgetmap.lm._score import score_nll

__all__ = [
    "BUNDLED_IDS",
    "EncodedExample",
    "LoadedModel",
    "encode_examples",
    "load_model",
    "score_nll",
]

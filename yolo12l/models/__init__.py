"""Networks and blocks."""
from .network import DetectionNetwork, build_model, load_model_yaml
from .registry import BlockSpec, get_block, register_block, registered_blocks, unregister_block

__all__ = ["BlockSpec", "DetectionNetwork", "build_model", "get_block",
           "load_model_yaml", "register_block", "registered_blocks", "unregister_block"]

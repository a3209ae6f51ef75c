"""Networks and blocks."""
from .convert import convert_ultralytics_state_dict
from .network import DetectionNetwork, build_model, load_model_yaml
from .registry import BlockSpec, get_block, register_block, registered_blocks, unregister_block

__all__ = ["BlockSpec", "DetectionNetwork", "build_model", "convert_ultralytics_state_dict", "get_block",
           "load_model_yaml", "register_block", "registered_blocks", "unregister_block"]

"""Built-in blocks; importing this package registers them with the YAML parser."""
from .area_attention import A2C2f, AAttn, ABlock
from .conv import Concat, Conv, DWConv
from .csp import C2f, C3, C3k, C3k2, Bottleneck
from .detect import DFL, Detect

__all__ = ["A2C2f", "AAttn", "ABlock", "Bottleneck", "C2f", "C3", "C3k", "C3k2", "Concat", "Conv", "DFL", "DWConv",
           "Detect"]

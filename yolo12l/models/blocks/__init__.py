"""Built-in blocks; importing this package registers them with the YAML parser."""
from .area_attention import A2C2f, AAttn, ABlock
from .conv import Concat, Conv, DWConv
from .csp import C2f, C3, C3k, C3k2, Bottleneck
from .detect import DFL, Detect
from .turbo import A2C2f_Turbo, AAttnTurbo, ABlockTurbo

__all__ = ["A2C2f", "A2C2f_Turbo", "AAttn", "AAttnTurbo", "ABlock", "ABlockTurbo", "Bottleneck", "C2f", "C3", "C3k",
           "C3k2", "Concat", "Conv", "DFL", "DWConv", "Detect"]

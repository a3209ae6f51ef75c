"""Built-in blocks; importing this package registers them with the YAML parser."""
from .area_attention import A2C2f, AAttn, ABlock
from .conv import Concat, Conv, DWConv
from .csp import C2f, C3, C3k, C3k2, Bottleneck
from .detect import DFL, Detect
from .dtab import DTAB, A2C2f_DTAB, C3k2_DTAB, DilatedFeedForward, DilatedMDTA, DilatedOCA
from .halo_attention import A2C2f_Halo, C3k2_Halo, HaloAttention, HaloBlock, HaloConv
from .layer_norm import LayerNorm2d
from .local_window import LocalWindowAttention
from .turbo import A2C2f_Turbo, AAttnTurbo, ABlockTurbo

__all__ = ["A2C2f", "A2C2f_DTAB", "A2C2f_Halo", "A2C2f_Turbo", "AAttn", "AAttnTurbo", "ABlock", "ABlockTurbo",
           "Bottleneck", "C2f", "C3", "C3k", "C3k2", "C3k2_DTAB", "C3k2_Halo", "Concat", "Conv", "DFL", "DTAB",
           "DWConv", "Detect", "DilatedFeedForward", "DilatedMDTA", "DilatedOCA", "HaloAttention", "HaloBlock",
           "HaloConv", "LayerNorm2d", "LocalWindowAttention"]

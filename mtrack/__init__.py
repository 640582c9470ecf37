"""mtrack: detect intercellular mitochondrial transfer in live-cell microscopy."""

__version__ = "0.1.0"

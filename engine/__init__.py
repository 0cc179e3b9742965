"""imdec engine: single-image 3D reconstruction with an implicit occupancy decoder.

Plain Python + PyTorch; never imports bpy. Run ``python -m engine --help`` for the command line.
"""

__version__ = "0.1.0"

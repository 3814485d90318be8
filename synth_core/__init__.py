"""Pure-numpy core: body model, (later) scene plans, cameras, labels and the dataset format.

Imports only numpy and the standard library, so any process (CLI, Blender worker,
trainer) can use it without bpy or torch.
"""

__version__ = "0.1.0"

"""Rendering many clips: which clips a process owns (``workplan``), the Blender worker
processes that render them (``workers``) and the executors that run those workers on one
machine, a SLURM array or a Ray cluster.

Nothing here imports bpy: workers are separate processes running ``blender_addon.worker``.
"""

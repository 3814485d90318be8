"""PyTorch trainers over rendered folders (no bpy: they also run on GPU machines without Blender).

- ``trainers.data``: SURREAL's person crops and augmentation, targets (15 classes, 19 depth
  bins, heatmaps), ``FrameDataset`` / ``ClipDataset`` over clips, ``RealImages``.
- ``trainers.models``: the stacked hourglass and its stacked cross-entropy.
- ``trainers.metrics``: SURREAL's IoU / pixel accuracy, depth RMSE / st-RMSE, PCK.
- ``trainers.train``: the loop behind `synth train`; ``evaluate`` / ``predict`` behind
  `synth eval` / `synth predict`; ``runs`` is the run folder.
"""

"""3D human pose from rendered data (issue 13): joint sets mapped from SMPL's 24, pose metrics,
Yang et al.'s geometric descriptor, 2D detector keypoint files, skeleton plots and the three
papers' recipes (Chen et al. 2016, Yang et al. 2018, Doersch & Zisserman 2019).

Kept free of imports: each module is imported where it is used.
"""

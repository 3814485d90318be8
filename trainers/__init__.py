"""PyTorch trainers over rendered folders (segmentation/depth hourglass nets, 3D pose nets).

Scaffold: the datasets, models and training loops arrive with their issues.
"""

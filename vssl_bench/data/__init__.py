"""Video reading, clip samplers, transforms, datasets and the embedded synthetic dataset."""

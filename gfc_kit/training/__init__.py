"""Training: the three-stage GAN trainer, checkpoints, batches, progress."""
